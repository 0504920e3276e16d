"""Sparse matrices: ``Sparse`` from a torch COO or CSR tensor."""

import torch

from ..core.base import LinearOperator
from ..dims import as_size, prod
from ..dtypes import check_dtype
from ..errors import ShapeError


class Sparse(LinearOperator):
    """A sparse matrix ``S`` (torch COO or CSR, ``(M, N)``) as an operator; apply by ``torch.sparse.mm``.

    Stored as COO ``indices`` and ``values`` (so values may require grad, move and cast
    like any weight); ``osize``/``isize`` give named shapes to the rows and columns.
    The adjoint multiplies by the conjugate transpose. Apply costs ``O(nnz)`` per vector.

    Parameters
    ----------
    tensor : torch.Tensor
        A 2-D sparse COO or CSR matrix ``(M, N)`` with scalar values (floating or complex);
        its dtype and device are the operator's.
    ishape : str or tuple of str, optional
        Input dim names; positional names when None.
    oshape : str or tuple of str, optional
        Output dim names; positional names when None.
    isize : int or tuple of int, optional
        Input sizes, whose product must be ``N``; ``(N,)`` when None.
    osize : int or tuple of int, optional
        Output sizes, whose product must be ``M``; ``(M,)`` when None.

    Raises
    ------
    TypeError
        ``tensor`` is not a sparse COO or CSR tensor.
    ShapeError
        ``tensor`` is not a 2-D matrix, or ``isize``/``osize`` do not fit it.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> S = ll.Sparse(torch.tensor([[0.0, 2.0], [1.0, 0.0]]).to_sparse())
    >>> (S @ torch.tensor([1.0, 1.0])).tolist(), (S.H @ torch.tensor([1.0, 0.0])).tolist()
    ([2.0, 1.0], [0.0, 2.0])

    Dense equivalent: ``tensor.to_dense()``.
    """

    def __init__(self, tensor, ishape=None, oshape=None, *, isize=None, osize=None):
        if not isinstance(tensor, torch.Tensor) or tensor.layout not in (torch.sparse_coo, torch.sparse_csr):
            raise TypeError(
                "Sparse: expected a 2-D torch sparse COO or CSR tensor (e.g. dense.to_sparse()), got "
                f"{getattr(tensor, 'layout', type(tensor).__name__)}; use ll.Dense for dense matrices"
            )
        if tensor.dim() != 2 or tensor.dense_dim() != 0:
            raise ShapeError(
                f"Sparse: the tensor must be a 2-D matrix with scalar values, got shape {tuple(tensor.shape)}"
            )
        check_dtype(tensor.dtype, "Sparse")
        coo = tensor.to_sparse_coo().coalesce() if tensor.layout == torch.sparse_csr else tensor.coalesce()
        M, N = coo.shape
        osize = (M,) if osize is None else as_size(osize, "osize")
        isize = (N,) if isize is None else as_size(isize, "isize")
        if prod(osize) != M or prod(isize) != N:
            raise ShapeError(f"Sparse: osize {tuple(osize)} × isize {tuple(isize)} does not fit the {M}×{N} matrix")
        super().__init__(ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=coo.dtype, device=coo.device)
        self.sp_indices = coo.indices()
        self.sp_values = coo.values()

    def _matrix(self, dtype, adjoint):
        M, N = self.shape
        v = self.sp_values if self.sp_values.dtype == dtype else self.sp_values.to(dtype)
        if adjoint:
            return torch.sparse_coo_tensor(
                self.sp_indices.flip(0), v.conj(), (N, M), is_coalesced=False, check_invariants=False
            )  # Sᴴ
        return torch.sparse_coo_tensor(self.sp_indices, v, (M, N), is_coalesced=True, check_invariants=False)

    def _run(self, x, adjoint):
        M, N = self.shape
        nin, size = (M, self.isize) if adjoint else (N, self.osize)
        nb = x.dim() - len(self.osize if adjoint else self.isize)
        X = x.reshape(-1, nin).mT
        Y = torch.sparse.mm(self._matrix(x.dtype, adjoint), X.resolve_conj())  # (M, B) = S (N, B)
        return Y.mT.reshape(*x.shape[:nb], *size)

    def _apply(self, x):
        return self._run(x, False)

    def _apply_adjoint(self, y):
        return self._run(y, True)

    def _diagonal(self):
        M, N = self.shape
        if M != N:
            return None
        i, j = self.sp_indices
        on = i == j
        return torch.zeros(M, dtype=self.dtype, device=self.device).index_add(0, i[on], self.sp_values[on])

    def _to_dense(self):
        return self._matrix(self.dtype, False).to_dense()

    def _split(self, tile):
        # a block of a sparse matrix: the entries inside it, re-indexed
        shared = [n for n in tile if n in self.ishape and n in self.oshape]
        if shared:
            raise ShapeError(
                f"Sparse cannot be split along {shared}: the name is on both sides and a sparse matrix "
                "is not elementwise; rename one side or split another dim"
            )
        rows = _flat_range(self.oshape, self.osize, tile)
        cols = _flat_range(self.ishape, self.isize, tile)
        if rows is None or cols is None:
            raise ShapeError("Sparse can be split only along its leading named dims (or single-dim shapes)")
        (r0, r1, osz), (c0, c1, isz) = rows, cols
        i, j = self.sp_indices
        keep = (i >= r0) & (i < r1) & (j >= c0) & (j < c1)
        idx = torch.stack((i[keep] - r0, j[keep] - c0))
        t = torch.sparse_coo_tensor(idx, self.sp_values[keep], (r1 - r0, c1 - c0), check_invariants=True)
        return Sparse(t, self.ishape, self.oshape, isize=isz, osize=osz)

    def _repr_extra(self):
        return f"nnz {self.sp_values.shape[0]} {self.sp_values.dtype}"


def _flat_range(names, size, tile):
    """A tile that cuts only the leading named dim is a contiguous range of flat indices."""
    cut = [k for k, n in enumerate(names) if n in tile and tile[n] != slice(0, size[k])]
    if not cut:
        return 0, prod(size), tuple(size)
    if cut != [0]:
        return None
    a, b, _ = tile[names[0]].indices(size[0])
    inner = prod(size[1:])
    return a * inner, b * inner, (b - a, *size[1:])
