"""Reshapes between named shapes: ``Reshape`` (rename, merge or split dims)."""

import math

from ..base import LinearOperator
from ..dims import as_size
from ..errors import ShapeError


class Reshape(LinearOperator):
    """``y = x.reshape(*batch, *osize)``: a permutation-free relabelling of the same elements.

    Orthogonal (``Reshape.N`` is ``Identity``); apply is a view when possible.

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
        from .basic import Identity

        return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)  # Rᴴ R = I

    def _inverse(self):
        return self.H

    def _split(self, tile):
        from ..tiling.slicing import cut_size, relevant

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
        import torch

        return torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
