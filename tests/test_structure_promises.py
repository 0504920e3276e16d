"""What DESIGN §3 promises of the structure: ``diagonal``/``trace`` without densifying for rectangular
Dense, LowRank, rectangular Kronecker and scaled operators; Kronecker normals of unitary factors fold
to Identity; Kronecker @ Kronecker with matching factor sizes multiplies factorwise whatever the
names; lazy slices of a ``torch.cat`` of mixed blocks keep their adjoint. Densify is "error" in every
test (conftest), so a structured path that falls back to the dense matrix fails here."""

import pytest
import torch
from registry import randn

import lazylinops as ll
from lazylinops.testing import assert_close

F64, C128 = torch.float64, torch.complex128


def _diag_checks(A, what):
    """torch.diagonal / Tensor.diagonal / torch.diag / trace on ``A`` equal torch on its dense matrix."""
    D = A.to_dense()
    for name, f in (
        ("torch.diagonal", torch.diagonal),
        ("A.diagonal", lambda X: X.diagonal()),
        ("torch.diag", torch.diag),
        ("A.diag", lambda X: X.diag()),
        ("dims swapped", lambda X: torch.diagonal(X, 0, 1, 0)),
        ("negative dims", lambda X: torch.diagonal(X, dim1=-2, dim2=-1)),
    ):
        got = f(A)
        assert type(got) is torch.Tensor, f"{what} {name}: {type(got).__name__}"
        assert_close(got, f(D), what=f"{what} {name}")
    assert_close(torch.trace(A), torch.trace(D), what=f"{what} torch.trace")
    assert_close(A.trace(), D.trace(), what=f"{what} A.trace")


def _wide_tall(dtype, seed):
    return [randn(3, 5, dtype=dtype, seed=seed), randn(5, 3, dtype=dtype, seed=seed + 1)]


# ------------------------------------------------------------------ a. diagonal / trace
@pytest.mark.parametrize("dt", [F64, C128])
def test_rectangular_dense_diagonal(dt):
    for W in _wide_tall(dt, 1):
        _diag_checks(ll.Dense(W), f"Dense {tuple(W.shape)}")
        _diag_checks(ll.Dense(W.reshape(W.shape[0], 1, W.shape[1]), ishape=("a", "b"), oshape=("c",)), "Dense named")


@pytest.mark.parametrize("dt", [F64, C128])
def test_einsum_dense_diagonal_and_entries(dt):
    S = ll.Dense(randn(2, 3, 4, dtype=dt, seed=2), "CHW", ishape="HW", oshape="CHW")  # coil maps: (24, 12)
    _diag_checks(S, "Dense einsum (coil maps)")
    G = ll.Dense(randn(3, 4, 5, dtype=dt, seed=3), "ABK", ishape="B", oshape="A")  # K weight-only: summed
    _diag_checks(G, "Dense einsum (summed label)")
    rows, cols = torch.tensor([0, 5, 23, 7]), torch.tensor([0, 11, 3, 7])
    assert_close(S.entries(rows, cols), S.to_dense()[rows, cols], what="Dense.entries")


@pytest.mark.parametrize("dt", [F64, C128])
def test_lowrank_diagonal_any_shape(dt):
    U, V = randn(4, 2, dtype=dt, seed=4), randn(6, 2, dtype=dt, seed=5)
    for L in (ll.LowRank(U, V), ll.LowRank(V, U), ll.LowRank(U)):
        _diag_checks(L, f"LowRank {tuple(L.shape)}")


@pytest.mark.parametrize("dt", [F64, C128])
def test_rectangular_kronecker_diagonal(dt):
    A, B = randn(2, 3, dtype=dt, seed=6), randn(4, 5, dtype=dt, seed=7)
    S, T = randn(3, 3, dtype=dt, seed=8), randn(2, 4, dtype=dt, seed=9)
    U, V = randn(4, 2, dtype=dt, seed=10), randn(5, 2, dtype=dt, seed=11)
    cases = {
        "rect ⊗ rect (factor entries, not diag ⊗ diag)": ll.Kronecker(ll.Dense(A), ll.Dense(B)),
        "rect ⊗ square": ll.Kronecker(ll.Dense(A), ll.Dense(S)),
        "square ⊗ rect": ll.Kronecker(ll.Dense(S), ll.Dense(T)),
        "rect ⊗ Diagonal": ll.Kronecker(ll.Dense(T), ll.Diagonal(randn(3, dtype=dt, seed=12))),
        "LowRank ⊗ rect": ll.Kronecker(ll.LowRank(U, V), ll.Dense(A)),
        "three factors": ll.Kronecker(ll.Dense(A), ll.Dense(S), ll.Dense(T)),
    }
    for what, K in cases.items():
        _diag_checks(K, f"Kronecker {what}")


def test_rectangular_kronecker_diagonal_is_not_kron_of_diagonals():
    # the point of the formula: for non-square factors diag(A ⊗ B) ≠ diag(A) ⊗ diag(B)
    A, B = randn(2, 3, dtype=F64, seed=13), randn(4, 5, dtype=F64, seed=14)
    got = ll.Kronecker(ll.Dense(A), ll.Dense(B)).diagonal()
    naive = torch.kron(A.diagonal(), B.diagonal())
    assert got.shape == naive.shape and not torch.allclose(got, naive)


def test_kronecker_diagonal_refuses_unknown_entries():
    # a rectangular factor without entry access where its digits disagree: densify, never guess
    D, W = ll.Diagonal(randn(3, dtype=C128, seed=16)), ll.Dense(randn(2, 4, dtype=C128, seed=15))
    assert ll.Kronecker(W, D)._diagonal() is not None  # D last: its row and column digits agree
    assert ll.Kronecker(D, W)._diagonal() is None  # D first: D[i // 2, i // 4] is off D's diagonal
    Kb = ll.Kronecker(ll.Dense(randn(2, 4, dtype=C128, seed=15)), ll.Pad((3,), ((0, 1),), dtype=C128))
    assert Kb._diagonal() is None
    with ll.set_densify("warn"), pytest.warns(ll.DensifyWarning):
        d = Kb.diagonal()
    assert_close(d, Kb.to_dense().diagonal(), what="densified diagonal")


@pytest.mark.parametrize("dt", [F64, C128])
def test_scaled_and_negated_diagonal(dt):
    W = randn(4, 4, dtype=dt, seed=16)
    A, R = ll.Dense(W), ll.Dense(randn(3, 5, dtype=dt, seed=17))
    P = ll.Permutation(torch.tensor([1, 0, 2, 3]), dtype=dt)
    d = ll.Diagonal(randn(4, dtype=dt, seed=18))
    cases = {
        "2.5 * Dense": 2.5 * A,
        "-Dense": -A,
        "Dense / 2": A / 2,
        "2 * Permutation": 2 * P,
        "(1+2j) * Dense": (1 + 2j) * A,
        "-(rectangular Dense)": -R,
        "2 * LowRank": 2 * ll.LowRank(randn(4, 2, dtype=dt, seed=19)),
        "D @ Dense @ D": ll.Chain(d, A, d),
        "Dense - 2 * Dense": A - 2 * ll.Dense(randn(4, 4, dtype=dt, seed=20)),
    }
    for what, X in cases.items():
        assert isinstance(X, ll.LinearOperator), what
        _diag_checks(X, what)


def test_chain_of_two_general_factors_densifies():
    A, B = ll.Dense(randn(4, 4, dtype=F64, seed=21)), ll.Dense(randn(4, 4, dtype=F64, seed=22))
    C = ll.Chain(A, B)
    assert C._diagonal() is None  # diag(AB) needs more than the factors' diagonals
    with pytest.raises(ll.DensifyError):
        torch.trace(C)


def test_diagonal_offsets_densify_and_match():
    A = ll.Dense(randn(3, 5, dtype=F64, seed=23))
    D = A.to_dense()
    with ll.set_densify("warn"), pytest.warns(ll.DensifyWarning):
        assert_close(torch.diagonal(A, offset=1), torch.diagonal(D, offset=1), what="offset=1")
    with ll.set_densify("warn"), pytest.warns(ll.DensifyWarning):
        assert_close(torch.diag(A, diagonal=-1), torch.diag(D, diagonal=-1), what="torch.diag(diagonal=-1)")
    with pytest.raises(IndexError):
        torch.diagonal(A, dim1=2)


def test_diagonal_never_aliases_a_weight():
    W = randn(3, 5, dtype=F64, seed=24)
    d = torch.diagonal(ll.Dense(W))
    d += 1
    assert_close(W.diagonal(), randn(3, 5, dtype=F64, seed=24).diagonal(), what="weight after writing the diagonal")


# ------------------------------------------------------------------ b. Kronecker normals
def test_kronecker_of_unitary_ffts_normal_is_identity():
    F1, F2 = ll.FFT((4,), "a", dtype=C128), ll.FFT((3,), "b", dtype=C128)
    K = ll.Kronecker(F1, F2)
    assert type(K.N) is ll.Identity and K.N.ishape == K.ishape
    D = ll.Diagonal(randn(4, 3, dtype=C128, seed=25), K.ishape)
    N = (K @ D).N
    assert type(N) is ll.Diagonal
    M = (K @ D).to_dense()
    assert_close(N.to_dense(), M.mH @ M, what="(Kron(F, F) @ D).N")


def test_kronecker_normal_of_unnormalised_ffts_is_a_scalar():
    K = ll.Kronecker(ll.FFT((4,), "a", norm="backward", dtype=C128), ll.FFT((3,), "b", norm="forward", dtype=C128))
    N = K.N
    assert type(N) is ll.Scalar  # (4 I) ⊗ (I / 3) = (4/3) I: not Identity
    M = K.to_dense()
    assert_close(N.to_dense(), M.mH @ M, what="Kron(F_backward, F_forward).N")


# ------------------------------------------------------------------ c. Kronecker @ Kronecker
@pytest.mark.parametrize("dt", [F64, C128])
def test_kronecker_product_with_rectangular_factors(dt):
    L = ll.Kronecker(ll.Dense(randn(3, 4, dtype=dt, seed=26)), ll.Dense(randn(5, 6, dtype=dt, seed=27)))
    R = ll.Kronecker(ll.Dense(randn(4, 2, dtype=dt, seed=28)), ll.Dense(randn(6, 7, dtype=dt, seed=29)))
    assert L.ishape != R.oshape  # default names differ; the sizes match
    P = L @ R
    assert type(P) is ll.Kronecker and len(P.ops) == 2
    assert (P.ishape, P.oshape) == (R.ishape, L.oshape)
    assert_close(P.to_dense(), L.to_dense() @ R.to_dense(), what="Kron @ Kron")
    for f in P.ops:  # no name labels two dims of different sizes inside a factor product
        sizes = {}
        for op in f.ops:
            for n, s in (*zip(op.ishape, op.isize), *zip(op.oshape, op.osize)):
                assert sizes.setdefault(n, s) == s, f"name {n!r} labels sizes {sizes[n]} and {s}"


def test_kronecker_product_needs_matching_factor_sizes():
    L = ll.Kronecker(ll.Dense(randn(3, 4, dtype=F64, seed=30)), ll.Dense(randn(5, 6, dtype=F64, seed=31)))
    R = ll.Kronecker(ll.Dense(randn(6, 2, dtype=F64, seed=32)), ll.Dense(randn(4, 7, dtype=F64, seed=33)))
    P = L @ R  # 24 = 4·6 = 6·4: same flat size, factors do not pair up
    assert type(P) is ll.Chain
    assert_close(P.to_dense(), L.to_dense() @ R.to_dense(), what="Kron @ Kron (mismatched factors)")


# ------------------------------------------------------------------ d. slices of torch.cat
def _mixed_blocks():
    return [
        ll.Dense(randn(4, 4, dtype=C128, seed=34)),
        ll.Diagonal(randn(2, 2, dtype=C128, seed=35), "HW"),
        ll.Permutation(torch.tensor([1, 0]), "HW", dim="H", size=(2, 2), dtype=C128),
        ll.FFT((2, 2), "HW", dtype=C128),
        ll.LowRank(randn(4, 2, dtype=C128, seed=36), randn(4, 2, dtype=F64, seed=37)),
    ]


@pytest.mark.parametrize("how", ["rows", "columns", "block_diag"])
def test_cat_slices_keep_their_adjoint(how):
    blocks = _mixed_blocks()
    for first in range(len(blocks)):
        ops = blocks[first:] + blocks[:first]  # each block first once: its names become the joined name
        K = torch.block_diag(*ops) if how == "block_diag" else torch.cat(ops, 0 if how == "rows" else 1)
        M = K.to_dense()
        m, n = M.shape
        for i, j, k, l in ((1, m - 2, 0, n), (0, m, 1, n - 1), (2, 7, 1, 3), (m // 2 + 1, m, 0, 4)):
            S = K[i:j, k:l]
            assert isinstance(S, ll.LinearOperator)
            ref = M[i:j, k:l]
            what = f"{how} {[type(b).__name__ for b in ops]} [{i}:{j}, {k}:{l}]"
            assert_close(S.H.to_dense(), ref.mH, what=f"{what} .H")
            y = randn(S.shape[0], dtype=C128, seed=38)
            assert_close(S.H @ y, ref.mH @ y, what=f"{what} .H @ y")
            assert_close(S.conj().to_dense(), ref.conj(), what=f"{what} .conj()")
            assert_close(S.N.to_dense(), ref.mH @ ref, what=f"{what} .N")


def test_concat_with_a_joined_name_rebuilds():
    # torch.cat joins differing names into one dim named "H·W"; rebuilding the Concat (adjoint, rename,
    # inverse) must keep it one name, not parse it as the two dims "H·" and "W"
    K = torch.cat([ll.Diagonal(randn(2, 2, dtype=C128, seed=39), "HW"), ll.Dense(randn(4, 4, dtype=C128, seed=40))])
    assert K.oshape == ("H·W",)
    assert K.H.ishape == ("H·W",) and K.H.H.oshape == ("H·W",)
    P = ll.Permutation(torch.tensor([2, 0, 1]), ("H·W",), dtype=C128)
    assert P.H.ishape == ("H·W",) and P.rename(("H·W",), ("H·W",)).ishape == ("H·W",)


# ------------------------------------------------------------------ e. out= never reaches a rule
def test_out_is_refused_before_the_structure_rules():
    A = ll.Dense(randn(2, 2, dtype=F64, seed=41))
    for f in (lambda: torch.cat([A, A], out=torch.empty(4, 2)), lambda: torch.kron(A, A, out=torch.empty(4, 4))):
        with pytest.raises(ll.ImmutableError):
            f()
    assert type(torch.cat([A, A], out=None)) is ll.Concat  # out=None is no request
    assert type(torch.kron(A, A, out=None)) is ll.Kronecker
