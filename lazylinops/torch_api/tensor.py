"""Structured rules for torch functions called on operators (registered in ``dispatch``)."""

import torch

from ..core.algebra import add, compose, scale, scale_div
from ..core.base import LinearOperator, densify, unaliased_from_weights
from ..core.dispatch import check_densify_limit, check_dim, implements, torch_name
from ..errors import ShapeError

T = torch.Tensor


def _is_op(x):
    return isinstance(x, LinearOperator)


@implements(torch.matmul, T.matmul, T.__matmul__, torch.linalg.matmul)
def matmul(a, b):
    if _is_op(a):
        if _is_op(b):
            return compose(a, b, user=True)
        return a._matmul(b)
    return b._rmatmul(a)


@implements(T.__rmatmul__)
def rmatmul(self, other):
    return matmul(other, self)


@implements(torch.mm, T.mm)
def mm(a, b):
    for x in (a, b):
        if x.dim() != 2:
            raise ShapeError(
                f"torch.mm: both arguments must be 2-D, got a {x.dim()}-D argument of shape {tuple(x.shape)}"
            )
    return matmul(a, b)


@implements(torch.mv, T.mv)
def mv(a, v):
    if not _is_op(a) or v.dim() != 1:
        raise ShapeError("torch.mv: expects a 2-D matrix (the operator) and a 1-D vector")
    return matmul(a, v)


@implements(torch.adjoint, T.adjoint, T.mH.__get__, T.H.__get__)
def adjoint(a):
    return a.H


@implements(T.T.__get__, T.mT.__get__, torch.t, T.t)
def transpose_(a):
    return a.T


@implements(torch.transpose, T.transpose, torch.swapaxes, T.swapaxes, torch.swapdims, T.swapdims)
def transpose(a, dim0, dim1):
    return a.transpose(dim0, dim1)


@implements(torch.permute, T.permute)
def permute(a, *dims):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list, torch.Size)) else dims
    check_dim(dims, "permute")
    order = tuple(d % 2 for d in dims)
    if order not in ((0, 1), (1, 0)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the 2 dims of an operator (a matrix)")
    return a.T if order == (1, 0) else a


@implements(torch.conj, T.conj, torch.conj_physical, T.conj_physical)
def conj(a):
    return a.conj()


@implements(torch.resolve_conj, T.resolve_conj, torch.resolve_neg, T.resolve_neg)
def resolve(a):
    return a


def _elementwise(func, a, b, alpha):
    """``func(a, b)`` with a plain tensor or number: elementwise on the dense matrix (dense semantics)."""
    return densify(func, (a, b), {} if alpha == 1 else {"alpha": alpha})


@implements(torch.add, T.add, T.__add__, T.__radd__)
def add_(a, b, *, alpha=1):
    if not (_is_op(a) and _is_op(b)):
        return _elementwise(torch.add, a, b, alpha)
    return add(a, b if alpha == 1 else scale(b, alpha), user=True)  # A + α B, lazy


@implements(torch.sub, torch.subtract, T.sub, T.subtract, T.__sub__)
def sub(a, b, *, alpha=1):
    if not (_is_op(a) and _is_op(b)):
        return _elementwise(torch.sub, a, b, alpha)
    return add(a, scale(b, -alpha), user=True)  # A - α B, lazy


@implements(T.__rsub__)
def rsub(a, b):
    return sub(b, a)  # Tensor.__rsub__(self, other) is other - self


@implements(torch.mul, torch.multiply, T.mul, T.multiply, T.__mul__, T.__rmul__)
def mul(a, b):
    if _is_op(a) and not _is_op(b):
        return scale(a, b)
    if _is_op(b) and not _is_op(a):
        return scale(b, a)
    return densify(torch.mul, (a, b), {})  # operator ⊙ operator is Hadamard: dense semantics


@implements(torch.div, torch.divide, torch.true_divide, T.div, T.divide, T.true_divide, T.__truediv__)
def div(a, b, *, rounding_mode=None):
    if rounding_mode is None and _is_op(a) and not _is_op(b):
        return scale_div(a, b)
    return densify(torch.div, (a, b), {} if rounding_mode is None else {"rounding_mode": rounding_mode})


@implements(torch.neg, torch.negative, T.neg, T.negative, T.__neg__)
def neg(a):
    return scale(a, -1)


@implements(T.to)
def to(a, *args, **kwargs):
    if _is_op(a):
        return a.to(*args, **kwargs)
    # t.to(A): the operator is only a template for dtype and device
    args = [torch.empty(0, dtype=x.dtype, device=x.device) if _is_op(x) else x for x in args]
    return T.to(a, *args, **kwargs)


@implements(T.copy_)
def copy_(a, src, non_blocking=False):
    if _is_op(a):
        return a.copy_(src, non_blocking)  # loading an identically structured operator (load_state_dict)
    return densify(T.copy_, (a, src), {"non_blocking": non_blocking})  # t.copy_(A): A's dense matrix into t


for _name in (
    "cpu",
    "cuda",
    "float",
    "double",
    "half",
    "bfloat16",
    "cfloat",
    "cdouble",
    "type",
    "detach",
    "clone",
    "contiguous",
    "to_dense",
    "requires_grad_",
    "__reduce_ex__",
    "__deepcopy__",
    "__repr__",
    "__format__",
    "__len__",
    "__hash__",
):
    implements(getattr(T, _name))(lambda a, *args, _n=_name, **kw: getattr(type(a), _n)(a, *args, **kw))


@implements(T.data_ptr)
def data_ptr(a):
    return 0  # an operator has no storage


_FACTORIES = [
    torch.empty_like,
    torch.zeros_like,
    torch.ones_like,
    torch.full_like,
    torch.rand_like,
    torch.randn_like,
    torch.randint_like,
]


def _like(func):
    def rule(a, *args, **kwargs):
        check_densify_limit(a, torch_name(func))  # a full M×N tensor: the densify memory guard applies
        proxy = torch.empty(tuple(a.shape), dtype=a.dtype, device=a.device)
        return func(proxy, *args, **kwargs)

    return rule


for _f in _FACTORIES:
    implements(_f)(_like(_f))

for _name in ("new_empty", "new_zeros", "new_ones", "new_full", "new_tensor"):
    implements(getattr(T, _name))(
        lambda a, *args, _n=_name, **kw: getattr(torch.empty(0, dtype=a.dtype, device=a.device), _n)(*args, **kw)
    )


@implements(torch.sum, T.sum)
def sum_(a, dim=None, keepdim=False, *, dtype=None):
    """Sums by one matvec with ones: ``Σ_ij A_ij = 1ᵀ A 1``, rows ``A 1``, columns ``Aᵀ 1``."""
    dims = None if dim is None else (tuple(dim) if isinstance(dim, (tuple, list, torch.Size)) else (dim,))
    if dims is not None and len({d % 2 for d in dims}) != len(dims):
        return densify(torch.sum, (a,), {"dim": dim, "keepdim": keepdim})  # a repeated dim: torch refuses
    if dtype is not None and dtype != a.dtype:
        if (a.dtype.is_complex and not dtype.is_complex) or not (dtype.is_floating_point or dtype.is_complex):
            return densify(torch.sum, (a,), {"dim": dim, "keepdim": keepdim, "dtype": dtype})  # dense refuses/casts
        a = a._to(dtype=dtype)  # torch casts the input first: accumulate in dtype
    M, N = a.shape
    if dims is not None and (not dims or len({d % 2 for d in dims}) == 2):
        dims = None  # dim=() sums all, as torch does
    if dims is None:
        res = (a @ torch.ones(N, dtype=a.dtype, device=a.device)).sum()
        res = res.reshape(1, 1) if keepdim else res
    elif dims[0] % 2 == 1:  # sum over columns: A 1
        res = a @ torch.ones(N, dtype=a.dtype, device=a.device)
        res = res.reshape(M, 1) if keepdim else res
    else:  # sum over rows: Aᵀ 1
        res = torch.ones(M, dtype=a.dtype, device=a.device) @ a
        res = res.reshape(1, N) if keepdim else res
    return res


def _main_diagonal(a):
    """The main diagonal (``min(M, N)`` long) from the ``_diagonal`` hook in ``a``'s dtype, or None."""
    d = a._diagonal()
    if d is None:
        return None
    return unaliased_from_weights(d.to(a.dtype), (a,))  # Diagonal's hook hands out its weight: never alias it


@implements(torch.diagonal, T.diagonal)
def diagonal(a, offset=0, dim1=0, dim2=1):
    """The main diagonal from the operator's structure (``dim1``/``dim2`` in either order); other diagonals densify."""
    d = _main_diagonal(a) if offset == 0 and dim1 % 2 != dim2 % 2 else None  # dims already range-checked
    if d is None:
        return densify(torch.diagonal, (a,), {"offset": offset, "dim1": dim1, "dim2": dim2})
    return d


@implements(torch.diag, T.diag)
def diag(a, diagonal=0):
    """``torch.diag`` of a matrix is its ``diagonal``-th diagonal: the main one from the structure."""
    d = _main_diagonal(a) if diagonal == 0 else None
    if d is None:
        return densify(torch.diag, (a,), {"diagonal": diagonal})
    return d


@implements(torch.trace, T.trace)
def trace(a):
    """``trace(A) = Σ diag(A)`` from the structured diagonal when there is one (any shape, as torch)."""
    d = a._diagonal()
    if d is None:
        return densify(torch.trace, (a,), {})
    return d.to(a.dtype).sum()


@implements(T.__bool__)
def bool_(a):
    if a.numel() == 1:
        return bool(a.to_dense())
    raise RuntimeError(f"Boolean value of an operator with {a.numel()} elements is ambiguous (as for any tensor)")
