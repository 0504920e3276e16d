"""Structured catalog: counted no-densify tests, composition rules, torch functions,
Woodbury inverse and determinant lemma (DESIGN §3–5). Densify is "error" in every test."""

import pytest
import torch
from registry import randn

import lazylinops as ll
from lazylinops.testing import assert_close

C128 = torch.complex128


class Strict(ll.LinearOperator):
    """A dense-weighted factor that counts its applies and refuses to be densified."""

    calls = 0

    def __init__(self, W, name):
        super().__init__(ishape=name + "i", oshape=name + "o", isize=W.shape[1:], osize=W.shape[:1], dtype=W.dtype)
        self.W = W

    def _apply(self, x):
        Strict.calls += 1
        return x @ self.W.to(x.dtype).mT

    def _apply_adjoint(self, y):
        Strict.calls += 1
        return y @ self.W.to(y.dtype).conj()

    def _to_dense(self):
        raise AssertionError("a Kronecker factor was densified")


# ------------------------------------------------------------------ Kronecker
def test_kron_apply_is_factorwise_never_dense():
    A, B = randn(3, 4, dtype=C128, seed=1), randn(5, 2, dtype=C128, seed=2)
    K = ll.Kronecker(Strict(A, "A"), Strict(B, "B"))
    dense = torch.kron(A, B)
    X = randn(8, 7, dtype=C128, seed=3)
    Strict.calls = 0
    assert_close(K @ X, dense @ X, 1e-10)
    assert Strict.calls == 2  # one batched apply per factor, whatever the batch
    Y = randn(15, 2, dtype=C128, seed=4)
    Strict.calls = 0
    assert_close(K.H @ Y, dense.mH @ Y, 1e-10)
    assert Strict.calls == 2
    assert_close(K(randn(6, 4, 2, dtype=C128, seed=5)).reshape(6, 15), randn(6, 8, dtype=C128, seed=5) @ dense.T, 1e-10)


def test_kron_names_clash_suffix_and_first_factor_slowest():
    A, B = ll.Dense(randn(2, 3, dtype=C128, seed=6)), ll.Dense(randn(4, 2, dtype=C128, seed=7))
    K = ll.Kronecker(A, B)
    assert K.ishape == ("i0", "i0_1") and K.oshape == ("o0", "o0_1")
    assert_close(K.to_dense(), torch.kron(A.to_dense(), B.to_dense()), 1e-10)


def test_kron_structure_H_N_inverse_diagonal():
    A = ll.Dense(randn(3, 3, dtype=C128, seed=8) + 3 * torch.eye(3))
    B = ll.Diagonal(randn(4, dtype=C128, seed=9) + 3)
    K = ll.Kronecker(A, B)
    D = torch.kron(A.to_dense(), B.to_dense())
    assert type(K.H) is ll.Kronecker and type(K.N) is ll.Kronecker
    assert_close(K.N.to_dense(), D.mH @ D, 1e-10)
    K2 = ll.Kronecker(ll.Diagonal(randn(3, dtype=C128, seed=10) + 3), B)
    inv = K2._inverse()
    assert type(inv) is ll.Kronecker
    assert_close(inv.to_dense(), torch.linalg.inv(K2.to_dense()), 1e-10)
    assert_close(K.diagonal(), D.diagonal(), 1e-10)
    assert_close(torch.trace(K), torch.trace(D), 1e-10)


def test_kron_times_kron_folds():
    A, B = ll.Dense(randn(3, 2, dtype=C128, seed=11)), ll.Dense(randn(2, 4, dtype=C128, seed=12))
    C, E = ll.Dense(randn(2, 5, dtype=C128, seed=13)), ll.Dense(randn(4, 3, dtype=C128, seed=14))
    P = ll.Kronecker(A, B) @ ll.Kronecker(C.rename(oshape=A.ishape), E.rename(oshape=B.ishape))
    assert type(P) is ll.Kronecker and len(P.ops) == 2  # (A ⊗ B)(C ⊗ E) = AC ⊗ BE
    assert_close(P.to_dense(), torch.kron(A.to_dense(), B.to_dense()) @ torch.kron(C.to_dense(), E.to_dense()), 1e-10)


# ------------------------------------------------------------------ Permutation
def test_permutation_semantics_and_folding():
    p, q = torch.tensor([2, 0, 3, 1]), torch.tensor([3, 1, 0, 2])
    P, Q = ll.Permutation(p, dtype=torch.float64), ll.Permutation(q, dtype=torch.float64)
    x = randn(4, dtype=torch.float64, seed=15)
    assert_close(P @ x, x.index_select(-1, p), 1e-10)
    assert P.to_dense()[0, 2] == 1
    PQ = P @ Q
    assert type(PQ) is ll.Permutation  # P₁ P₂ = one permutation
    assert_close(PQ.to_dense(), P.to_dense() @ Q.to_dense(), 1e-10)
    assert type(P.H @ P) is ll.Identity and type(P.N) is ll.Identity
    assert_close(P._inverse().to_dense(), torch.linalg.inv(P.to_dense()), 1e-10)
    assert_close(torch.trace(PQ), torch.trace(PQ.to_dense()), 1e-10)
    with pytest.raises(ValueError, match="exactly once"):
        ll.Permutation(torch.tensor([0, 0, 1]))


def test_permutation_along_named_dim():
    P = ll.Permutation(torch.tensor([1, 2, 0]), "CN", dim="C", size=(3, 2), dtype=C128)
    x = randn(3, 2, dtype=C128, seed=16)
    assert_close(P(x), x.index_select(0, torch.tensor([1, 2, 0])), 1e-10)


# ------------------------------------------------------------------ Woodbury and logdet
def _dlr(dtype, seed, rank=3, n=8):
    d = randn(n, dtype=dtype, seed=seed) + 4
    U, V = randn(n, rank, dtype=dtype, seed=seed + 1) / 2, randn(n, rank, dtype=dtype, seed=seed + 2) / 2
    return ll.Diagonal(d) + ll.LowRank(U, V)


@pytest.mark.parametrize("dt", [torch.float64, C128])
def test_woodbury_inverse_matches_dense(dt):
    dtype = dt
    A = _dlr(dtype, 20)
    W = A._inverse()
    assert type(W) is ll.Woodbury
    assert_close(W.to_dense(), torch.linalg.inv(A.to_dense()), 1e-10)
    assert_close(W.H.to_dense(), torch.linalg.inv(A.to_dense()).mH, 1e-10)
    b = randn(8, 2, dtype=dtype, seed=24)
    assert_close(W @ b, torch.linalg.solve(A.to_dense(), b), 1e-10)  # apply: never densified (mode "error")


def test_woodbury_variants_scalar_identity_and_two_lowranks():
    U, V = randn(6, 2, dtype=C128, seed=25), randn(6, 1, dtype=C128, seed=26)
    for A in (
        ll.Scalar(2.0, (6,), dtype=C128) + ll.LowRank(U),
        ll.Identity((6,), dtype=C128) + ll.LowRank(U) + ll.LowRank(V, randn(6, 1, dtype=C128, seed=27)),
        ll.LowRank(U) * 0.5 + ll.Diagonal(randn(6, dtype=C128, seed=28) + 3),
    ):
        W = A._inverse()
        assert type(W) is ll.Woodbury, type(A.ops[0])
        assert_close(W.to_dense(), torch.linalg.inv(A.to_dense()), 1e-10)


def test_woodbury_solve_never_densifies():
    if not hasattr(ll, "solve"):
        pytest.skip("ll.solve is written concurrently")
    A = _dlr(torch.float64, 30)
    b = randn(8, dtype=torch.float64, seed=31)
    assert_close(torch.linalg.solve(A, b), torch.linalg.solve(A.to_dense(), b), 1e-10)


def test_woodbury_gradients_flow_to_weights():
    d = (randn(5, dtype=torch.float64, seed=32) + 4).requires_grad_()
    U = randn(5, 2, dtype=torch.float64, seed=33).requires_grad_()
    W = (ll.Diagonal(d) + ll.LowRank(U))._inverse()
    b = randn(5, dtype=torch.float64, seed=34)
    (W @ b).sum().backward()
    d2, U2 = d.detach().clone().requires_grad_(), U.detach().clone().requires_grad_()
    torch.linalg.solve(torch.diag(d2) + U2 @ U2.T, b).sum().backward()
    assert_close(d.grad, d2.grad, 1e-8)
    assert_close(U.grad, U2.grad, 1e-8)


@pytest.mark.parametrize("dt", [torch.float64, C128])
def test_logdet_matches_slogdet(dt):
    dtype = dt
    A = _dlr(dtype, 35)
    sign, logabs = torch.linalg.slogdet(A.to_dense())
    s2, l2 = ll.slogdet(A)
    assert_close(s2, sign, 1e-10)
    assert_close(l2, logabs, 1e-10)
    assert_close(ll.logdet(A), torch.logdet(A.to_dense()), 1e-10)
    assert_close(torch.logdet(A), torch.logdet(A.to_dense()), 1e-10)  # structured torch function
    s3, l3 = torch.linalg.slogdet(A)
    assert_close(l3, logabs, 1e-10)
    assert_close(torch.det(A), torch.linalg.det(A.to_dense()), 1e-10)
    for B in (
        ll.Diagonal(randn(4, dtype=dtype, seed=36) + 3),
        ll.Scalar(2.5, (3,), dtype=dtype),
        ll.Identity((3,), dtype=dtype),
        ll.Kronecker(ll.Diagonal(randn(2, dtype=dtype, seed=37) + 3), A),
        ll.Permutation(torch.tensor([1, 0, 2]), dtype=dtype),
    ):
        s, l = torch.linalg.slogdet(B.to_dense())
        s2, l2 = ll.slogdet(B)
        assert_close(s2, s, 1e-10)
        assert_close(l2, l, 1e-10)


def test_logdet_negative_and_unsupported():
    A = ll.Diagonal(torch.tensor([-1.0, 2.0], dtype=torch.float64)) + ll.LowRank(torch.zeros(2, 1, dtype=torch.float64))
    assert torch.isnan(ll.logdet(A)) and torch.isnan(torch.logdet(A.to_dense()))
    with pytest.raises(ValueError, match="no structured determinant"):
        ll.logdet(ll.FFT((3,)) + ll.Dense(torch.eye(3, dtype=torch.complex64)))  # a sum with no known structure
    W = randn(3, 3, dtype=torch.float64, seed=3)
    with ll.set_densify("error"):  # a Dense weight: its LU, structurally (and in Kronecker products of them)
        Wt = W.T.contiguous()  # torch.kron of a non-contiguous tensor raises in torch 2.13
        assert_close(ll.logdet(ll.Kronecker(ll.Dense(W), ll.Dense(Wt))), torch.logdet(torch.kron(W, Wt)))


# ------------------------------------------------------------------ torch functions
def test_torch_cat_kron_block_diag_equal_dense():
    A = ll.Dense(randn(2, 4, dtype=C128, seed=40))
    B = ll.Diagonal(randn(2, 2, dtype=torch.float64, seed=41), "HW")
    C = ll.Dense(randn(2, 3, dtype=C128, seed=42))
    rows = torch.cat([A, B])
    assert type(rows) is ll.Concat and rows.dtype == C128 and rows.oshape == A.oshape
    assert_close(rows.to_dense(), torch.cat([A.to_dense(), B.to_dense().to(C128)]), 1e-10)
    cols = torch.cat([A, C], dim=1)
    assert_close(cols.to_dense(), torch.cat([A.to_dense(), C.to_dense()], dim=1), 1e-10)
    K = torch.kron(A, C)
    assert type(K) is ll.Kronecker
    assert_close(K.to_dense(), torch.kron(A.to_dense(), C.to_dense()), 1e-10)
    BD = torch.block_diag(A, B, C)
    assert type(BD) is ll.Concat
    assert_close(BD.to_dense(), torch.block_diag(A.to_dense(), B.to_dense().to(C128), C.to_dense()), 1e-10)


def test_block_diagonal_concat_inverse_normal_diagonal():
    D1, D2 = ll.Diagonal(randn(2, dtype=C128, seed=44) + 3), ll.Diagonal(randn(3, dtype=C128, seed=45) + 3)
    BD = torch.block_diag(D1, D2)
    dense = BD.to_dense()
    assert_close(BD._inverse().to_dense(), torch.linalg.inv(dense), 1e-10)
    assert type(BD.N) is ll.Concat
    assert_close(BD.N.to_dense(), dense.mH @ dense, 1e-10)
    assert_close(BD.diagonal(), dense.diagonal(), 1e-10)


@pytest.mark.parametrize(
    "key",
    [
        (slice(1, 4), slice(2, 6)),
        (slice(0, 6), slice(1, 2)),
        (slice(3, None),),
        (slice(None), slice(None, 3)),
        (slice(2, 4), slice(None)),
    ],
)
def test_slicing_is_lazy_and_equals_dense(key):
    A = ll.Dense(randn(6, 7, dtype=C128, seed=46))
    K = ll.Kronecker(ll.Dense(randn(3, 2, dtype=C128, seed=47)), ll.Dense(randn(2, 4, dtype=C128, seed=48)))
    for op in (A, K, ll.FFT((2, 3), "HW") @ ll.Diagonal(randn(2, 3, dtype=C128, seed=49), "HW")):
        sub = op[key]
        assert isinstance(sub, ll.LinearOperator)
        assert_close(sub.to_dense(), op.to_dense()[key], 1e-10)


def test_slicing_whole_rows_uses_split_and_other_indexing_densifies():
    K = ll.Kronecker(ll.Dense(randn(3, 2, dtype=C128, seed=50)), ll.Dense(randn(2, 4, dtype=C128, seed=51)))
    assert type(K[2:6, :]) is ll.Kronecker  # rows 2:6 are whole rows of the first factor
    with pytest.raises(ll.DensifyError):
        K[0]
    with ll.set_densify("allow"):
        assert_close(K[1], K.to_dense()[1], 1e-10)


def test_diagonal_and_trace_structured():
    for A in (
        ll.LowRank(randn(4, 2, dtype=C128, seed=52), randn(4, 2, dtype=C128, seed=53)),
        ll.Permutation(torch.tensor([0, 2, 1, 3]), dtype=C128),
        ll.Kronecker(ll.LowRank(randn(2, 1, dtype=C128, seed=54)), ll.Permutation(torch.tensor([1, 0]), dtype=C128)),
    ):
        assert_close(A.diagonal(), A.to_dense().diagonal(), 1e-10)
        assert_close(torch.trace(A), torch.trace(A.to_dense()), 1e-10)


# ------------------------------------------------------------------ rules and errors
def test_lowrank_rules():
    U, V = randn(5, 2, dtype=C128, seed=55), randn(4, 2, dtype=C128, seed=56)
    L = ll.LowRank(U, V)
    D = ll.Diagonal(randn(5, dtype=C128, seed=57), L.oshape)
    for op, ref in (
        (2 * L, 2 * L.to_dense()),
        (D @ L, D.to_dense() @ L.to_dense()),
        (L @ L.H, L.to_dense() @ L.to_dense().mH),
    ):
        assert type(op) is ll.LowRank
        assert_close(op.to_dense(), ref, 1e-10)
    assert type(L.N) is ll.LowRank


def test_pad_crop_pair_and_windows():
    P = ll.Pad((3, 4), {"W": (1, 2)}, "HW", dtype=C128)
    assert type(P.H) is ll.Crop and type(P.H @ P) is ll.Identity  # Crop(w) Pad(w) = I
    assert type(P.N) is ll.Identity and type(P.H.N) is ll.Mask
    x = randn(3, 4, dtype=C128, seed=58)
    assert_close(P(x), torch.nn.functional.pad(x, (1, 2)), 1e-10)
    PP = ll.Pad((3, 7), 1, "HW", dtype=C128) @ P
    assert type(PP) is ll.Pad and PP.osize == (5, 9)


def test_concat_sample_mask_errors_name_shapes():
    A, B = ll.Dense(torch.ones(2, 3), ishape="N", oshape="M"), ll.Dense(torch.ones(2, 4), ishape="K", oshape="M")
    with pytest.raises(ll.ShapeError, match="⟨K:4⟩.*⟨N:3⟩"):
        ll.Concat(A, B, odim="M")
    with pytest.raises(IndexError, match="out of range"):
        ll.Sample(torch.tensor([5]), (3,))
    with pytest.raises(ValueError, match="0 or 1"):
        ll.Mask(torch.tensor([0.5, 1.0]))
    with pytest.raises(ll.ShapeError, match="Kronecker|LowRank|cannot be split"):
        ll.LowRank(torch.ones(3, 1))._split({"d0": slice(0, 1)})


def test_sample_adjoint_scatter_adds_and_normal_counts():
    S = ll.Sample(torch.tensor([1, 1, 3]), (4,), "N", dtype=torch.float64)
    assert_close(
        S.H @ torch.ones(3, dtype=torch.float64), torch.tensor([0.0, 2.0, 0.0, 1.0], dtype=torch.float64), 1e-10
    )
    assert type(S.N) is ll.Diagonal


def test_sparse_csr_and_split():
    W = randn(5, 4, dtype=C128, seed=59) * (randn(5, 4, dtype=torch.float64, seed=60).abs() > 0.5)
    S = ll.Sparse(W.to_sparse(), "N", "M")
    assert_close(S.to_dense(), W, 1e-10)
    assert_close(S._split({"M": slice(1, 3)}).to_dense(), W[1:3], 1e-10)
    assert_close(S.H @ randn(5, dtype=C128, seed=61), W.mH @ randn(5, dtype=C128, seed=61), 1e-10)
