"""Honest solvers (DESIGN §5): a table of cases × methods; each cell is either a correct solution whose
``info`` says converged (the true residual re-measured here) or the right exception type."""

import pytest
import torch

import lazylinops as ll
from lazylinops.solvers.methods import LSTSQ, METHODS, SOLVE, names

F64 = torch.float64
EPS = torch.finfo(F64).eps
SOLVE_METHODS = names(SOLVE)  # every row of the solver table enters the honesty table
LSTSQ_METHODS = names(LSTSQ)
KRYLOV = tuple(n for n, row in METHODS.items() if row.kernel is not None and not row.direct)
N = 30


def _rand(shape, seed, dtype=F64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _orth(n, seed):
    return torch.linalg.qr(_rand((n, n), seed))[0]


def _matrix(kind, cond, seed=0):
    """An n×n matrix with singular values log-spaced in [1/cond, 1]: SPD, Hermitian indefinite or general."""
    s = torch.logspace(0, -torch.log10(torch.tensor(cond)).item(), N, dtype=F64)
    U = _orth(N, seed)
    if kind == "spd":
        return (U * s) @ U.T
    if kind == "herm":
        return (U * (s * torch.tensor([1.0, -1.0], dtype=F64).repeat(N // 2))) @ U.T
    return (U * s) @ _orth(N, seed + 1).T


def _operator(method, cond):
    """The operator each method needs (tags asserted where they are true), and its dense matrix."""
    needs = METHODS[method].needs
    kind = "spd" if "psd" in needs or "pd" in needs else "herm" if "hermitian" in needs else "general"
    W = _matrix(kind, cond)
    A = ll.Dense(W)
    if kind == "spd":
        A = A.with_tags(hermitian=True, pd=True)
    elif kind == "herm":
        A = A.with_tags(hermitian=True)
    return A, W


def _true_residual_ok(W, x, b, info, rtol):
    """Re-measure ‖b − W x‖ here: under the tolerance (plus the rounding of this re-measurement)."""
    r = torch.linalg.vector_norm(b - W @ x, dim=0)
    slack = 100 * EPS * torch.linalg.matrix_norm(W, 2) * torch.linalg.vector_norm(x, dim=0)
    assert (r <= rtol * torch.linalg.vector_norm(b, dim=0) + slack).all(), (r, info)


# ----------------------------------------------------------------------------------- condition numbers


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6, 1e8], ids=lambda c: f"cond{c:.0e}")
@pytest.mark.parametrize("method", SOLVE_METHODS)
def test_condition_numbers(method, cond):
    A, W = _operator(method, cond)
    b = _rand((N, 2), 1)
    try:
        x, info = ll.solve(A, b, method=method, return_info=True)
    except (ll.NotConverged, ll.Diverged) as exc:  # an honest refusal, with a usable last iterate
        assert not exc.info.converged and exc.info.status.failed and exc.x.shape == (N, 2)
        assert method in KRYLOV and cond >= 1e6, f"{method} should solve a cond {cond:g} system"
        return
    assert info.converged
    if info.status is ll.Status.exact:  # direct: what dense torch returns
        torch.testing.assert_close(x, torch.linalg.solve(W, b), rtol=1e-16 * cond * 1e3, atol=0)
    else:
        assert info.status is ll.Status.converged
        _true_residual_ok(W, x, b, info, 1e-10)
        r = torch.linalg.vector_norm(b - W @ x, dim=0)  # the record holds the measured value (up to rounding)
        slack = 100 * EPS * torch.linalg.vector_norm(x, dim=0)
        assert ((info.residual_norm - r).abs() <= 1e-3 * r + slack).all()


def test_gmres_nonnormal_system_dense_solves():
    """A 30×30 non-normal system of condition ~157: GMRES's default Krylov dimension solves it."""
    W = torch.eye(N, dtype=F64) + torch.diag(torch.full((N - 1,), 1.9, dtype=F64), 1)
    W = W + 0.01 * _rand((N, N), 3)
    assert 50 < torch.linalg.cond(W) < 1e4
    b = _rand((N,), 4)
    x, info = ll.solve(ll.Dense(W), b, method="gmres", return_info=True)
    assert info.converged and info.status is ll.Status.converged
    _true_residual_ok(W, x, b, info, 1e-10)


# ------------------------------------------------------------------------------------------- singular


SINGULAR = {
    "Zero": lambda: ll.Zero((4,), (4,), dtype=F64),
    "0*Identity": lambda: 0 * ll.Identity((4,), dtype=F64),
    "Scalar0": lambda: ll.Scalar(torch.tensor(0.0, dtype=F64), (4,)),
    "Mask": lambda: ll.Mask(torch.tensor([True, False, True, True]), dtype=F64),
    "Diagonal0": lambda: ll.Diagonal(torch.tensor([1.0, 0.0, 2.0, 3.0], dtype=F64)),
    "DenseLU": lambda: ll.Dense(torch.ones(4, 4, dtype=F64)),
    # D invertible, capacitance I + VᴴD⁻¹U singular: det(D + UVᴴ) = det D · det(I + VᴴD⁻¹U) = 0
    "Woodbury-capacitance": lambda: ll.Diagonal(torch.ones(4, dtype=F64)) - ll.LowRank(torch.eye(4, 1, dtype=F64)),
    # D singular and so is D + UVᴴ (row 0 is zero): the zero of D moves into the low-rank part
    "Woodbury-D-singular": lambda: (
        ll.Diagonal(torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=F64))
        + ll.LowRank(torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=F64))
    ),
}


@pytest.mark.parametrize("method", ["auto", "minres", "gmres", "bicgstab", "cgls", "lsqr", "dense"])
@pytest.mark.parametrize("name", SINGULAR)
def test_singular_raises(name, method):
    A = SINGULAR[name]()
    if method == "minres":
        A = A.with_tags(hermitian=True)
    b = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)
    with pytest.raises(ll.SingularError) as exc:
        ll.solve(A, b, method=method)
    assert isinstance(exc.value, torch.linalg.LinAlgError) and "singular" in str(exc.value)
    with pytest.raises(torch.linalg.LinAlgError):  # what dense torch raises, for the torch entry point
        torch.linalg.solve(A, b) if method == "auto" else torch.linalg.solve(A.to_dense(), b)


def test_minres_singular_never_converged():
    D = ll.Diagonal(torch.tensor([1.0, 0.0], dtype=F64)).with_tags(hermitian=True)
    with pytest.raises(ll.SingularError):
        ll.solve(D, torch.ones(2, dtype=F64), method="minres")


# ------------------------------------------------ inverses whose formula needs more than A invertible


def _diag_plus_lowrank(d, seed=0, r=2):
    torch.manual_seed(seed)
    U = torch.randn(len(d), r, dtype=F64)
    return ll.Diagonal(torch.tensor(d, dtype=F64)) + ll.LowRank(U), U


@pytest.mark.parametrize(
    "d",
    [[0.0, 1, 1, 1, 1, 1], [0.0, 0, 1, 2, 3, 4], [1e-300, 1, 1, 1, 1, 1], [1e-17, 1, 1, 1, 1, 1]],
    ids=["one-zero", "two-zeros", "tiny", "negligible"],
)
def test_woodbury_with_singular_D_still_solves(d):
    """D + UUᵀ is invertible though D is not (issue 8): Woodbury must not refuse it, and logdet stays exact."""
    A, U = _diag_plus_lowrank(d)
    W = torch.diag(torch.tensor(d, dtype=F64)) + U @ U.T
    torch.manual_seed(0)
    b = torch.randn(6, 3, dtype=F64)
    x, info = ll.solve(A, b, return_info=True)
    assert info.converged and not info.status.failed
    torch.testing.assert_close(x, torch.linalg.solve(W, b), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close((ll.inv(A) @ b[:, 0]), torch.linalg.solve(W, b[:, 0]), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ll.logdet(A), torch.logdet(W), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ll.lstsq(A, b), torch.linalg.solve(W, b), rtol=1e-9, atol=1e-9)


def test_woodbury_refuses_a_singular_D_directly():
    D = ll.Diagonal(torch.tensor([0.0, 1.0, 1.0], dtype=F64))
    W = ll.Woodbury(D, ll.LowRank(torch.ones(3, 1, dtype=F64)))
    with pytest.raises(ValueError, match="D⁻¹ does not exist"):
        W @ torch.ones(3, dtype=F64)


@pytest.mark.parametrize("kind", ["auto", "dense", "torch", "lstsq"])
def test_numerically_singular_dense_is_refused(kind):
    """LU of a rank-3 6×6 matrix finds no exact zero pivot; its answer leaves ‖b − A x‖ > ‖b‖: refused."""
    torch.manual_seed(0)
    b = torch.randn(6, dtype=F64)
    M = torch.randn(6, 3, dtype=F64)
    A = ll.Dense(M @ M.T)
    if kind == "lstsq":  # the minimum-norm least-squares solution instead
        torch.testing.assert_close(ll.lstsq(A, b), torch.linalg.pinv(M @ M.T) @ b, rtol=1e-7, atol=1e-8)
        return
    with pytest.raises(ll.SingularError, match="numerically singular") as exc:
        if kind == "torch":
            torch.linalg.solve(A, b)
        else:
            ll.solve(A, b, method=kind)
    err = exc.value
    assert isinstance(err, torch.linalg.LinAlgError)
    assert err.info.status is ll.Status.singular and not err.info.converged and err.x.shape == (6,)
    torch.testing.assert_close(err.info.residual_norm, torch.linalg.vector_norm(b - (M @ M.T) @ err.x))


@pytest.mark.parametrize("dt", [torch.float32, F64])
@pytest.mark.parametrize("method", ["auto", "dense"])
def test_direct_solve_records_its_measured_residual(method, dt):
    """A well-posed system: a direct solve is exact, its residual measured (one matvec for a fresh LU).

    In float32 an LU routinely leaves a residual above the default rtol (1e-5·‖b‖) on such a system;
    the backward-stable answer (what torch returns) stands, with the measured value recorded.
    """
    W = _matrix("general", 1e4).to(dt)  # cond 1e4: well-posed in both precisions
    b = _rand((N, 2), 15).to(dt)
    x, info = ll.solve(ll.Dense(W), b, method=method, return_info=True)
    assert info.converged and info.status is ll.Status.exact
    assert ("above the tolerance" in info.message) == (dt == torch.float32), info.message
    assert info.matvecs == (method == "auto") + (dt == torch.float32)  # the residual, the cond bound ‖A b‖
    r = torch.linalg.vector_norm(b.double() - W.double() @ x.double(), dim=0)  # re-measured exactly here
    slack = 40 * torch.finfo(dt).eps * torch.linalg.matrix_norm(W.double(), 2) * torch.linalg.vector_norm(x, dim=0)
    assert ((info.residual_norm.double() - r).abs() <= slack.double()).all(), (info.residual_norm, r)
    torch.testing.assert_close(x, torch.linalg.solve(W, b), rtol=1e-3 if dt == torch.float32 else 1e-10, atol=0)


@pytest.mark.parametrize("family", ["Diagonal", "Dense", "Woodbury"])
def test_inverse_gradients_across_optimizer_steps(family):
    """Gradients through ``ll.inv(A) @ b`` (one operator and one ll.inv kept across steps) equal dense."""
    torch.manual_seed(0)
    b = torch.randn(6, dtype=F64)
    if family == "Diagonal":
        params = [torch.linspace(1.0, 2.0, 6, dtype=F64)]
        build, dense = ll.Diagonal, torch.diag
    elif family == "Dense":
        params = [torch.randn(6, 6, dtype=F64) + 6 * torch.eye(6, dtype=F64)]
        build, dense = ll.Dense, lambda w: w
    else:
        params = [torch.tensor([0.0, 1, 2, 1, 2, 1], dtype=F64), torch.randn(6, 2, dtype=F64)]

        def build(d, U):
            return ll.Diagonal(d) + ll.LowRank(U)

        def dense(d, U):
            return torch.diag(d) + U @ U.T

    ours = [torch.nn.Parameter(p.clone()) for p in params]
    ref = [torch.nn.Parameter(p.clone()) for p in params]
    Ainv = ll.inv(build(*ours))
    opts = torch.optim.SGD(ours, lr=0.05), torch.optim.SGD(ref, lr=0.05)
    for _ in range(3):
        for opt in opts:
            opt.zero_grad()
        with torch.no_grad():
            Ainv @ b  # fill the caches at this version
        (Ainv @ b).square().sum().backward()
        torch.linalg.solve(dense(*ref), b).square().sum().backward()
        for p, q in zip(ours, ref):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12)
        for opt in opts:
            opt.step()


# ------------------------------------------------------------------------------------ non-finite inputs


def _inputs(where, value):
    W = _matrix("spd", 10.0)
    b, x0 = _rand((N,), 5), torch.zeros(N, dtype=F64)
    if where == "b":
        b[3] = value
    elif where == "x0":
        x0[3] = value
    else:
        W = W.clone()
        W[2, 2] = value
    return ll.Dense(W).with_tags(hermitian=True, pd=True), b, x0


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("where", ["b", "x0", "weights"])
@pytest.mark.parametrize("method", SOLVE_METHODS)
def test_nonfinite_inputs_name_the_input(method, where, value):
    A, b, x0 = _inputs(where, value)
    with pytest.raises(ValueError, match=f"{where if where != 'weights' else 'weights'} hold(s)? NaN or Inf"):
        ll.solve(A, b, method=method, x0=x0)
    if method in LSTSQ_METHODS:
        with pytest.raises(ValueError, match="NaN or Inf"):
            ll.lstsq(A, b, method=method, x0=x0)


# ---------------------------------------------------------------------------------- non-convergence


@pytest.mark.parametrize("method", KRYLOV)
def test_not_converged_has_usable_x(method):
    A, W = _operator(method, 1e6)
    b = _rand((N,), 6)
    with pytest.raises(ll.NotConverged) as exc:
        ll.solve(A, b, method=method, maxiter=2)
    info = exc.value.info
    assert not info.converged and info.status is ll.Status.max_iterations and info.iterations == 2
    x = exc.value.x
    assert x.shape == (N,) and torch.isfinite(x).all()
    r = torch.linalg.vector_norm(b - W @ x)  # the record holds the measured true residual of that x
    assert torch.allclose(info.residual_norm, r, rtol=1e-8)


# --------------------------------------------------------------------------- rank-deficient least squares


RANK_DEFICIENT = {
    "equal-columns": lambda: torch.cat([_rand((8, 3), 7), _rand((8, 1), 7)], dim=1)[:, [0, 1, 2, 3, 3]],
    "wide": lambda: _rand((3, 5), 8),
    "rank-2-square": lambda: _rand((6, 2), 9) @ _rand((2, 6), 10),
}


@pytest.mark.parametrize("method", LSTSQ_METHODS)
@pytest.mark.parametrize("name", RANK_DEFICIENT)
def test_rank_deficient_lstsq_is_minimum_norm(name, method):
    W = RANK_DEFICIENT[name]()
    b = _rand((W.shape[0],), 11)
    x, info = ll.lstsq(ll.Dense(W), b, method=method, return_info=True)
    expected = torch.linalg.pinv(W) @ b
    assert info.converged and torch.allclose(x, expected, rtol=1e-7, atol=1e-8), (x, expected, info)
    normal = torch.linalg.vector_norm(W.T @ (b - W @ x))
    assert normal <= 1e-10 * torch.linalg.vector_norm(W.T @ b) + 1e3 * EPS * torch.linalg.vector_norm(x)
    if method == "auto":
        torch.testing.assert_close(torch.linalg.lstsq(ll.Dense(W), b).solution, expected, rtol=1e-7, atol=1e-8)


def test_singular_structural_lstsq_falls_back_to_minimum_norm():
    d = torch.tensor([2.0, 0.0, 4.0], dtype=F64)
    x = ll.lstsq(ll.Diagonal(d), torch.ones(3, dtype=F64))
    assert torch.allclose(x, torch.tensor([0.5, 0.0, 0.25], dtype=F64))


# --------------------------------------------------------------------------------- repeated eigenvalues


@pytest.mark.parametrize("which, k", [("SA", 3), ("LA", 4), ("SA", 5)])
def test_eigsh_repeated_eigenvalues(which, k):
    d = torch.cat([torch.full((4,), 0.5), torch.tensor([0.6, 0.64]), torch.linspace(1, 9, 34)]).to(F64)
    d[-3:] = 9.0  # a 3-fold largest eigenvalue as well
    A = ll.Diagonal(d).with_tags(hermitian=True)
    (w, V), info = ll.eigsh(A, k=k, which=which)
    ev = torch.sort(d).values
    expected = ev[:k] if which == "SA" else ev[-k:]
    assert info.converged and torch.allclose(w, expected, atol=1e-8), (w, expected)
    assert torch.linalg.vector_norm(d[:, None] * V - V * w, dim=0).max() <= 1e-8  # true residuals
    assert torch.allclose(V.T @ V, torch.eye(k, dtype=F64), atol=1e-8)


# ----------------------------------------------------------------------------------- records and budgets


def test_status_values_are_messages():
    names = {s.name for s in ll.Status}
    assert names == {"converged", "exact", "max_iterations", "breakdown", "diverged", "nonfinite_input", "singular"}
    assert all(isinstance(s.value, str) and len(s.value) > 20 for s in ll.Status)
    _, info = ll.solve(ll.Diagonal(torch.tensor([2.0, 4.0], dtype=F64)), torch.ones(2, dtype=F64), return_info=True)
    assert info.status is ll.Status.exact and info.matvecs == 0 and torch.isnan(info.residual_norm)  # not measured


def test_budget_solvers_return_last_iterate():
    A = ll.Dense(_rand((12, 8), 12))
    b = _rand((12,), 13)
    x, info = ll.fista(A, b, lam=1e-3, maxiter=2)
    assert not info.converged and info.status is ll.Status.max_iterations and x.shape == (8,)
    x, info = ll.split_bregman(A, b, regs=[ll.Identity((8,), dtype=F64)], lams=[1e-3], maxiter=2)
    assert not info.converged and info.status is ll.Status.max_iterations
    (lam, v), info = ll.power_method(ll.Dense(_matrix("spd", 1.01)), maxiter=2)
    assert not info.converged and info.status is ll.Status.max_iterations
    with pytest.raises(ll.NotConverged):  # a linear solve raises
        ll.lsqr(A, b, maxiter=2)


def test_empty_shapes_match_torch():
    A = ll.Dense(_matrix("general", 10.0))
    assert ll.solve(A, torch.ones(N, 0, dtype=F64)).shape == (N, 0)
    assert torch.linalg.solve(A, torch.ones(N, 0, dtype=F64)).shape == (N, 0)
    assert ll.lstsq(A, torch.ones(N, 0, dtype=F64), method="lsqr").shape == (N, 0)
    assert ll.solve(ll.Diagonal(torch.ones(3, dtype=F64)), torch.ones(3, 0, dtype=F64)).shape == (3, 0)
    E = ll.Dense(torch.zeros(0, 3, dtype=F64))
    assert torch.linalg.matrix_norm(E, 2).item() == torch.linalg.matrix_norm(torch.zeros(0, 3), 2).item() == 0


# ------------------------------------------------------------------------------------------ stale state


@pytest.mark.parametrize("family", ["Diagonal", "Dense"])
def test_never_stale_under_optimizer_steps(family):
    torch.manual_seed(0)
    if family == "Diagonal":
        w = torch.nn.Parameter(torch.linspace(1.0, 2.0, 6, dtype=F64))

        def build(t):
            return ll.Diagonal(t)
    else:
        w = torch.nn.Parameter(_matrix("spd", 10.0)[:6, :6] + 3 * torch.eye(6, dtype=F64))

        def build(t):
            return ll.Dense(t)

    A = build(w)
    opt = torch.optim.SGD([w], lr=0.1)
    b = _rand((6,), 14)
    for step in range(3):
        with torch.no_grad():
            ll.solve(A, b), A.N.to_dense()  # fill every cache at this version
        opt.zero_grad()
        loss = ll.solve(A, b).square().sum() + (w * w).sum() * (step - 1)  # a sign change of w's entries
        loss.backward()
        opt.step()
        fresh = build(w.detach().clone())
        with torch.no_grad():
            torch.testing.assert_close(ll.solve(A, b), ll.solve(fresh, b))
            torch.testing.assert_close(A.N.to_dense(), fresh.N.to_dense())
        assert A.tags == fresh.tags
    with torch.no_grad():
        w.mul_(3)
        torch.testing.assert_close(ll.solve(A, b), ll.solve(build(w.detach().clone()), b))
        w[0] = float("nan") if family == "Diagonal" else w[0]
        if family == "Dense":
            w[0, 0] = float("nan")
    with torch.no_grad(), pytest.raises(ValueError, match="NaN or Inf"):
        ll.solve(A, b)


# ------------------------------------------------------------------------------------------- gradients


def _closure_op(c):
    def fn(x):  # [[c, 1], [1, 3], [0, 1]] x, closing over c
        return torch.stack([c * x[..., 0] + x[..., 1], x[..., 0] + 3 * x[..., 1], x[..., 1]], -1)

    return fn


def _closure_dense(c):
    one, zero = torch.ones((), dtype=F64), torch.zeros((), dtype=F64)
    return torch.stack([torch.stack([c, one]), torch.stack([one, 3 * one]), torch.stack([zero, one])])


@pytest.mark.parametrize("method", ["auto", "gmres", "bicgstab", "lstsq"])
def test_closure_tensor_gets_its_gradient(method):
    c = torch.tensor(2.0, dtype=F64, requires_grad=True)
    b = torch.tensor([1.0, 2.0, 4.0], dtype=F64, requires_grad=True)
    if method == "lstsq":
        A = ll.FromFunction(_closure_op(c), (2,), (3,), dtype=F64)
        x = ll.lstsq(A, b)
        ref = torch.linalg.lstsq(_closure_dense(c), b.unsqueeze(-1)).solution[:, 0]
    else:
        A = ll.FromFunction(lambda x: _closure_op(c)(x)[..., :2], (2,), (2,), dtype=F64)
        x = ll.solve(A, b[:2], method=method)
        ref = torch.linalg.solve(_closure_dense(c)[:2], b[:2])
    got = torch.autograd.grad(x.square().sum(), (c, b))
    want = torch.autograd.grad(ref.square().sum(), (c, b))
    torch.testing.assert_close(got, want)
