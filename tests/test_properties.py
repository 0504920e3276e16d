"""Property-based tests: random compositions, sums and scalings equal their dense matrices.

The simplification rules (identity absorption, scalar folding, diagonal merges, unitary
cancellation, permutation and Kronecker folds …) fire in many orders; hypothesis builds
random expressions so every rule meets every neighbour, in every dtype.
"""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from registry import REGISTRY

import lazylinops as ll
from lazylinops.dtypes import complex_dtype, promote
from lazylinops.testing import assert_close, default_rtol

N = 4
RTOL = 10  # × default_rtol: random expressions chain several roundings
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


# ---------------------------------------------------------------- every registry kind
# Deeper expressions over every operator in the registry: each entry is joined to a
# random square operator on its own sides (so compositions always meet), then composed,
# summed, scaled, adjoined and normalised at random.
_ENTRIES = [e for e in REGISTRY if max(e.build(e.dtypes[-1]).shape) <= 40]


def _registry_leaf(idx, dtype):
    e = _ENTRIES[idx % len(_ENTRIES)]
    return e.build(dtype if dtype in e.dtypes else e.dtypes[-1])


def _grow(A, step, seed):
    """One random structural step on ``A`` (always defined: square partners are built to fit)."""
    g = torch.Generator().manual_seed(seed)
    M, N = A.shape
    dt = A.dtype
    if step == 0:
        return A.H
    if step == 1:
        return A.N
    if step == 2:
        return (-0.5 if seed % 2 else 2) * A
    if step == 3:
        return A.conj()
    if step == 4:
        return ll.Diagonal(torch.randn(A.osize, generator=g, dtype=dt) + 2, A.oshape) @ A
    if step == 5:
        return A @ ll.Dense(
            torch.randn(N, N, generator=g, dtype=dt), ishape=A.ishape[:1] if len(A.ishape) == 1 else None
        )
    if step == 6:
        return (
            A + ll.Scalar(torch.tensor(1.5, dtype=dt), A.isize, A.ishape).rename(oshape=A.oshape)
            if M == N and A.osize == A.isize
            else A - A
        )
    return A @ A.H


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    st.integers(0, 10**6),
    st.sampled_from(DTYPES),
    st.lists(st.integers(0, 7), min_size=1, max_size=4),
    st.integers(0, 10**6),
)
def test_registry_expressions_match_dense(idx, dtype, steps, seed):
    """Random chains of structural steps on every registry operator equal the same steps on dense."""
    A = _registry_leaf(idx, dtype)
    with ll.set_densify("allow"):
        D = A.to_dense()
        for k, step in enumerate(steps):
            B = _grow(A, step, seed + k)
            g = torch.Generator().manual_seed(seed + k)
            M, N = A.shape
            if step == 0:
                DB = D.mH
            elif step == 1:
                DB = D.mH @ D
            elif step == 2:
                DB = (-0.5 if (seed + k) % 2 else 2) * D
            elif step == 3:
                DB = D.conj()
            elif step == 4:
                DB = (torch.randn(A.osize, generator=g, dtype=A.dtype) + 2).reshape(-1)[:, None] * D
            elif step == 5:
                DB = D @ torch.randn(N, N, generator=g, dtype=A.dtype)
            elif step == 6:
                DB = D + 1.5 * torch.eye(N, dtype=D.dtype) if M == N and A.osize == A.isize else D - D
            else:
                DB = D @ D.mH
            assert_close(B.to_dense(), DB, RTOL * default_rtol(DB.dtype))
            A, D = B, B.to_dense()


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


@settings(max_examples=300, deadline=None, derandomize=True)  # deterministic in CI
@given(expr, expr)
def test_random_expressions_match_dense(A, B):
    DA, DB = A.to_dense(), B.to_dense()
    dtype = promote(DA.dtype, DB.dtype)
    single = any(d in (torch.float32, torch.complex64) for d in (DA.dtype, DB.dtype))
    rtol = RTOL * default_rtol(torch.float32 if single else dtype)  # a single-precision input carries its rounding
    assert_close((A @ B).to_dense(), DA.to(dtype) @ DB.to(dtype), rtol)
    assert_close((A + B).to_dense(), DA.to(dtype) + DB.to(dtype), rtol)
    assert_close(A.N.to_dense(), DA.mH @ DA, RTOL * default_rtol(DA.dtype))
    assert_close(A.H.to_dense(), DA.mH, RTOL * default_rtol(DA.dtype))
    x = torch.randn(N, dtype=complex_dtype(dtype) if dtype.is_complex else dtype)
    y = A @ x
    assert y.dtype == promote(DA.dtype, x.dtype)
    assert_close(y, DA.to(y.dtype) @ x.to(y.dtype), RTOL * default_rtol(DA.dtype))  # DA carries A's own rounding
    assert A.H.H is A
