"""Elementwise scaling: ``Diagonal``."""

import torch

from ..core import tiles as sl
from ..core.algebra import add_rule, as_scalar_like, compose_rule, promoted_weights, weight_product
from ..core.base import LinearOperator, same_names, swapped
from ..core.basic import Identity, Scalar, cached_value_tags, diagonal_slogdet
from ..dims import as_size
from ..dtypes import check_dtype
from ..errors import ShapeError


class Diagonal(LinearOperator):
    """Elementwise multiplication ``y = w ⊙ x`` on a named shape; ``w`` broadcasts to ``size``.

    The weight aligns with the trailing named dims (torch broadcasting), so a ``(H, W)``
    weight on ``ioshape="CHW"`` scales every channel alike. Apply and adjoint are O(n).

    Parameters
    ----------
    weight : torch.Tensor
        The diagonal ``w`` (floating or complex; may require grad); its dtype and device are
        the operator's.
    ioshape : str or tuple of str, optional
        Dim names of input and output; positional names ``d0, d1, …`` when None.
    size : int or tuple of int, optional
        The named shape's sizes, to which ``weight`` broadcasts; ``weight.shape`` when None.

    Raises
    ------
    TypeError
        ``weight`` is not a tensor.
    ShapeError
        ``weight`` does not broadcast to ``size``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D = ll.Diagonal(torch.tensor([1.0, 2.0, 3.0]), "N")
    >>> D(torch.ones(3)).tolist(), D.N.to_dense().diagonal().tolist()
    ([1.0, 2.0, 3.0], [1.0, 4.0, 9.0])

    Dense equivalent: ``torch.diag(w.expand(size).flatten())``.
    """

    _diagonal_matrix = True  # no off-diagonal entries: diag(D₁ A D₂) = d₁ ⊙ diag(A) ⊙ d₂ (Chain._diagonal)

    def __init__(self, weight, ioshape=None, size=None):
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"Diagonal: weight must be a torch.Tensor, got {type(weight).__name__}")
        check_dtype(weight.dtype, "Diagonal weight")
        size = weight.shape if size is None else as_size(size)
        try:
            ok = torch.broadcast_shapes(weight.shape, size) == size
        except RuntimeError:
            ok = False
        if not ok:
            raise ShapeError(
                f"Diagonal: weight of shape {tuple(weight.shape)} does not broadcast to size {tuple(size)}; "
                "the weight aligns with the trailing dims (size-1 dims broadcast)"
            )
        tags = ("hermitian",) if not weight.is_complex() else ()  # w > 0 → pd: see _lazy_tags
        super().__init__(
            ishape=ioshape, oshape=ioshape, isize=size, osize=size, dtype=weight.dtype, device=weight.device, tags=tags
        )
        self.weight = weight

    def _lazy_tags(self):
        return cached_value_tags(self)  # w real → hermitian; w ≥ 0 → psd; w > 0 → pd (one sync, on request)

    def _new(self, weight):
        return Diagonal(weight, self.ishape, self.isize)

    def _apply(self, x):
        return x * self.weight

    def _apply_adjoint(self, y):
        return y * self.weight.conj()

    def _adjoint(self):
        return swapped(self if not self.dtype.is_complex else self._new(self.weight.conj()), self)  # Dᴴ = diag(w̄)

    def _conj(self):
        return same_names(self._new(self.weight.conj()), self)

    def _normal(self):
        w = self.weight
        return self._new((w.conj() * w))  # Dᴴ D = diag(|w|²), in the operator's dtype

    def _inverse(self):
        return self._new(1 / self.weight)

    def _slogdet(self):
        return diagonal_slogdet(self)  # det D = Π dᵢ

    def _diagonal(self):
        return self.weight.expand(self.isize).reshape(-1)

    def _to_dense(self):
        return torch.diag_embed(self._diagonal())

    def _split(self, tile):
        tile = sl.relevant(self, tile)
        if not tile:
            return self
        positions = sl.elementwise_positions(self, tile)
        size = sl.cut_size(self.isize, self.ishape, tile)
        w = sl.slice_weight(self.weight, sl.broadcast_positions(self.weight, self.isize, positions))
        return sl.resized(self, size, size, weight=w)  # a diagonal block of diag(w) is diag(w[block])

    def _repr_extra(self):
        return f"weight {tuple(self.weight.shape)} {self.weight.dtype}"


@compose_rule(Scalar, Diagonal, folds=True)
def _scalar_diagonal(L, R):
    # (a I) D = diag(a w)
    return [Diagonal(weight_product(L, R), R.ishape, R.isize)]


@compose_rule(Diagonal, Scalar, folds=True)
def _diagonal_scalar(L, R):
    # D (a I) = diag(w a)
    return [Diagonal(weight_product(L, R), L.ishape, L.isize)]


@compose_rule(Diagonal, Diagonal, folds=True)
def _diagonal_times_diagonal(L, R):
    # diag(a) diag(b) = diag(a ⊙ b)
    return [Diagonal(weight_product(L, R), R.ishape, R.isize)]


@add_rule(Diagonal, Diagonal, folds=True)
@add_rule(Identity, Diagonal, folds=True)
@add_rule(Diagonal, Identity, folds=True)
@add_rule(Scalar, Diagonal, folds=True)
@add_rule(Diagonal, Scalar, folds=True)
def _diagonal_plus_diagonal(L, R):
    # diag(a) + diag(b) = diag(a+b) ; a I + diag(b) = diag(a+b)
    L, R = as_scalar_like(L), as_scalar_like(R)
    a, b = promoted_weights(L, R)
    return Diagonal(a + b, L.ishape, L.isize)
