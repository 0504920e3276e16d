"""Property-based tests: random compositions, sums and scalings equal their dense matrices.

The simplification rules (identity absorption, scalar folding, diagonal merges, unitary
cancellation, permutation and Kronecker folds …) fire in many orders; hypothesis builds
random expressions so every rule meets every neighbour, in every dtype.
"""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lazylinops as ll
from lazylinops.base import complex_dtype, promote

N = 4
DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


def _leaf(kind, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(N, generator=g, dtype=dtype) + 2
    if kind == "diag":
        return ll.Diagonal(w, "N")
    if kind == "scalar":
        return ll.Scalar(w[0], (N,), "N")
    if kind == "identity":
        return ll.Identity((N,), "N", dtype=dtype)
    if kind == "dense":
        return ll.Dense(torch.randn(N, N, generator=g, dtype=dtype), ishape="N", oshape="N")
    if kind == "fft":
        return ll.FFT((N,), "N", dtype=complex_dtype(dtype))
    if kind == "fft-backward":
        return ll.FFT((N,), "N", norm="backward", dtype=complex_dtype(dtype))
    if kind == "perm":
        return ll.Permutation(torch.randperm(N, generator=g), "N", dtype=dtype)
    if kind == "zero":
        return ll.Zero((N,), (N,), "N", "N", dtype=dtype)
    if kind == "lowrank":
        U, V = torch.randn(2, N, 2, generator=g, dtype=dtype)
        return ll.LowRank(U, V).rename("N", "N")
    if kind == "conv":
        return ll.Convolve(torch.randn(3, generator=g, dtype=dtype), (N,), "N", offset=1)
    if kind == "deriv":
        return ll.FirstDerivative((N,), "N", kind="forward", dtype=dtype)
    if kind == "mask":
        return ll.Mask(torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=dtype), "N")
    raise ValueError(kind)


KINDS = [
    "diag",
    "scalar",
    "identity",
    "dense",
    "fft",
    "fft-backward",
    "perm",
    "zero",
    "lowrank",
    "conv",
    "deriv",
    "mask",
]
leaf = st.builds(_leaf, st.sampled_from(KINDS), st.sampled_from(DTYPES), st.integers(0, 10**6))


def _expr(children):
    return st.one_of(
        st.tuples(children, children).map(lambda ab: ab[0] @ ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] + ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] - ab[1]),
        st.tuples(st.sampled_from([2.0, -0.5, 1j, 3]), children).map(lambda ca: ca[0] * ca[1]),
        children.map(lambda a: a.H),
        children.map(lambda a: a.N),
        children.map(lambda a: a.conj()),
        children.map(lambda a: a.T),
    )


expr = st.recursive(leaf, _expr, max_leaves=5)


def _tol(dtype):
    return 1e-3 if dtype in (torch.float32, torch.complex64) else 1e-9


def _check(A, D, single=False):
    """``A`` equals ``D``; ``single``: some input was single precision, so ``D`` carries its rounding."""
    assert A.dtype == D.dtype and A.shape == D.shape
    ref = A.to_dense()
    scale = max(D.abs().max().item(), 1.0)
    assert (ref - D).abs().max().item() <= _tol(torch.float32 if single else D.dtype) * scale


@settings(max_examples=300, deadline=None, derandomize=True)  # deterministic in CI
@given(expr, expr)
def test_random_expressions_match_dense(A, B):
    DA, DB = A.to_dense(), B.to_dense()
    dtype = promote(DA.dtype, DB.dtype)
    single = any(d in (torch.float32, torch.complex64) for d in (DA.dtype, DB.dtype))
    _check(A @ B, DA.to(dtype) @ DB.to(dtype), single)
    _check(A + B, DA.to(dtype) + DB.to(dtype), single)
    _check(A.N, DA.mH @ DA)
    _check(A.H, DA.mH)
    x = torch.randn(N, dtype=complex_dtype(dtype) if dtype.is_complex else dtype)
    y = A @ x
    assert y.dtype == promote(DA.dtype, x.dtype)
    err = (y - DA.to(y.dtype) @ x.to(y.dtype)).abs().max().item()
    assert err <= _tol(DA.dtype) * max(1.0, y.abs().max().item())  # DA carries A's own rounding
    assert A.H.H is A
