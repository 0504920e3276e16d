"""``torch.linalg`` on operators: solve, inv, lstsq and the spectral norm (DESIGN §5).

Each rule routes to the structured solvers; calls they cannot serve structurally (other
norms, ``out=``, a dense matrix with an operator right-hand side) densify as usual.
"""

import torch

from ..base import LinearOperator
from ..dispatch import densify, implements
from ..solvers.api import inv
from ..solvers.api import lstsq as ll_lstsq
from ..solvers.api import solve as ll_solve

T = torch.Tensor


def _is_op(x):
    return isinstance(x, LinearOperator)


@implements(torch.linalg.solve)
def solve(A, B, *, left=True, out=None):
    if out is not None or not _is_op(A):
        return densify(torch.linalg.solve, (A, B), {"left": left, "out": out})
    if not left:  # X A = B  ⇔  Aᵀ Xᵀ = Bᵀ
        if _is_op(B):
            return B @ inv(A)
        return ll_solve(A.mT, B.mT).mT
    if _is_op(B):
        return inv(A) @ B  # A⁻¹ B, lazily
    return ll_solve(A, B)


@implements(torch.linalg.inv, torch.inverse, T.inverse)
def inverse(A, *, out=None):
    if out is not None:
        return densify(torch.linalg.inv, (A,), {"out": out})
    return inv(A)  # the lazy A⁻¹


@implements(torch.linalg.lstsq)
def lstsq(A, B, rcond=None, *, driver=None):
    if not _is_op(A) or _is_op(B):
        return densify(torch.linalg.lstsq, (A, B), {"rcond": rcond, "driver": driver})
    x = ll_lstsq(A, B)
    M, N = A.shape
    if M > N:  # squared residual per column, as torch's gelsd/gelss drivers give for tall A
        r = B - A @ x
        res = (r.abs() ** 2).sum(-2 if B.dim() > 1 else -1)
    else:
        res = x.new_empty(0, dtype=x.real.dtype)
    empty_i = torch.empty(0, dtype=torch.int64, device=x.device)
    return torch.return_types.linalg_lstsq((x, res, empty_i, x.new_empty(0, dtype=x.real.dtype)))


def _spectral(A, ord, keepdim, dtype):
    from ..solvers.eig import spectral_norm

    val = spectral_norm(A, largest=ord == 2)
    if keepdim:
        val = val.reshape(1, 1)
    return val if dtype is None else val.to(dtype)


def _is_matrix_dim(dim):
    return dim is None or (len(dim) == 2 and {d % 2 for d in dim} == {0, 1})


@implements(torch.linalg.matrix_norm)
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    if _is_op(A) and out is None and ord in (2, -2) and _is_matrix_dim(tuple(dim)):
        return _spectral(A, ord, keepdim, dtype)  # σ_max by Lanczos on AᴴA
    return densify(
        torch.linalg.matrix_norm, (A,), {"ord": ord, "dim": dim, "keepdim": keepdim, "dtype": dtype, "out": out}
    )


@implements(torch.linalg.norm)
def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    if _is_op(A) and out is None and ord in (2, -2) and _is_matrix_dim(None if dim is None else tuple(dim)):
        return _spectral(A, ord, keepdim, dtype)
    return densify(torch.linalg.norm, (A,), {"ord": ord, "dim": dim, "keepdim": keepdim, "dtype": dtype, "out": out})
