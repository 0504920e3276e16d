"""The operator contract: every registry entry × dtype against its dense matrix."""

import copy
import io
import pickle
import warnings

import pytest
import registry
import torch
from registry import randn

import lazylinops as ll
from lazylinops.base import promote


def tol(dtype, entry=None):
    base = 2e-4 if dtype in (torch.float32, torch.complex64) else 1e-10
    return base * (entry.rtol if entry is not None else 1.0)


def assert_close(actual, expected, dtype, entry=None, what=""):
    registry.assert_close(actual, expected, tol(dtype, entry), what)


def dense_of(A):
    D = A.to_dense()
    assert type(D) is torch.Tensor and D.shape == A.shape and D.dtype == A.dtype
    return D


def test_metadata(op):
    A = op
    assert isinstance(A, torch.Tensor) and isinstance(A, ll.LinearOperator)
    assert A.shape == torch.Size([A.osize.numel(), A.isize.numel()])
    assert A.dim() == 2 and A.ndim == 2 and A.size() == A.shape and A.size(0) == A.shape[0]
    assert len(A.ishape) == len(A.isize) and len(A.oshape) == len(A.osize)
    assert A.numel() == A.shape[0] * A.shape[1]
    assert A.is_complex() == A.dtype.is_complex and A.is_floating_point() == A.dtype.is_floating_point
    assert "⟨" in repr(A) and str(A) == repr(A) and f"{A}" == repr(A)


def test_apply_matches_dense(op, entry, dtype):
    A, D = op, dense_of(op)
    M, N = A.shape
    out = promote(A.dtype, dtype)
    x = randn(N, dtype=dtype, seed=31)
    X = randn(N, 3, dtype=dtype, seed=32)
    XB = randn(2, N, 3, dtype=dtype, seed=33)
    Y = randn(4, M, dtype=dtype, seed=34)
    Dp = D.to(out)
    assert_close(A @ x, Dp @ x.to(out), dtype, entry, "A @ x")
    assert_close(torch.matmul(A, X), Dp @ X.to(out), dtype, entry, "matmul(A, X)")
    assert_close(torch.mm(A, X), Dp @ X.to(out), dtype, entry, "mm(A, X)")
    assert_close(torch.mv(A, x), Dp @ x.to(out), dtype, entry, "mv(A, x)")
    assert_close(A @ XB, Dp @ XB.to(out), dtype, entry, "A @ batched")
    assert_close(Y @ A, Y.to(out) @ Dp, dtype, entry, "Y @ A")
    assert_close(x[:M] @ A if M == N else Y[0] @ A, (x[:M] if M == N else Y[0]).to(out) @ Dp, dtype, entry, "y @ A")
    assert_close(torch.matmul(Y, A), Y.to(out) @ Dp, dtype, entry, "matmul(Y, A)")
    xb = randn(2, *A.isize, dtype=dtype, seed=35)
    yb = A(xb)
    assert yb.shape == (2, *A.osize)
    assert_close(yb.reshape(2, M), xb.reshape(2, N).to(out) @ Dp.T, dtype, entry, "A(x) batched")


def test_same_dtype_matches_dense_dtype(op, entry):
    A, D = op, dense_of(op)
    x = randn(A.shape[1], dtype=A.dtype, seed=36)
    assert (A @ x).dtype == (D @ x).dtype == A.dtype


def test_dottest(op):
    assert ll.testing.dottest(op)


def test_adjoint_transpose_conj_normal(op, entry, dtype):
    A, D = op, dense_of(op)
    assert A.H.H is A and A.mH is A.H and A.adjoint() is A.H
    assert_close(dense_of(A.H), D.mH, dtype, entry, "A.H")
    assert_close(dense_of(A.mT), D.mT, dtype, entry, "A.mT")
    assert_close(dense_of(A.T), D.T, dtype, entry, "A.T")
    assert_close(dense_of(A.conj()), D.conj().resolve_conj(), dtype, entry, "A.conj()")
    assert_close(dense_of(torch.adjoint(A)), D.mH, dtype, entry, "torch.adjoint")
    N = A.N
    assert N.ishape == N.oshape == A.ishape and N.isize == A.isize
    assert_close(dense_of(N), D.mH @ D, dtype, entry, "A.N")
    assert {"hermitian", "psd"} <= N.tags


def test_serialization(op, entry, dtype):
    A, D = op, dense_of(op)
    buf = io.BytesIO()
    torch.save(A, buf)
    buf.seek(0)
    for name, B in (
        ("pickle", pickle.loads(pickle.dumps(A))),
        ("deepcopy", copy.deepcopy(A)),
        ("torch.save", torch.load(buf)),  # weights_only=True is torch's default
    ):
        assert type(B) is type(A), name
        assert B.ishape == A.ishape and B.oshape == A.oshape and B.dtype == A.dtype
        assert_close(dense_of(B), D, dtype, entry, name)


def test_to_float64(op, entry, dtype):
    A, D = op, dense_of(op)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # complex → real keeps the real part, as torch warns
        B = A.to(torch.float64)
        expected = D.to(torch.float64)
    assert B.dtype == torch.float64
    assert_close(dense_of(B), expected, dtype, entry, ".to(float64)")
    C = A.to(torch.complex128)
    assert C.dtype == torch.complex128
    assert_close(dense_of(C), D.to(torch.complex128), dtype, entry, ".to(complex128)")


def test_gradcheck(op, entry, dtype):
    if dtype not in (torch.float64, torch.complex128):
        pytest.skip("gradcheck runs in double precision")
    A = op
    ws = [w.detach().clone().requires_grad_() for w in A._flat_weights()]
    x = randn(*A.isize, dtype=dtype, seed=41).requires_grad_()

    def f(x, *ws):
        B = A._with_weights(ws)
        assert B.requires_grad == any(w.requires_grad for w in ws)
        return B(x)

    assert torch.autograd.gradcheck(f, (x, *ws), eps=1e-6, atol=1e-6 * entry.rtol)
    y = randn(*A.osize, dtype=dtype, seed=42).requires_grad_()
    assert torch.autograd.gradcheck(lambda y, *ws: A._with_weights(ws).H(y), (y, *ws), eps=1e-6, atol=1e-6 * entry.rtol)


def test_module_buffer_roundtrip(op, entry, dtype):
    A, D = op, dense_of(op)
    m = torch.nn.Module()
    m.register_buffer("A", A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # complex buffers keep their real part, as in torch
        m2 = m.to(torch.float64)
        expected = D.to(torch.float64)
    B = m2.A
    assert isinstance(B, ll.LinearOperator) and B.dtype == torch.float64
    assert_close(dense_of(B), expected, dtype, entry, "module.to")
    sd = m2.state_dict()
    assert isinstance(sd["A"], ll.LinearOperator)
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf)
    target = torch.nn.Module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fresh = entry.build(dtype).to(torch.float64)
    fresh = fresh._with_weights([torch.zeros_like(w) for w in fresh._flat_weights()])  # load must overwrite
    target.register_buffer("A", fresh)
    target.load_state_dict(loaded)
    assert isinstance(target.A, ll.LinearOperator)
    assert_close(dense_of(target.A), expected, dtype, entry, "load_state_dict")


def test_requires_grad_from_weights(op):
    A = op
    has_weights = bool(A._flat_weights())
    B = A.detach().requires_grad_()
    assert B.requires_grad == has_weights
    assert not A.requires_grad
