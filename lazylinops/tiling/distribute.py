"""``distribute`` and ``materialize``: tiles of an operator placed on devices (torchlinops'
``create_batched_linop``), with every shared weight moved once per device."""

import numpy as np

from ..core.base import LinearOperator
from ..dtypes import as_device
from ..operators.device import ToDevice
from .spec import BatchSpec
from .split import split
from .tiled import Tiled


class WeightMover:
    """Moves operators to devices, each weight (or identical view of one) once per device.

    Tiles cut from one operator hold views of its weights, and operators often share a
    tensor; the memo key is the viewed region (storage, offset, shape, strides, dtype) and
    the target device, so the moved tensor is reused — shared storage stays shared.
    ``moves`` counts the tensors actually moved.
    """

    def __init__(self):
        self.memo = {}
        self.moves = 0

    def tensor(self, w, device):
        if w.device == device:
            return w
        if w.device.type == "meta":
            key = (id(w), device)
        else:
            key = (
                w.untyped_storage().data_ptr(),
                w.storage_offset(),
                tuple(w.shape),
                tuple(w.stride()),
                w.dtype,
                device,
            )
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = (w, w.to(device))  # the source is kept alive so ids stay unique
            self.moves += 1
        return hit[1]

    def move(self, op, device):
        """``op`` with its weights and children on ``device`` (memoised)."""
        if (
            op.device == device
            and not any(w.device != device for w in op.weights().values())
            and all(c.device == device for c in op.children())
        ):
            return op
        if type(op)._to is not LinearOperator._to:
            return op._to(device)  # the operator moves itself (it knows something _map does not)
        return op._map(lambda k, w: self.tensor(w, device), lambda c: self.move(c, device), _device=device)


def _as_specs(specs):
    if isinstance(specs, BatchSpec):
        return [specs]
    if isinstance(specs, (list, tuple)) and specs and all(isinstance(s, BatchSpec) for s in specs):
        return list(specs)
    raise TypeError(
        f"distribute: specs must be an ll.BatchSpec or a non-empty list of them, got {specs!r}; "
        "e.g. ll.distribute(A, ll.BatchSpec({'C': 4}, device_matrix=['cuda:0', 'cuda:1']))"
    )


def distribute(A, specs, *, mover=None):
    """``A`` as tiles on devices: equal to ``A``, joined like ``Concat``/``Sum`` with ``ToDevice`` moves.

    ``specs`` is one ``BatchSpec`` or a list applied recursively (the tiles of the first
    spec are tiled again by the next, on their own device). Tiles on another device than
    the spec's base device are entered and left through ``ToDevice``; a weight shared by
    several tiles on one device is moved there once. ``.H`` and ``.N`` of the result stay
    distributed; apply runs tiles concurrently on CUDA devices.

    Parameters
    ----------
    A : LinearOperator
        The operator to tile.
    specs : BatchSpec or list of BatchSpec
        How to cut and place the tiles; a list tiles each tile of one spec again by the next.
    mover : WeightMover, optional
        The memo of moved weights, to share moved tensors across calls; a fresh one when None.

    Returns
    -------
    Tiled
        Equal to ``A`` (same named shapes), on the first spec's base device.

    Raises
    ------
    TypeError
        ``A`` is not an operator or ``specs`` is not a BatchSpec or a non-empty list of them.
    ShapeError
        ``A`` cannot be split as asked (see ``ll.split``).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.rand(4, 3), "CN")
    >>> T = ll.distribute(A, ll.BatchSpec({"C": 1}, device_matrix=["cpu", "meta"]))
    >>> T.devices
    (device(type='cpu'), device(type='meta'), device(type='cpu'), device(type='meta'))

    Equivalent to torchlinops' ``create_batched_linop``.
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"distribute: expected a LinearOperator, got {type(A).__name__}")
    specs = _as_specs(specs)
    return _distribute(A, specs, A.device, mover if mover is not None else WeightMover())


def _distribute(A, specs, base, mover):
    spec, rest = specs[0], specs[1:]
    base = spec.base_device if spec.base_device is not None else as_device(base)
    tiles, ins, outs = split(A, spec.batch_sizes)
    devices = spec.devices(tiles.shape, base)
    parts, iregions, oregions, moves_in, moves_out = [], [], [], [], []
    for idx, T in _items(tiles):
        dev = devices[idx]
        # tile first cut further on its own device, then its (remaining) weights moved there once
        T = _distribute(T, rest, dev, mover) if rest else mover.move(T, dev)
        parts.append(T)
        iregions.append(region(ins[idx], A.isize))
        oregions.append(region(outs[idx], A.osize))
        moves_in.append(None if dev == base else _to_device(base, dev, T.isize, T.ishape))
        moves_out.append(None if dev == base else _to_device(dev, base, T.osize, T.oshape))
    return Tiled(
        parts,
        iregions,
        oregions,
        ishape=A.ishape,
        oshape=A.oshape,
        isize=A.isize,
        osize=A.osize,
        device=base,
        moves_in=moves_in,
        moves_out=moves_out,
        tags=A._tags,  # structural only: value-derived tags of A would go stale in a copy
    )


def _items(arr):
    for idx in np.ndindex(arr.shape):
        yield idx, arr[idx]


def region(slices, size):
    """``(start, stop)`` per dim of a tile's slices (the block it covers)."""
    return tuple(s.indices(n)[:2] for s, n in zip(slices, size))


def _to_device(idevice, odevice, size, names):
    return ToDevice(idevice, odevice, size, names)


def materialize(A, specs):
    """The dense matrix of ``A``, built tile by tile on the tiles' devices (``specs`` as in
    ``distribute``) and gathered on the base device: no device builds a dense block larger
    than a tile, except the result itself.

    Parameters
    ----------
    A : LinearOperator
        The operator to densify.
    specs : BatchSpec or list of BatchSpec
        How to cut and place the tiles, as in ``distribute``.

    Returns
    -------
    torch.Tensor
        The ``(M, N)`` dense matrix of ``A`` on the base device.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.randn(6, 4), ishape="N", oshape="M")
    >>> torch.allclose(ll.materialize(A, ll.BatchSpec({"M": 2, "N": 2})), A.to_dense())
    True
    """
    return distribute(A, specs).to_dense()
