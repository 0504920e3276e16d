"""Reductions along named dims: ``SumReduce`` and its adjoint ``Broadcast``."""

from ..core.base import LinearOperator, swapped
from ..core.basic import Identity, Scalar
from ..dims import Dim, as_size, default_names, fmt_names, prod
from ..errors import ShapeError


def _reduced(size, ioshape, dims, who):
    size = as_size(size)
    names = default_names(len(size)) if ioshape is None else Dim(ioshape)
    dims = names if dims is None else Dim(dims)
    unknown = [d for d in dims if d not in names]
    if unknown:
        raise ShapeError(f"{who}: dims {unknown} are not among the named dims {fmt_names(names, size)}")
    keep = tuple(k for k, n in enumerate(names) if n not in dims)
    return size, names, tuple(k for k in range(len(names)) if k not in keep), keep


class SumReduce(LinearOperator):
    """Sum over named dims ``dims`` (default: all): ``y = x.sum(dims)``; adjoint ``Broadcast``.

    The output keeps the other names in order. O(n) apply.

    Parameters
    ----------
    size : int or tuple of int
        Input sizes.
    ioshape : str or tuple of str, optional
        Input dim names; positional names ``d0, d1, …`` when None.
    dims : str or tuple of str, optional
        The summed dims, names of ``ioshape``; all dims when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ShapeError
        ``dims`` names a dim not in ``ioshape``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> S = ll.SumReduce((2, 3), "CN", dims="C")
    >>> S(torch.ones(2, 3)).tolist(), S.oshape
    ([2.0, 2.0, 2.0], ('N',))

    Dense equivalent: ``torch.ones(1, 2).kron(torch.eye(3))`` (for this example).
    """

    def __init__(self, size, ioshape=None, dims=None, dtype=None, device=None):
        size, names, axes, keep = _reduced(size, ioshape, dims, "SumReduce")
        super().__init__(
            ishape=names,
            oshape=tuple(names[k] for k in keep),
            isize=size,
            osize=tuple(size[k] for k in keep),
            dtype=dtype,
            device=device,
        )
        self.axes = axes

    def _apply(self, x):
        n = len(self.isize)
        return x.sum(tuple(a - n for a in self.axes)) if self.axes else x

    def _apply_adjoint(self, y):
        return _expand(y, self.isize, self.axes)

    def _adjoint(self):
        out = Broadcast(self.isize, self.ishape, tuple(self.ishape[a] for a in self.axes), self.dtype, self.device)
        return swapped(out, self)

    def _conj(self):
        return self

    def _renamed(self, ishape, oshape):
        keep = [k for k in range(len(ishape)) if k not in self.axes]
        if tuple(ishape[k] for k in keep) != tuple(oshape):
            return LinearOperator._renamed(self, ishape, oshape)  # other names: metadata only
        return SumReduce(self.isize, ishape, tuple(ishape[a] for a in self.axes), self.dtype, self.device)

    def _split(self, tile):
        # a block of a sum over dims is the sum over the block's sub-ranges
        size = [len(range(*tile[n].indices(s))) if n in tile else s for n, s in zip(self.ishape, self.isize)]
        return SumReduce(size, self.ishape, tuple(self.ishape[a] for a in self.axes), self.dtype, self.device)

    def _repr_extra(self):
        return "sum over " + " ".join(self.ishape[a] for a in self.axes)


def _expand(y, size, axes):
    nb = y.dim() - (len(size) - len(axes))
    shape = [1 if k in axes else s for k, s in enumerate(size)]
    return y.reshape(*y.shape[:nb], *shape).expand(*y.shape[:nb], *size)


class Broadcast(LinearOperator):
    """Repeat along new named dims: ``y = x`` broadcast to ``size``; adjoint ``SumReduce``.

    ``size``/``ioshape`` are the output's; ``dims`` (default: all) are the repeated dims,
    absent from the input. ``Broadcast.N`` is ``Scalar(prod of repeats)``. The output is
    an expanded view (no copy).

    Parameters
    ----------
    size : int or tuple of int
        Output sizes.
    ioshape : str or tuple of str, optional
        Output dim names; positional names ``d0, d1, …`` when None.
    dims : str or tuple of str, optional
        The repeated dims, names of ``ioshape`` (absent from the input); all dims when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ShapeError
        ``dims`` names a dim not in ``ioshape``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> B = ll.Broadcast((2, 3), "CN", dims="C")
    >>> B(torch.arange(3.0)).tolist(), B.ishape
    ([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], ('N',))

    Dense equivalent: ``torch.ones(2, 1).kron(torch.eye(3))`` (for this example).
    """

    def __init__(self, size, ioshape=None, dims=None, dtype=None, device=None):
        size, names, axes, keep = _reduced(size, ioshape, dims, "Broadcast")
        super().__init__(
            ishape=tuple(names[k] for k in keep),
            oshape=names,
            isize=tuple(size[k] for k in keep),
            osize=size,
            dtype=dtype,
            device=device,
        )
        self.axes = axes

    def _apply(self, x):
        return _expand(x, self.osize, self.axes)

    def _apply_adjoint(self, y):
        n = len(self.osize)
        return y.sum(tuple(a - n for a in self.axes)) if self.axes else y

    def _adjoint(self):
        out = SumReduce(self.osize, self.oshape, tuple(self.oshape[a] for a in self.axes), self.dtype, self.device)
        return swapped(out, self)

    def _conj(self):
        return self

    def _normal(self):
        n = prod(self.osize[a] for a in self.axes)  # Bᴴ B = (number of copies) I
        if n == 1:
            return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)
        return Scalar(float(n), self.isize, self.ishape, dtype=self.dtype, device=self.device)

    def _renamed(self, ishape, oshape):
        keep = [k for k in range(len(oshape)) if k not in self.axes]
        if tuple(oshape[k] for k in keep) != tuple(ishape):
            return LinearOperator._renamed(self, ishape, oshape)  # other names: metadata only
        return Broadcast(self.osize, oshape, tuple(oshape[a] for a in self.axes), self.dtype, self.device)

    def _split(self, tile):
        size = [len(range(*tile[n].indices(s))) if n in tile else s for n, s in zip(self.oshape, self.osize)]
        return Broadcast(size, self.oshape, tuple(self.oshape[a] for a in self.axes), self.dtype, self.device)

    def _repr_extra(self):
        return "repeat over " + " ".join(self.oshape[a] for a in self.axes)
