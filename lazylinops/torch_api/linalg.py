"""``torch.linalg`` on operators: solve, inv, lstsq and the spectral norm (DESIGN §5).

Each rule routes to the structured solvers; calls they cannot serve structurally (other
norms, a dense matrix with an operator right-hand side) densify as usual. ``out=`` never
reaches a rule: ``torch_function`` refuses it first (operators are immutable), so the
``out=None`` parameters below only accept torch's explicit default.
"""

import torch

from ..core.base import LinearOperator, densify
from ..core.dispatch import implements
from ..dtypes import real_dtype
from ..errors import ShapeError
from ..solvers.api import lstsq as ll_lstsq
from ..solvers.api import solve as ll_solve
from ..solvers.inverse import inv
from ..solvers.kernels.eig import spectral_norm

T = torch.Tensor


def _is_op(x):
    return isinstance(x, LinearOperator)


@implements(torch.linalg.solve)
def solve(A, B, *, left=True, out=None):
    if not _is_op(A):
        return densify(torch.linalg.solve, (A, B), {"left": left})
    if not left:  # X A = B  ⇔  Aᵀ Xᵀ = Bᵀ
        if _is_op(B):
            return B @ inv(A)
        return ll_solve(A.mT, B.mT).mT
    if _is_op(B):
        return inv(A) @ B  # A⁻¹ B, lazily
    return ll_solve(A, B)


@implements(torch.linalg.inv, torch.inverse, T.inverse)
def inverse(A, *, out=None):
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
    val = spectral_norm(A, largest=ord == 2)
    if keepdim:
        val = val.reshape(1, 1)
    return val if dtype is None else val.to(dtype)


def _is_matrix_dim(dim):
    return dim is None or (len(dim) == 2 and {d % 2 for d in dim} == {0, 1})


@implements(torch.linalg.matrix_norm)
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    if _is_op(A) and ord in (2, -2) and _is_matrix_dim(tuple(dim)):
        return _spectral(A, ord, keepdim, dtype)  # σ_max by Lanczos on AᴴA
    return densify(torch.linalg.matrix_norm, (A,), {"ord": ord, "dim": dim, "keepdim": keepdim, "dtype": dtype})


@implements(torch.linalg.norm)
def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    if _is_op(A) and ord in (2, -2) and _is_matrix_dim(None if dim is None else tuple(dim)):
        return _spectral(A, ord, keepdim, dtype)
    return densify(torch.linalg.norm, (A,), {"ord": ord, "dim": dim, "keepdim": keepdim, "dtype": dtype})


# ------------------------------------------------------------------ determinants
def _structured_slogdet(A):
    """``(sign, log|det|)`` of a square operator from its ``_slogdet`` hook (dtypes as torch's), or None."""
    if A.shape[0] != A.shape[1]:
        return None
    parts = A._slogdet()
    if parts is None:
        return None
    sign, logabs = parts
    logabs = logabs.real if logabs.is_complex() else logabs
    return sign.to(A.dtype), logabs.to(real_dtype(A.dtype))


def _logdet_from(A, sign, logabs):
    # log det = log|det| + i·arg det for complex; nan for a negative real determinant, as torch.logdet
    if A.dtype.is_complex:
        return logabs.to(A.dtype) + torch.log(sign)
    return torch.where(sign > 0, logabs, torch.where(sign == 0, -torch.inf, torch.nan))


def slogdet(A):
    """``(sign, logabsdet)`` of a structured square operator, as ``torch.linalg.slogdet``.

    Structured wherever the operator's ``_slogdet`` hook answers: Identity, Scalar, Zero,
    Diagonal, Reshape, Permutation, diagonal + LowRank (matrix determinant lemma
    ``det(D + UVᴴ) = det D · det(I + VᴴD⁻¹U)``), and Chains, Kronecker products, adjoints and
    conjugates of those.

    Parameters
    ----------
    A : LinearOperator or torch.Tensor
        A square operator (a plain tensor goes to ``torch.linalg.slogdet``).

    Returns
    -------
    (sign, logabsdet) : tuple of 0-d tensors
        ``sign`` in ``A.dtype``, ``logabsdet`` in its real dtype.

    Raises
    ------
    ShapeError
        ``A`` is not square.
    ValueError
        No structured determinant: use ``torch.linalg.slogdet(A.to_dense())``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.tensor([1.0, 2.0, 3.0])) + ll.LowRank(torch.ones(3, 1))
    >>> sign, logabs = ll.slogdet(A)
    >>> torch.allclose(logabs, torch.linalg.slogdet(A.to_dense()).logabsdet)
    True
    """
    if not isinstance(A, LinearOperator):
        return torch.linalg.slogdet(A)
    if A.shape[0] != A.shape[1]:
        raise ShapeError(f"slogdet: the operator must be square, got {tuple(A.shape)}")
    parts = _structured_slogdet(A)
    if parts is None:
        raise ValueError(
            f"slogdet: no structured determinant for {type(A).__name__} {tuple(A.shape)}; supported: Identity, "
            "Scalar, Zero, Diagonal, Permutation, Diagonal + LowRank, and Chain/Kronecker/adjoints of those. "
            "Use torch.linalg.slogdet(A.to_dense()) for a dense determinant"
        )
    return parts


def logdet(A):
    """``log det A`` of a structured square operator, as ``torch.logdet`` on the dense matrix.

    Real operators give ``nan`` for a negative determinant (as torch does); complex ones
    the complex logarithm ``log|det| + i·arg det``. Same structures as ``ll.slogdet``.

    Parameters
    ----------
    A : LinearOperator or torch.Tensor
        A square operator (a plain tensor goes to ``torch.logdet``).

    Returns
    -------
    torch.Tensor
        0-d, in ``A.dtype``'s real dtype for a real operator, ``A.dtype`` for a complex one.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.tensor([1.0, 2.0, 3.0])) + ll.LowRank(torch.ones(3, 1))
    >>> torch.allclose(ll.logdet(A), torch.logdet(A.to_dense()))
    True
    """
    if not isinstance(A, LinearOperator):
        return torch.logdet(A)
    return _logdet_from(A, *slogdet(A))


@implements(torch.linalg.slogdet, torch.slogdet, T.slogdet)
def _slogdet_rule(a):
    # (sign, log|det|) from structure, computed once; dense otherwise
    parts = _structured_slogdet(a) if _is_op(a) else None
    if parts is None:
        return densify(torch.linalg.slogdet, (a,), {})
    return torch.return_types.linalg_slogdet(parts)


@implements(torch.logdet, T.logdet)
def _logdet_rule(a):
    parts = _structured_slogdet(a) if _is_op(a) else None
    if parts is None:
        return densify(torch.logdet, (a,), {})
    return _logdet_from(a, *parts)


@implements(torch.det, torch.linalg.det, T.det)
def _det_rule(a):
    parts = _structured_slogdet(a) if _is_op(a) else None
    if parts is None:
        return densify(torch.linalg.det, (a,), {})
    sign, logabs = parts
    return sign * torch.exp(logabs).to(sign.dtype)  # det = sign · exp(log|det|)
