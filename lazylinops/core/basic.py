"""Basic operators: ``Identity``, ``Zero``, ``Scalar``, ``Reshape``."""

import math

import torch

from ..dims import as_size
from ..display import fmt_value
from ..dtypes import as_device, complex_dtype
from ..errors import ShapeError
from .base import LinearOperator, same_names, swapped
from .tiles import cut_size, elementwise_positions, relevant, resized


def diagonal_slogdet(op):
    """``(sign, log|det|)`` of an operator with a structural ``_diagonal()`` and no off-diagonal entries."""
    d = op._diagonal().to(op.dtype)
    sign = (d / d.abs()).prod() if op.dtype.is_complex else torch.sign(d).prod()
    return sign, d.abs().log().sum()  # det D = Π dᵢ


def _scaled_identity_block(op, tile):
    """The block of ``c I`` for ``tile``: ``c I`` on the cut size (elementwise dims only)."""
    tile = relevant(op, tile)
    if not tile:
        return op
    elementwise_positions(op, tile)
    size = cut_size(op.isize, op.ishape, tile)
    return resized(op, size, size)


class Identity(LinearOperator):
    """The identity ``I x = x`` on a named shape.

    Weightless: computes in the promoted dtype of its input. O(1) apply (returns the input).
    Tagged hermitian, positive definite and unitary.

    Parameters
    ----------
    size : int or tuple of int
        The named shape's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of input and output (``"HW"`` or ``("H", "W")``); positional names
        ``d0, d1, …`` when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> I = ll.Identity((2, 3), "HW")
    >>> I(torch.ones(2, 3)).shape, I.shape
    (torch.Size([2, 3]), torch.Size([6, 6]))

    Dense equivalent: ``torch.eye(6)``.
    """

    def __init__(self, size, ioshape=None, dtype=None, device=None):
        super().__init__(
            ishape=ioshape,
            oshape=ioshape,
            isize=size,
            osize=size,
            dtype=dtype,
            device=device,
            tags=("hermitian", "pd", "unitary"),
        )

    def _apply(self, x):
        return x

    _apply_adjoint = _apply

    def _adjoint(self):
        return swapped(self, self)  # Iᴴ = I (a renamed I maps its output names back to its input names)

    def _conj(self):
        return self

    def _normal(self):
        return (
            self
            if self.ishape == self.oshape
            else Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)
        )  # Iᴴ I = I

    def _inverse(self):
        return self

    def _slogdet(self):
        return diagonal_slogdet(self)  # det D = Π dᵢ

    def _diagonal(self):
        return torch.ones(self.shape[0], dtype=self.dtype, device=self.device)

    def _to_dense(self):
        return torch.eye(self.shape[0], dtype=self.dtype, device=self.device)

    def _split(self, tile):
        return _scaled_identity_block(self, tile)  # a diagonal block of I is I


class Zero(LinearOperator):
    """The zero map from ``isize`` to ``osize``: ``0 x = 0``.

    Weightless; its output is zeros of the output sizes. Tagged hermitian when square.

    Parameters
    ----------
    isize : int or tuple of int
        Input sizes.
    osize : int or tuple of int
        Output sizes.
    ishape : str or tuple of str, optional
        Input dim names; positional names when None (``oshape`` when the sizes agree).
    oshape : str or tuple of str, optional
        Output dim names; positional names when None (``ishape`` when the sizes agree).
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> ll.Zero((3,), (2,))(torch.ones(3)).tolist()
    [0.0, 0.0]

    Dense equivalent: ``torch.zeros(2, 3)``.
    """

    def __init__(self, isize, osize, ishape=None, oshape=None, dtype=None, device=None):
        super().__init__(
            ishape=ishape,
            oshape=oshape,
            isize=isize,
            osize=osize,
            dtype=dtype,
            device=device,
            tags=("hermitian",) if tuple(isize) == tuple(osize) else (),
        )

    def _apply(self, x):
        n = len(self.isize)
        return x.new_zeros(*x.shape[: x.dim() - n], *self.osize)

    def _apply_adjoint(self, y):
        n = len(self.osize)
        return y.new_zeros(*y.shape[: y.dim() - n], *self.isize)

    def _adjoint(self):
        return Zero(self.osize, self.isize, self.oshape, self.ishape, self.dtype, self.device)

    def _conj(self):
        return self

    def _normal(self):
        return Zero(self.isize, self.isize, self.ishape, self.ishape, self.dtype, self.device)  # 0ᴴ0 = 0

    def _inverse(self):
        if self.isize != self.osize:
            return None
        inf = Scalar(float("inf"), self.osize, self.oshape, dtype=self.dtype, device=self.device)  # every pivot 0
        return inf if self.ishape == self.oshape else inf.rename(ishape=self.oshape, oshape=self.ishape)

    def _slogdet(self):
        # det 0 = 0: sign 0, log|det| = −∞
        real = self._dtype.to_real() if self._dtype.is_complex else self._dtype
        zero = torch.zeros((), dtype=self._dtype, device=self._device)
        return zero, torch.full((), -torch.inf, dtype=real, device=self._device)

    def _diagonal(self):
        return torch.zeros(min(self.shape), dtype=self.dtype, device=self.device)

    def _to_dense(self):
        return torch.zeros(tuple(self.shape), dtype=self.dtype, device=self.device)

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self
        isize, osize = cut_size(self.isize, self.ishape, tile), cut_size(self.osize, self.oshape, tile)
        return Zero(isize, osize, self.ishape, self.oshape, self.dtype, self.device)  # any block of 0 is 0


def scalar_weight(value, dtype=None, device=None, what="Scalar"):
    """A 0-d tensor from a Python number or a one-element tensor (gradients kept)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what}: value must be a number or a one-element tensor, got shape {tuple(value.shape)}")
        w = value.reshape(())
        if not (w.is_floating_point() or w.is_complex()):
            w = w.to(torch.get_default_dtype() if dtype is None else dtype)
        return w.to(device=as_device(device) if device is not None else w.device, dtype=dtype or w.dtype)
    if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
        raise TypeError(f"{what}: value must be a real or complex number or a 0-d tensor, got {value!r}")
    if dtype is None:
        dtype = complex_dtype(torch.get_default_dtype()) if isinstance(value, complex) else torch.get_default_dtype()
    return torch.tensor(value, dtype=dtype, device=as_device(device))


def cached_value_tags(op):
    """``value_tags(op.weight)``, computed once per operator (no sync at construction)."""
    return op._memo("value_tags", lambda: value_tags(op.weight))


def value_tags(w):
    """Tags of a diagonal/scalar weight from its values (one sync): real → hermitian, ≥ 0 → psd, > 0 → pd."""
    if w.device.type == "meta" or w.numel() == 0:
        return ()
    try:
        with torch.no_grad():
            v = w.detach()
            if v.is_complex():
                real, lo = torch.stack([(v.imag == 0).all().to(v.real.dtype), v.real.min()]).tolist()
                if not real:
                    return ()
            else:
                lo = v.min().item()
    except RuntimeError:  # data not available (tracing): keep the dtype-based tag only
        return ("hermitian",) if not w.is_complex() else ()
    return ("hermitian", "pd", "psd") if lo > 0 else ("hermitian", "psd") if lo >= 0 else ("hermitian",)


class Scalar(LinearOperator):
    """Scaling ``c·I`` on a named shape; ``c`` a number or a 0-d tensor (may require grad).

    O(n) apply. Tagged hermitian for a real ``c``; psd/pd tags follow the value on request.

    Parameters
    ----------
    value : int, float, complex or torch.Tensor
        The scale ``c``: a Python number or a one-element tensor (its gradient is kept).
    size : int or tuple of int
        The named shape's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of input and output (``"HW"`` or ``("H", "W")``); positional names
        ``d0, d1, …`` when None.
    dtype : torch.dtype, optional
        Dtype of the weight and the operator; when None, a floating or complex tensor keeps its
        dtype, an integer tensor or a real number gets the default dtype, and a complex number
        its complex counterpart.
    device : torch.device or str, optional
        Device of the weight; a tensor's own device (a number: the CPU) when None.

    Raises
    ------
    ValueError
        ``value`` is a tensor with more than one element.
    TypeError
        ``value`` is neither a number nor a tensor.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> S = ll.Scalar(2.0, (3,))
    >>> (S @ torch.ones(3)).tolist(), S.N.to_dense()[0, 0].item()
    ([2.0, 2.0, 2.0], 4.0)

    Dense equivalent: ``c * torch.eye(n)``.
    """

    def __init__(self, value, size, ioshape=None, dtype=None, device=None):
        w = scalar_weight(value, dtype, device)
        tags = ("hermitian",) if not w.is_complex() else ()  # value-based tags: _lazy_tags
        super().__init__(
            ishape=ioshape, oshape=ioshape, isize=size, osize=size, dtype=w.dtype, device=w.device, tags=tags
        )
        self.weight = w

    def _lazy_tags(self):
        return cached_value_tags(self)

    def _apply(self, x):
        return x * self.weight

    def _apply_adjoint(self, y):
        return y * self.weight.conj()

    def _adjoint(self):
        return swapped(self if not self.dtype.is_complex else Scalar(self.weight.conj(), self.isize, self.ishape), self)

    def _conj(self):
        return same_names(Scalar(self.weight.conj(), self.isize, self.ishape), self)

    def _normal(self):
        w = self.weight
        return Scalar((w.conj() * w), self.isize, self.ishape)  # (c I)ᴴ(c I) = |c|² I

    def _inverse(self):
        return Scalar(1 / self.weight, self.isize, self.ishape)

    def _slogdet(self):
        return diagonal_slogdet(self)  # det D = Π dᵢ

    def _diagonal(self):
        return self.weight.expand(self.shape[0])

    def _to_dense(self):
        return torch.diag_embed(self._diagonal())

    def _split(self, tile):
        return _scaled_identity_block(self, tile)  # a diagonal block of c I is c I (the weight is shared)

    def _repr_extra(self):
        w = self.weight  # its number when on the CPU; "(on cuda:0)" otherwise (no sync in a repr)
        return f"value {fmt_value(w)} {w.dtype}" + (" (requires grad)" if w.requires_grad else "")


class Reshape(LinearOperator):
    """``y = x.reshape(*batch, *osize)``: a permutation-free relabelling of the same elements.

    Orthogonal (``Reshape.N`` is ``Identity``); apply is a view when possible.

    Parameters
    ----------
    isize : int or tuple of int
        Input sizes.
    osize : int or tuple of int
        Output sizes, with as many elements as ``isize``.
    ishape : str or tuple of str, optional
        Input dim names; positional names when None (``oshape`` when the sizes agree).
    oshape : str or tuple of str, optional
        Output dim names; positional names when None (``ishape`` when the sizes agree).
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ShapeError
        ``isize`` and ``osize`` hold different numbers of elements.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> R = ll.Reshape((2, 3), (6,), ishape="HW", oshape="N")
    >>> R(torch.ones(5, 2, 3)).shape
    torch.Size([5, 6])

    Dense equivalent: ``torch.eye(6)``.
    """

    def __init__(self, isize, osize, ishape=None, oshape=None, dtype=None, device=None):
        isize, osize = as_size(isize, "isize"), as_size(osize, "osize")
        if math.prod(isize) != math.prod(osize):
            raise ShapeError(
                f"Reshape: cannot reshape {tuple(isize)} ({math.prod(isize)} elements) into "
                f"{tuple(osize)} ({math.prod(osize)} elements)"
            )
        super().__init__(
            ishape=ishape,
            oshape=oshape,
            isize=isize,
            osize=osize,
            dtype=dtype,
            device=device,
            tags=("unitary",) + (("hermitian", "pd") if isize == osize else ()),
        )

    def _slogdet(self):
        # a relabelling of the same elements in the same order: the identity matrix, det = 1
        one = torch.ones((), dtype=self._dtype, device=self._device)
        return one, torch.zeros((), dtype=one.real.dtype, device=self._device)

    def _apply(self, x):
        nb = x.dim() - len(self.isize)
        return x.reshape(*x.shape[:nb], *self.osize)

    def _apply_adjoint(self, y):
        nb = y.dim() - len(self.osize)
        return y.reshape(*y.shape[:nb], *self.isize)

    def _adjoint(self):
        return Reshape(self.osize, self.isize, self.oshape, self.ishape, self.dtype, self.device)

    def _conj(self):
        return self

    def _normal(self):
        return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)  # Rᴴ R = I

    def _inverse(self):
        return self.H

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self
        for d in tile:
            # d maps 1:1 when it is its own group: same name, same size, equal element counts before it
            pi = self.ishape.index(d) if d in self.ishape else None
            po = self.oshape.index(d) if d in self.oshape else None
            if (
                pi is None
                or po is None
                or self.isize[pi] != self.osize[po]
                or math.prod(self.isize[:pi]) != math.prod(self.osize[:po])
            ):
                raise ShapeError(
                    f"Reshape {tuple(self.isize)}{self.ishape}→{tuple(self.osize)}{self.oshape} cannot be split "
                    f"along {d!r}: only a dim that maps 1:1 (same name and size on both sides, as its own "
                    "group of the reshape) can be split; split another dim"
                )
        return Reshape(
            cut_size(self.isize, self.ishape, tile),
            cut_size(self.osize, self.oshape, tile),
            self.ishape,
            self.oshape,
            self.dtype,
            self.device,
        )

    def is_adjoint_pair(self, other):
        return isinstance(other, Reshape) and other.isize == self.osize and other.osize == self.isize

    def _to_dense(self):
        return torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
