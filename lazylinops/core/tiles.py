"""Helpers the operators' ``_split(tile)`` hooks share: cutting sizes and weights by name.

A *tile* is ``{dim_name: slice}`` with step-1 slices already clipped to the dim's size
(see ``LinearOperator._split``). Every helper here is O(number of dims): slicing a weight
returns a view, so a tile shares storage with the operator it was cut from.

Examples
--------
>>> import torch
>>> from lazylinops.core.tiles import cut_size
>>> cut_size(torch.Size([4, 6]), ("H", "W"), {"W": slice(2, 5)})
torch.Size([4, 3])
"""

import torch

from ..dims import fmt_names, prod
from ..errors import ShapeError


def relevant(op, tile):
    """The part of ``tile`` naming dims of ``op``'s input or output."""
    return {d: s for d, s in tile.items() if d in op.ishape or d in op.oshape}


def length(s):
    """Length of a clipped step-1 slice."""
    return s.stop - s.start


def cut_size(size, names, tile):
    """``size`` with each dim named in ``tile`` shortened to its slice."""
    return torch.Size(length(tile[n]) if n in tile else s for n, s in zip(names, size))


def elementwise_positions(op, tile):
    """``{position: slice}`` for an operator acting position by position (I, cI, diag, FFT …).

    Such an operator is block-diagonal along a dim only when the dim has the same name at
    the same position of its input and output; any other use of a name is refused.
    """
    out = {}
    for d, s in tile.items():
        pi = op.ishape.index(d) if d in op.ishape else None
        po = op.oshape.index(d) if d in op.oshape else None
        if pi is None or po is None or pi != po:
            raise ShapeError(
                f"{type(op).__name__} {fmt_names(op.oshape, op.osize)}←{fmt_names(op.ishape, op.isize)} "
                f"cannot be split along {d!r}: it acts position by position, so a split dim must "
                "name the same position of its input and output; rename the dims or split another one"
            )
        out[pi] = s
    return out


def resized(op, isize, osize, keep_tags=True, **state):
    """A copy of ``op`` (same class, names, dtype, device) with new sizes and replaced state."""
    meta = {"_isize": torch.Size(isize), "_osize": torch.Size(osize), "_shape": torch.Size((prod(osize), prod(isize)))}
    if not keep_tags:
        meta["_tags"] = ()
    return op._map(lambda k, w: w, lambda c: c, **meta, **state)


def slice_weight(weight, positions):
    """``weight[...]`` sliced at ``{weight_dim: slice}`` (a view)."""
    if not positions:
        return weight
    index = [slice(None)] * weight.dim()
    for j, s in positions.items():
        index[j] = s
    return weight[tuple(index)]


def broadcast_positions(weight, size, positions):
    """Map ``{dim position: slice}`` of ``size`` to the weight's dims (trailing-aligned
    broadcasting); broadcast (missing or size-1) weight dims are left whole."""
    offset = len(size) - weight.dim()
    out = {}
    for p, s in positions.items():
        j = p - offset
        if j >= 0 and weight.shape[j] != 1:
            out[j] = s
    return out


AMBIGUOUS = -1  # a name used for dims of different sizes inside one operator


def named_sizes(op):
    """``{name: size}`` of every dim ``op`` can be split along.

    Its own input and output dims, plus — through composites that reduce internal dims
    (classes with ``_split_internal = True``: Chain, Sum, Adjoint …) — the dims inside them.
    A name with two different sizes maps to ``AMBIGUOUS``.
    """
    own, inner = {}, {}
    for names, size in ((op.ishape, op.isize), (op.oshape, op.osize)):
        for n, s in zip(names, size):
            own[n] = s if own.get(n, s) == s else AMBIGUOUS
    if getattr(type(op), "_split_internal", False):
        for child in op.children():
            for n, s in named_sizes(child).items():
                if n not in own:
                    inner[n] = s if inner.get(n, s) == s else AMBIGUOUS
    return {**inner, **own}


def chain_tiles(ops, tile):
    """Per-factor sub-tiles of a chain ``ops[0] @ … @ ops[-1]`` (same order as ``ops``).

    A name must label one run of consecutive stages of the chain: each factor inside the
    run carries it on both sides (elementwise), the factor where the run starts slices its
    rows, the one where it ends its columns; a run strictly inside the chain is a reduced
    dim (Σₛ A[:, s] B[s, :] = A B). A name met only inside one factor is passed to it.
    """
    apps = list(reversed(ops))  # application order
    levels = [apps[0].ishape] + [op.oshape for op in apps]
    subs = [{} for _ in apps]
    for d, s in tile.items():
        runs = [j for j, names in enumerate(levels) if d in names]
        if runs:
            if runs != list(range(runs[0], runs[-1] + 1)):
                raise ShapeError(
                    f"Chain cannot be split along {d!r}: the name labels different dims at separate stages "
                    f"of the chain (stages {runs}); rename one of them"
                )
            for j in range(len(apps)):
                if j in runs or j + 1 in runs:
                    subs[j][d] = s
        else:
            owners = [j for j, op in enumerate(apps) if d in named_sizes(op)]
            if len(owners) > 1:
                raise ShapeError(
                    f"Chain cannot be split along {d!r}: several factors use the name internally, and "
                    "splitting them together is not their product; rename or split another dim"
                )
            for j in owners:
                subs[j][d] = s
    return list(reversed(subs))


def sum_tile(op, terms, tile):
    """The tile every term of a sum gets; a reduced (internal) dim must be in every term."""
    for d in tile:
        if d in op.ishape or d in op.oshape:
            continue
        having = [t for t in terms if d in named_sizes(t)]
        if having and len(having) != len(terms):
            raise ShapeError(
                f"Sum cannot be split along internal dim {d!r}: only {len(having)} of its {len(terms)} terms "
                "have it, so the other terms would be counted once per tile; split another dim"
            )
    return tile
