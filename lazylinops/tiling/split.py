"""``split``: cut an operator into a grid of tiles along named dims (torchlinops' ``split_linop``).

A dim of both the input and the output is cut on both sides (block-diagonal tiles), a dim
of one side only cuts rows or columns, and a dim inside the operator only (between two
factors of a chain) is a reduced dim whose tiles add up. Tiles are views: they share the
operator's weights.
"""

import math

import numpy as np

from ..core.base import LinearOperator
from ..core.tiles import AMBIGUOUS, named_sizes
from ..dims import Dim, fmt_names
from ..errors import ShapeError


def check_batch_sizes(A, batch_sizes, what="split"):
    """Validate ``{dim: positive int}`` against ``A``; returns ``(names, sizes)`` in order."""
    if not isinstance(batch_sizes, dict) or not batch_sizes:
        raise TypeError(
            f"{what}: batch_sizes must be a non-empty dict {{dim name: tile size}}, e.g. {{'C': 4}}; "
            f"got {batch_sizes!r}"
        )
    available = named_sizes(A)
    names, sizes = [], []
    for key, bs in batch_sizes.items():
        dims = Dim(key) if isinstance(key, str) else None
        if dims is None or len(dims) != 1:
            raise ShapeError(f"{what}: each key of batch_sizes must be one dim name, got {key!r}")
        d = dims[0]
        if isinstance(bs, bool) or not isinstance(bs, int) or bs <= 0:
            raise ValueError(f"{what}: the tile size of {d!r} must be a positive int, got {bs!r}")
        if d not in available:
            raise ShapeError(
                f"{what}: {type(A).__name__} {fmt_names(A.oshape, A.osize)}←{fmt_names(A.ishape, A.isize)} "
                f"has no dim {d!r}; it can be split along {sorted(available)}"
            )
        if available[d] == AMBIGUOUS:
            raise ShapeError(f"{what}: dim {d!r} has different sizes inside {type(A).__name__}; rename one of them")
        names.append(d)
        sizes.append(available[d])
    return names, [(n, bs) for n, bs in zip(sizes, batch_sizes.values())]


def tile_slices(size, bs):
    """``[slice(0, bs), slice(bs, 2bs), …]`` covering ``range(size)``."""
    return [slice(a, min(a + bs, size)) for a in range(0, size, bs)] or [slice(0, 0)]


def grid_shape(A, batch_sizes):
    """The tile grid's shape: ``ceil(size / batch size)`` per split dim, in ``batch_sizes`` order."""
    _, sizes = check_batch_sizes(A, batch_sizes)
    return tuple(max(math.ceil(n / bs), 1) for n, bs in sizes)


def split(A, batch_sizes):
    """Cut ``A`` into tiles of at most ``batch_sizes[d]`` along each named dim ``d``.

    Returns ``(tiles, input_slices, output_slices)``: numpy object arrays of the grid's
    shape (one axis per key of ``batch_sizes``, in order). ``input_slices[i]`` is a list
    with one ``slice`` per input dim of ``A`` (``slice(None)`` where unsplit), so
    ``tiles[i](x[..., *input_slices[i]])`` is tile ``i``'s contribution to
    ``y[..., *output_slices[i]]``; contributions to the same output slices add up (reduced
    dims). Tiles share ``A``'s weights (views). O(number of tiles) small operators.

    Parameters
    ----------
    A : LinearOperator
        The operator to cut.
    batch_sizes : dict
        ``{dim name: tile size}``: each key one dim name of ``A`` (input or output), each size a
        positive int.

    Returns
    -------
    tiles : numpy.ndarray of LinearOperator
        The tiles, one grid axis per key of ``batch_sizes``.
    input_slices, output_slices : numpy.ndarray of list of slice
        For each tile, one ``slice`` per input (output) dim of ``A``.

    Raises
    ------
    TypeError
        ``A`` is not an operator or ``batch_sizes`` is not a non-empty dict.
    ValueError
        A tile size is not a positive int.
    ShapeError
        A key is not a dim of ``A``, or ``A`` cannot be split along it.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.arange(1.0, 7.0).reshape(3, 2), "CN")
    >>> tiles, ins, outs = ll.split(A, {"C": 2})
    >>> tiles.shape, [t.isize for t in tiles], ins[1]
    ((2,), [torch.Size([2, 2]), torch.Size([1, 2])], [slice(2, 3, None), slice(None, None, None)])

    Equivalent to torchlinops' ``split_linop``.
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"split: expected a LinearOperator, got {type(A).__name__}")
    names, sizes = check_batch_sizes(A, batch_sizes)
    per_dim = [tile_slices(n, bs) for n, bs in sizes]
    shape = tuple(len(p) for p in per_dim)
    tiles, ins, outs = (np.empty(shape, dtype=object) for _ in range(3))
    for idx in np.ndindex(shape):
        tile = {d: per_dim[k][i] for k, (d, i) in enumerate(zip(names, idx))}
        try:
            T = A._split(tile)
        except ShapeError as exc:
            raise ShapeError(f"split along {names}: {exc}") from None
        _check_tile(A, T, tile)
        tiles[idx] = T
        ins[idx] = [tile.get(d, slice(None)) for d in A.ishape]
        outs[idx] = [tile.get(d, slice(None)) for d in A.oshape]
    return tiles, ins, outs


def _check_tile(A, T, tile):
    """A tile must have the block's sizes (a cheap guard against a wrong ``_split``)."""
    want_i = tuple(tile[d].stop - tile[d].start if d in tile else s for d, s in zip(A.ishape, A.isize))
    want_o = tuple(tile[d].stop - tile[d].start if d in tile else s for d, s in zip(A.oshape, A.osize))
    if tuple(T.isize) != want_i or tuple(T.osize) != want_o:
        raise RuntimeError(
            f"lazylinops bug: {type(A).__name__}._split({tile}) returned a {type(T).__name__} of sizes "
            f"{tuple(T.osize)}←{tuple(T.isize)}, expected {want_o}←{want_i}"
        )
