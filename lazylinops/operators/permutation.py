"""Permutations along a named dim: ``Permutation``."""

import torch

from ..core.algebra import compose_rule
from ..core.base import LinearOperator, swapped
from ..core.basic import Identity
from ..core.tiles import cut_size, elementwise_positions, relevant
from ..dims import Dim, as_size, default_names, fmt_names
from ..dtypes import as_device, promote
from ..errors import ShapeError


def _as_perm(perm):
    if isinstance(perm, torch.Tensor):
        if perm.dtype.is_floating_point or perm.dtype.is_complex or perm.dtype == torch.bool or perm.dim() != 1:
            raise TypeError(
                f"Permutation: perm must be a 1-D integer tensor, got {perm.dtype} of shape {tuple(perm.shape)}"
            )
        return perm.to(torch.long)
    try:
        return torch.as_tensor(list(perm), dtype=torch.long)
    except (TypeError, ValueError):
        raise TypeError(f"Permutation: perm must be a sequence of ints or an integer tensor, got {perm!r}") from None


class Permutation(LinearOperator):
    """Reordering along one named dim: ``P @ x == x.index_select(-1, perm)``, i.e. ``P[i, perm[i]] = 1``.

    ``dim`` (default: the last) names the permuted dim of ``ioshape``; ``size`` gives the
    full shape when there is more than one dim. Unitary: the adjoint and the inverse
    are the inverse permutation, ``P.N`` is ``Identity``, and
    ``P @ Q`` of permutations along the same dim folds into one. O(n) apply (a gather).

    Parameters
    ----------
    perm : torch.Tensor or sequence of int
        A 1-D integer permutation of ``0 … n−1``.
    ioshape : str or tuple of str, optional
        Dim names of input and output; positional names ``d0, d1, …`` when None.
    dim : str, optional
        The permuted dim, one name of ``ioshape``; the last dim when None.
    size : int or tuple of int, optional
        The full sizes, with ``n`` along ``dim``; ``(n,)`` when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Where ``perm`` (and the operator) is placed; ``perm``'s device when None.

    Raises
    ------
    TypeError
        ``perm`` is not a 1-D integer tensor or a sequence of ints.
    ShapeError
        ``ioshape`` does not fit ``size``, ``dim`` is not one of its names, or ``perm``'s length
        differs from the size of ``dim``.
    ValueError
        ``perm`` is not a permutation.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> P = ll.Permutation(torch.tensor([2, 0, 1]))
    >>> P(torch.tensor([10.0, 20.0, 30.0])).tolist(), type(P.N).__name__
    ([30.0, 10.0, 20.0], 'Identity')

    Dense equivalent: ``torch.eye(n)[perm]``.
    """

    def __init__(self, perm, ioshape=None, dim=None, size=None, dtype=None, device=None, *, _checked=False):
        perm = _as_perm(perm)
        if device is not None:
            perm = perm.to(as_device(device))
        n = perm.shape[0]
        size = (n,) if size is None else as_size(size)
        names = default_names(len(size)) if ioshape is None else Dim(ioshape)
        if len(names) != len(size):
            raise ShapeError(f"Permutation: ioshape {names} names {len(names)} dims but size is {tuple(size)}")
        if dim is None:
            axis = len(size) - 1
        else:
            d = Dim(dim)
            if len(d) != 1 or d[0] not in names:
                raise ShapeError(f"Permutation: dim {dim!r} must be one of the named dims {fmt_names(names, size)}")
            axis = names.index(d[0])
        if size[axis] != n:
            raise ShapeError(
                f"Permutation: perm has {n} entries but dim {names[axis]!r} of {fmt_names(names, size)} "
                f"has {size[axis]}"
            )
        if not _checked and not torch.equal(torch.sort(perm).values, torch.arange(n, device=perm.device)):
            raise ValueError("Permutation: perm must contain each of 0 … n-1 exactly once")
        super().__init__(
            ishape=names, oshape=names, isize=size, osize=size, dtype=dtype, device=perm.device, tags=("unitary",)
        )
        self.perm = perm
        self.axis = axis

    def _new(self, perm):
        # the dim as a 1-tuple: a stored name such as "H·W" (torch.cat's joined name) is one dim, not a spec
        return Permutation(
            perm, self.ishape, (self.ishape[self.axis],), self.isize, self.dtype, self.device, _checked=True
        )

    def _inv(self):
        return self._memo("inv", lambda: torch.argsort(self.perm))

    def _apply(self, x):
        return x.index_select(self.axis - len(self.isize), self.perm)

    def _apply_adjoint(self, y):
        return y.index_select(self.axis - len(self.isize), self._inv())  # Pᴴ = P⁻¹ = permutation by argsort(perm)

    def _adjoint(self):
        return swapped(self._new(self._inv()), self)  # Pᴴ = P⁻¹, output names back to input names

    def _conj(self):
        return self

    def _normal(self):
        return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)  # Pᴴ P = I

    def _inverse(self):
        return self.H  # P⁻¹ = Pᴴ

    def _slogdet(self):
        # det P = sign(σ) = (−1)^(n − number of cycles); one host read of the permutation
        p = self.perm.cpu().tolist()
        n, seen, cycles = len(p), [False] * len(p), 0
        for i in range(n):
            if not seen[i]:
                cycles += 1
                j = i
                while not seen[j]:
                    seen[j] = True
                    j = p[j]
        sign = torch.tensor(-1.0 if (n - cycles) % 2 else 1.0, dtype=self.dtype, device=self.device)
        return sign, torch.zeros((), dtype=sign.real.dtype, device=self.device)

    def _diagonal(self):
        fixed = (self.perm == torch.arange(self.perm.shape[0], device=self.device)).to(self.dtype)
        shape = [1] * len(self.isize)
        shape[self.axis] = -1
        return fixed.reshape(shape).expand(self.isize).reshape(-1)

    def is_adjoint_pair(self, other):
        return (
            isinstance(other, Permutation)
            and other.axis == self.axis
            and other.isize == self.isize
            and torch.equal(other.perm, self._inv())
        )

    def compose_with(self, other):
        """``self @ other`` for a permutation along the same dim, else None."""
        if (
            isinstance(other, Permutation)
            and other.axis == self.axis
            and other.isize == self.isize
            and other.ishape == self.ishape
        ):
            return other._new(other.perm[self.perm])  # (P₁ P₂ x)[i] = x[p₂[p₁[i]]]
        return None

    def _renamed(self, ishape, oshape):
        out = Permutation(self.perm, ishape, (ishape[self.axis],), self.isize, self.dtype, self.device, _checked=True)
        return out if ishape == oshape else LinearOperator._renamed(out, ishape, oshape)  # names are metadata

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self
        # block-diagonal along a dim named at the same position of input and output (a renamed
        # Permutation ⟨A⟩→⟨B⟩ is refused along A or B), and never across the permuted dim
        positions = elementwise_positions(self, tile)
        name = self.ishape[self.axis]
        if self.axis in positions and positions[self.axis] != slice(0, self.isize[self.axis]):
            raise ShapeError(f"Permutation cannot be split along its permuted dim {name!r}; split along other dims")
        size = cut_size(self.isize, self.ishape, tile)
        out = Permutation(self.perm, self.ishape, (name,), size, self.dtype, self.device, _checked=True)
        return out if self.ishape == self.oshape else LinearOperator._renamed(out, self.ishape, self.oshape)

    def _repr_extra(self):
        return f"along {self.ishape[self.axis]}"


@compose_rule(Permutation, Permutation)
def permutation_rule(L, R):
    # P₁ P₂ = the permutation p₂[p₁] (same dim)
    P = L.compose_with(R)
    if P is None:
        return None
    dtype = promote(L.dtype, R.dtype)  # P₁ P₂ in the promoted dtype
    return [P if P.dtype == dtype else P._to(dtype=dtype)]
