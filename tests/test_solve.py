"""ll.solve / ll.inv / ll.lstsq and their torch.linalg entry points against dense torch.linalg."""

import pytest
import torch
from registry import randn

import lazylinops as ll
import lazylinops.testing
from lazylinops.testing import assert_close


def tol(dtype, entry=None):
    """The rtol for a solve in ``dtype`` on a registry entry (scaled by the entry's conditioning)."""
    base = 2e-3 if dtype in (torch.float32, torch.complex64) else 1e-8
    return base * (entry.rtol if entry is not None else 1.0)


def test_solve_matches_dense(op, entry, dtype):
    if not entry.invertible:
        pytest.skip("not invertible")
    A = op
    D = A.to_dense()
    n = A.shape[0]
    for b in (randn(n, dtype=dtype, seed=51), randn(2, n, 3, dtype=dtype, seed=52)):
        out = torch.promote_types(A.dtype, dtype)
        expected = torch.linalg.solve(D.to(out), b.to(out))
        assert_close(torch.linalg.solve(A, b), expected, tol(dtype, entry), f"torch.linalg.solve {tuple(b.shape)}")
        assert_close(torch.linalg.inv(A) @ b, expected, tol(dtype, entry), f"inv(A) @ b {tuple(b.shape)}")
    assert_close(torch.inverse(A) @ b, expected, tol(dtype, entry), "torch.inverse(A) @ b")


def test_inverse_adjoint_and_named(op, entry, dtype):
    if not entry.invertible:
        pytest.skip("not invertible")
    A = op
    D = A.to_dense()
    Ainv = ll.inv(A)
    y = randn(*A.isize, dtype=dtype, seed=53)
    out = torch.promote_types(A.dtype, dtype)
    expected = torch.linalg.solve(D.mH.to(out), y.reshape(-1).to(out))
    assert_close(Ainv.H(y).reshape(-1), expected, tol(dtype, entry), "inv(A).H(y)")
    z = randn(*A.osize, dtype=dtype, seed=54)
    assert_close(
        Ainv(z).reshape(-1), torch.linalg.solve(D.to(out), z.reshape(-1).to(out)), tol(dtype, entry), "inv(A)(z)"
    )
    assert Ainv.ishape == A.oshape and Ainv.oshape == A.ishape


def test_lstsq_tall(op, entry, dtype):
    if "tall" not in entry.tags:
        pytest.skip("not tall")
    A = op
    D = A.to_dense()
    b = randn(A.shape[0], 2, dtype=dtype, seed=55)
    out = torch.promote_types(A.dtype, dtype)
    expected = torch.linalg.lstsq(D.to(out), b.to(out)).solution
    res = torch.linalg.lstsq(A, b)
    assert type(res).__name__ == "linalg_lstsq"
    assert_close(res.solution, expected, tol(dtype, entry), "lstsq")
    want = ((b.to(out) - D.to(out) @ expected).abs() ** 2).sum(0)
    assert_close(res.residuals, want, tol(dtype, entry), "residuals")
    x = ll.lstsq(A, b[:, 0], method="cgls")
    assert_close(x, expected[:, 0], tol(dtype, entry), "cgls vector")


def test_structural_solves_count_no_matvecs(dtype):
    d = randn(4, 4, dtype=dtype, seed=1) + 3
    cdt = torch.complex128 if dtype in (torch.float64, torch.complex128) else torch.complex64
    F = ll.FFT((4, 4), "HW", dtype=cdt)
    ops = [
        ll.Diagonal(d, "HW"),
        F,
        F @ ll.Diagonal(d, "HW"),
        ll.Dense(randn(6, 6, dtype=dtype, seed=2) + 4 * torch.eye(6, dtype=dtype)),
    ]
    for A in ops:
        x, info = ll.solve(A, randn(A.shape[0], dtype=dtype, seed=3), return_info=True)
        factored = type(A) is ll.Dense  # an LU is checked by one measured residual; structural ones are exact
        assert info.method == "structural" and info.matvecs == int(factored) and info.iterations == 0
        assert info.converged and bool(torch.isnan(info.residual_norm)) != factored


def test_auto_method_choice():
    A = ll.Dense(randn(8, 5, dtype=torch.float64, seed=4))
    lam = 0.5
    N = A.N + lam * ll.Identity(A.isize, A.ishape, dtype=torch.float64)
    assert {"hermitian", "pd"} <= N.tags
    b = randn(5, dtype=torch.float64, seed=5)
    x, info = ll.solve(N, b, return_info=True)
    assert info.method in ("cg", "structural")
    F = ll.FFT((8,), "N", dtype=torch.complex128)
    B = ll.Diagonal(randn(8, dtype=torch.float64, seed=6).abs() + 0.1, "N") @ F
    NB = B.N + 0.1 * ll.Identity((8,), "N", dtype=torch.complex128)
    x, info = ll.solve(NB, randn(8, dtype=torch.complex128, seed=7), return_info=True)
    assert info.method == "cg" and info.converged and info.matvecs == info.iterations + 1  # + the true residual
    H = B.N - 0.5 * ll.Identity((8,), "N", dtype=torch.complex128)
    assert "hermitian" in H.tags and "pd" not in H.tags
    assert ll.solve(H, randn(8, dtype=torch.complex128, seed=8), return_info=True)[1].method == "minres"
    I8 = ll.Identity((8,), "N", dtype=torch.complex128)
    G = ll.Diagonal(randn(8, dtype=torch.complex128, seed=9) + 2, "N") @ F + I8
    x, info = ll.solve(G, randn(8, dtype=torch.complex128, seed=10), return_info=True)
    assert info.method == "gmres" and info.converged


def test_refusals_name_solver_and_tag():
    G = ll.Dense(randn(4, 4, dtype=torch.float64, seed=11))
    with pytest.raises(ValueError, match="cg.*hermitian"):
        ll.solve(G, torch.ones(4, dtype=torch.float64), method="cg")
    with pytest.raises(ValueError, match="minres.*hermitian"):
        ll.solve(G, torch.ones(4, dtype=torch.float64), method="minres")
    with pytest.raises(ValueError, match="method must be one of"):
        ll.solve(G, torch.ones(4, dtype=torch.float64), method="qr")
    with pytest.raises(ValueError, match="on_failure"):
        ll.solve(G, torch.ones(4, dtype=torch.float64), on_failure="loud")
    with pytest.raises(TypeError, match="wrong dtype|dtype"):
        ll.solve(G, torch.ones(4, dtype=torch.int64))
    with pytest.raises(ll.ShapeError):
        ll.solve(G, torch.ones(5, dtype=torch.float64))


def test_dtype_promotion():
    A = ll.Dense(randn(4, 4, dtype=torch.float32, seed=12) + 3 * torch.eye(4))
    b = randn(4, dtype=torch.complex128, seed=13)
    x = ll.solve(A, b)
    assert x.dtype == torch.complex128
    x = ll.solve(A, b, method="gmres")
    assert x.dtype == torch.complex128
    assert torch.allclose(x, torch.linalg.solve(A.to_dense().to(torch.complex128), b), atol=1e-5)


def test_zero_rhs_and_no_mutation():
    A = ll.Dense(randn(5, 5, dtype=torch.float64, seed=14) + 3 * torch.eye(5, dtype=torch.float64))
    b = torch.zeros(5, 2, dtype=torch.float64)
    b[:, 1] = randn(5, dtype=torch.float64, seed=15)
    x0 = torch.ones(5, 2, dtype=torch.float64)
    b_copy, x0_copy = b.clone(), x0.clone()
    for m in ("gmres", "bicgstab", "cgls", "lsqr"):
        x, info = ll.solve(A, b, method=m, x0=x0, return_info=True)
        assert torch.equal(x[:, 0], torch.zeros(5, dtype=torch.float64))
        assert torch.equal(b, b_copy) and torch.equal(x0, x0_copy)
    x, info = ll.solve(A, torch.zeros(5, dtype=torch.float64), method="gmres", return_info=True)
    assert info.iterations == 0 and info.matvecs == 0 and torch.equal(x, torch.zeros(5, dtype=torch.float64))


def test_not_converged_carries_last_iterate():
    A = ll.Dense(randn(30, 30, dtype=torch.float64, seed=16) + 0.1 * torch.eye(30, dtype=torch.float64))
    b = randn(30, dtype=torch.float64, seed=17)
    with pytest.raises(ll.NotConverged) as exc:
        ll.solve(A, b, method="gmres", maxiter=3)
    assert exc.value.x.shape == (30,) and exc.value.info.iterations == 3 and not exc.value.info.converged
    assert isinstance(exc.value, ll.ConvergenceError) and isinstance(exc.value, RuntimeError)
    with pytest.warns(ll.ConvergenceWarning):
        x, info = ll.solve(A, b, method="gmres", maxiter=3, on_failure="warn", return_info=True)
    assert torch.equal(x, exc.value.x)


def test_nan_and_singular_are_loud():
    A = ll.Dense(randn(4, 4, dtype=torch.float64, seed=18) + 3 * torch.eye(4, dtype=torch.float64))
    b = torch.ones(4, dtype=torch.float64)
    b[1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ll.solve(A, b, method="gmres")
    W = A.to_dense().clone()
    W[0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        ll.solve(ll.Dense(W), torch.ones(4, dtype=torch.float64))
    with pytest.raises(torch.linalg.LinAlgError, match="singular"):
        ll.solve(ll.Diagonal(torch.tensor([1.0, 0.0])), torch.ones(2))
    with pytest.raises(torch.linalg.LinAlgError, match="singular"):
        ll.solve(ll.Dense(torch.zeros(3, 3)), torch.ones(3))


def test_callback_and_progress_validation():
    A = ll.Dense(randn(6, 6, dtype=torch.float64, seed=19) + 3 * torch.eye(6, dtype=torch.float64))
    seen = []
    ll.solve(
        A,
        randn(6, 2, dtype=torch.float64, seed=20),
        method="bicgstab",
        callback=lambda it, x, r: seen.append((it, x.shape, r.shape)),
    )
    assert seen and seen[0] == (1, torch.Size([6, 2]), torch.Size([2]))
    with pytest.raises(TypeError, match="progress"):
        ll.solve(A, torch.ones(6, dtype=torch.float64), progress="yes")
    with pytest.raises(ValueError, match="restart"):
        ll.solve(A, torch.ones(6, dtype=torch.float64), method="bicgstab", restart=5)


def test_inverse_composes_and_serializes():
    import io

    A = ll.Dense(randn(4, 4, dtype=torch.float64, seed=21) + 3 * torch.eye(4, dtype=torch.float64))
    B = ll.Diagonal(randn(4, dtype=torch.float64, seed=22) + 3)
    C = ll.inv(A) @ B
    x = randn(4, dtype=torch.float64, seed=23)
    assert torch.allclose(C @ x, torch.linalg.solve(A.to_dense(), B.to_dense() @ x))
    assert torch.allclose(torch.linalg.solve(A, B) @ x, C @ x)
    chain_inv = torch.linalg.inv(A @ B)  # (A B)⁻¹ = B⁻¹ A⁻¹ (structural: 0 matvecs)
    assert torch.allclose(chain_inv @ x, torch.linalg.solve((A @ B).to_dense(), x))
    assert ll.inv(ll.inv(A)) is A
    buf = io.BytesIO()
    torch.save(ll.inv(A, method="gmres"), buf)
    buf.seek(0)
    R = torch.load(buf)
    assert type(R) is ll.Inverse and torch.allclose(R @ x, ll.inv(A) @ x)
    assert ll.testing.dottest(ll.inv(A))


def test_spectral_norm():
    W = randn(7, 5, dtype=torch.complex128, seed=24)
    A = ll.Dense(W)
    assert_close(torch.linalg.matrix_norm(A, ord=2), torch.linalg.matrix_norm(W, ord=2), 1e-5, "σ_max")
    assert_close(torch.linalg.norm(A, 2), torch.linalg.norm(W, 2), 1e-5, "norm 2")
    assert_close(torch.linalg.matrix_norm(A, ord=-2), torch.linalg.matrix_norm(W, ord=-2), 1e-5, "σ_min")
    assert_close(torch.linalg.matrix_norm(A.H, ord=2), torch.linalg.matrix_norm(W, ord=2), 1e-5, "σ_max of A.H")


def test_jacobi_preconditioned_cg():
    g = torch.Generator().manual_seed(25)
    Q = torch.randn(20, 20, dtype=torch.float64, generator=g)
    S = Q @ Q.T / 20 + torch.diag(torch.logspace(0, 4, 20, dtype=torch.float64))
    A = ll.Dense(S).with_tags(hermitian=True, pd=True)
    b = randn(20, dtype=torch.float64, seed=26)
    x1, i1 = ll.solve(A, b, method="cg", return_info=True)
    x2, i2 = ll.solve(A, b, method="cg", M="jacobi", return_info=True)
    expected = torch.linalg.solve(S, b)
    assert torch.allclose(x1, expected, rtol=1e-7) and torch.allclose(x2, expected, rtol=1e-7)
    assert i2.iterations < i1.iterations
    x3, i3 = ll.solve(A, b, method="minres", M="jacobi", return_info=True)
    assert torch.allclose(x3, expected, rtol=1e-7)


def test_out_is_refused_before_any_linalg_rule():
    # torch_function refuses out= (operators are immutable) before the rule runs; out=None is torch's default
    A = ll.Dense(torch.eye(3, dtype=torch.float64) * 2)
    b = torch.ones(3, dtype=torch.float64)
    assert_close(torch.linalg.solve(A, b, out=None), b / 2, what="solve out=None")
    assert type(torch.linalg.inv(A, out=None)) is ll.Inverse
    assert_close(torch.linalg.matrix_norm(A, 2, out=None), torch.tensor(2.0, dtype=torch.float64), 1e-8, "σ_max")
    assert_close(torch.linalg.norm(A, 2, out=None), torch.tensor(2.0, dtype=torch.float64), 1e-8, "norm 2")
    for call in (
        lambda t: torch.linalg.solve(A, b, out=t),
        lambda t: torch.linalg.inv(A, out=t),
        lambda t: torch.linalg.matrix_norm(A, 2, out=t),
        lambda t: torch.linalg.norm(A, 2, out=t),
        lambda t: torch.linalg.matrix_norm(A, "fro", out=t),
    ):
        with pytest.raises(ll.ImmutableError, match="out= is not supported"):
            call(torch.empty(3, dtype=torch.float64))
