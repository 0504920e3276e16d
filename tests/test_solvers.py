"""Each solver against scipy.sparse.linalg after exactly 1 and 3 iterations and at convergence.

Iteration conventions (documented differences): CG, MINRES, BiCGStab and LSQR count
iterations like scipy (``maxiter``/``iter_lim``), so ``maxiter=k`` from ``x0 = 0`` gives the
same iterate. Our GMRES counts *inner* iterations; scipy's ``maxiter`` counts restart
cycles, so our ``maxiter=k`` equals scipy's ``gmres(restart=k, maxiter=1)``. CGLS has no
scipy counterpart: its iterates equal LSQR's in exact arithmetic, so it is compared to
scipy's ``lsqr``. Tolerances are switched off on both sides (rtol=atol=0, conlim=0) for
the fixed-iteration comparisons.
"""

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

import lazylinops as ll
from lazylinops.testing import assert_close

DT = (torch.float64, torch.complex128)


def _rand(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=dtype, generator=g)


def _unitary(n, dtype, seed):
    return torch.linalg.qr(_rand((n, n), dtype, seed))[0]


def spd(n, dtype, cond, seed=0):
    Q = _unitary(n, dtype, seed)
    return (Q * torch.logspace(0, np.log10(cond), n, dtype=torch.float64).to(dtype)) @ Q.mH


def herm_indefinite(n, dtype, cond, seed=0):
    Q = _unitary(n, dtype, seed)
    ev = torch.logspace(0, np.log10(cond), n, dtype=torch.float64) * torch.tensor([1.0, -1.0]).repeat(n)[:n]
    return (Q * ev.to(dtype)) @ Q.mH


def general(n, dtype, cond, seed=0):
    U, V = _unitary(n, dtype, seed), _unitary(n, dtype, seed + 1)
    return (U * torch.logspace(0, np.log10(cond), n, dtype=torch.float64).to(dtype)) @ V.mH + 0 * U


PROBLEMS = {"well": 10.0, "ill": 1e5}
N = 24


def _ours(W, b, method, k, tags=None, **kw):
    A = ll.Dense(W) if tags is None else ll.Dense(W).with_tags(**tags)
    return ll.solve(A, b, method=method, maxiter=k, rtol=0.0, on_failure="ignore", return_info=True, **kw)


def _np(t):
    return t.numpy()


@pytest.mark.parametrize("dt", DT, ids=str)
@pytest.mark.parametrize("cond", PROBLEMS.values(), ids=PROBLEMS.keys())
@pytest.mark.parametrize("k", [1, 3])
def test_cg_minres_bicgstab_gmres_iterates(dt, cond, k):
    b = _rand((N,), dt, 7)
    S = spd(N, dt, cond)
    H = herm_indefinite(N, dt, cond, seed=3)
    G = general(N, dt, cond, seed=5)
    cases = [
        ("cg", S, {"hermitian": True, "pd": True}, lambda: sla.cg(_np(S), _np(b), rtol=0, atol=0, maxiter=k)),
        # scipy's minres is real-only (it compares a complex ⟨r, r⟩ with 0): for complex data MINRES is
        # checked against scipy's GMRES, which minimises the same residual over the same Krylov space
        (
            "minres",
            H,
            {"hermitian": True},
            lambda: (
                sla.minres(_np(H), _np(b), rtol=0, maxiter=k)
                if not dt.is_complex
                else sla.gmres(_np(H), _np(b), rtol=0, atol=0, restart=k, maxiter=1)
            ),
        ),
        ("bicgstab", G, None, lambda: sla.bicgstab(_np(G), _np(b), rtol=0, atol=0, maxiter=k)),
        ("gmres", G, None, lambda: sla.gmres(_np(G), _np(b), rtol=0, atol=0, restart=k, maxiter=1)),
    ]
    for method, W, tags, ref in cases:
        x, info = _ours(W, b, method, k, tags)
        xs = torch.from_numpy(ref()[0])
        assert info.iterations == k, method
        err = (x - xs).abs().max() / xs.abs().max()
        assert err < 1e-8, f"{method}: relative difference {err:.2e} from scipy after {k} iterations"


@pytest.mark.parametrize("dt", DT, ids=str)
@pytest.mark.parametrize("cond", PROBLEMS.values(), ids=PROBLEMS.keys())
def test_solvers_at_convergence(dt, cond):
    b = _rand((N, 2), dt, 8)
    for method, W, tags in (
        ("cg", spd(N, dt, cond), {"hermitian": True, "pd": True}),
        ("minres", herm_indefinite(N, dt, cond, 3), {"hermitian": True}),
        ("gmres", general(N, dt, cond, 5), None),
        ("bicgstab", general(N, dt, cond, 5), None),
    ):
        A = ll.Dense(W) if tags is None else ll.Dense(W).with_tags(**tags)
        kw = {"restart": N} if method == "gmres" else {}
        rtol = 1e-12 if cond < 1e3 else 1e-10  # the attainable true residual is about eps·cond
        x, info = ll.solve(A, b, method=method, rtol=rtol, maxiter=50 * N, return_info=True, **kw)
        assert info.converged and info.residual_norm.shape == (2,)
        r = torch.linalg.vector_norm(b - W @ x, dim=0)  # the true residual, up to rounding (eps·‖A‖‖x‖)
        floor = 1e4 * 2.2e-16 * cond * torch.linalg.vector_norm(x, dim=0)  # MINRES's estimate drifts most
        assert (r <= rtol * torch.linalg.vector_norm(b, dim=0) + floor).all(), method
        expected = torch.linalg.solve(W, b)
        assert ((x - expected).abs().max() / expected.abs().max()) < rtol * cond * 10, method
        col = (
            sla.cg
            if method == "cg"
            else sla.minres
            if method == "minres" and not dt.is_complex
            else sla.gmres
            if method in ("gmres", "minres")
            else sla.bicgstab
        )
        kw = {"restart": N} if col is sla.gmres else {}
        xs, flag = col(_np(W), _np(b[:, 0]), rtol=rtol, maxiter=50 * N, **kw)
        xs = torch.from_numpy(xs)
        assert flag == 0 or col is not sla.cg  # scipy's own stopping rules may stop other solvers short
        if flag == 0:
            assert ((x[:, 0] - xs).abs().max() / xs.abs().max()) < rtol * cond * 100, method


@pytest.mark.parametrize("dt", DT, ids=str)
@pytest.mark.parametrize("cond", PROBLEMS.values(), ids=PROBLEMS.keys())
@pytest.mark.parametrize("damp", [0.0, 0.5])
def test_lsqr_cgls_vs_scipy(dt, cond, damp):
    W = general(N, dt, cond, 9)[:, : N - 6]  # tall
    b = _rand((N,), dt, 10)
    for k in (1, 3):
        xs = torch.from_numpy(sla.lsqr(_np(W), _np(b), damp=damp, atol=0, btol=0, conlim=0, iter_lim=k)[0])
        for method in ("lsqr", "cgls"):
            x, info = ll.lstsq(
                ll.Dense(W), b, damp=damp, method=method, maxiter=k, rtol=0.0, on_failure="ignore", return_info=True
            )
            assert info.iterations == k
            err = (x - xs).abs().max() / xs.abs().max()
            assert err < 1e-8, f"{method} k={k}: {err:.2e}"
    x, info = ll.lstsq(ll.Dense(W), b, damp=damp, method="lsqr", rtol=1e-12, return_info=True)
    Wd = torch.cat([W, damp * torch.eye(W.shape[1], dtype=dt)])
    bd = torch.cat([b, torch.zeros(W.shape[1], dtype=dt)])
    expected = torch.linalg.lstsq(Wd, bd.unsqueeze(-1)).solution[:, 0]
    assert info.converged
    assert ((x - expected).abs().max() / expected.abs().max()) < 1e-12 * cond * 100
    normal_res = torch.linalg.vector_norm(W.mH @ (b - W @ x) - damp**2 * x)
    floor = 1e3 * 2.2e-16 * cond**2 * torch.linalg.vector_norm(x)  # rounding in Aᴴ(b − A x)
    assert normal_res <= 2e-12 * torch.linalg.vector_norm(W.mH @ b) + floor


def test_cg_one_matvec_per_iteration():
    calls = []

    class Counting(ll.LinearOperator):
        def __init__(self, W):
            super().__init__(
                ishape="N",
                oshape="N",
                isize=(W.shape[0],),
                osize=(W.shape[0],),
                dtype=W.dtype,
                tags=("hermitian", "pd", "psd"),
            )
            self.W = W

        def _apply(self, x):
            calls.append(1)
            return x @ self.W.mT

        def _apply_adjoint(self, y):
            return y @ self.W.conj()

    W = spd(30, torch.float64, 100.0)
    x, info = ll.solve(Counting(W), _rand((30, 3), torch.float64, 1), return_info=True)
    assert info.method == "cg" and info.converged
    assert len(calls) == info.matvecs == info.iterations + 1  # + the final true residual b − A x
    calls.clear()
    x, info = ll.solve(
        Counting(W), _rand((30,), torch.float64, 2), x0=torch.ones(30, dtype=torch.float64), return_info=True
    )
    assert len(calls) == info.matvecs == info.iterations + 2  # + the initial b − A x0 and the final true residual


def test_gmres_restart_and_not_converged():
    W = 3 * torch.eye(40, dtype=torch.float64) + _rand((40, 40), torch.float64, 11) / 40**0.5  # FOV off 0
    b = _rand((40,), torch.float64, 12)
    x, info = ll.solve(ll.Dense(W), b, method="gmres", restart=5, maxiter=4000, rtol=1e-10, return_info=True)
    assert info.converged and torch.linalg.vector_norm(b - W @ x) <= 1e-10 * torch.linalg.vector_norm(b) * 1.01
    with pytest.raises(ll.NotConverged) as exc:
        ll.solve(ll.Dense(W), b, method="bicgstab", maxiter=2)
    assert exc.value.x is not None and exc.value.info.iterations == 2


def test_diverged_on_nan_operator():
    class Nan(ll.LinearOperator):
        def __init__(self):
            super().__init__(ishape="N", oshape="N", isize=(4,), osize=(4,), dtype=torch.float64)

        def _apply(self, x):
            return x * float("nan")

        _apply_adjoint = _apply

    with pytest.raises(ll.Diverged):
        ll.solve(Nan(), torch.ones(4, dtype=torch.float64), method="gmres")


@pytest.mark.parametrize("dt", DT, ids=str)
def test_eigsh_power_method(dt):
    S = spd(40, dt, 1e3, 13)
    A = ll.Dense(S).with_tags(hermitian=True)
    ev = torch.linalg.eigvalsh(S)
    (w, V), info = ll.eigsh(A, k=3, which="LA")
    assert info.converged
    assert_close(w, ev[-3:], 1e-9, "eigsh LA")
    assert torch.allclose(S @ V, V * w.to(dt), atol=1e-7)
    (w, V), info = ll.eigsh(A, k=2, which="SA")
    assert_close(w, ev[:2], 1e-8, "eigsh SA")
    sw = torch.from_numpy(np.sort(sla.eigsh(_np(S), k=2, which="LM")[0].real))
    assert_close(ll.eigsh(A, k=2, which="LM")[0][0], sw, 1e-9, "eigsh LM")
    (lam, v), info = ll.power_method(ll.Dense(torch.diag(torch.tensor([1.0, 5.0, 2.0], dtype=torch.float64))))
    assert abs(lam.item() - 5.0) < 1e-8 and info.converged
    with pytest.raises(ValueError, match="hermitian"):
        ll.eigsh(ll.Dense(S), k=1)


def test_regularized_lstsq_all_methods():
    W = general(20, torch.float64, 100.0, 14)[:, :12]
    R = ll.Dense(_rand((11, 12), torch.float64, 15))
    b = _rand((20,), torch.float64, 16)
    eps = 0.3
    Wd = torch.cat([W, eps**0.5 * R.to_dense()])
    bd = torch.cat([b, torch.zeros(11, dtype=torch.float64)])
    expected = torch.linalg.lstsq(Wd, bd.unsqueeze(-1)).solution[:, 0]
    for method in ("auto", "cgls", "cg"):
        x, info = ll.regularized_lstsq(ll.Dense(W), b, [R], [eps], method=method, rtol=1e-12)
        assert info.converged, method
        assert_close(x, expected, 1e-8, method)


def test_fista_and_split_bregman():
    A = ll.Dense(_rand((30, 20), torch.float64, 17) / 30**0.5)
    xt = torch.zeros(20, dtype=torch.float64)
    xt[[2, 7, 15]] = torch.tensor([1.0, -2.0, 1.5], dtype=torch.float64)
    b = A @ xt
    x, info = ll.fista(A, b, lam=1e-3, maxiter=5000, rtol=1e-10)
    assert info.converged and (x - xt).abs().max() < 0.05
    assert info.matvecs >= 2 * info.iterations
    I = ll.Identity((20,), dtype=torch.float64)
    x2, info2 = ll.split_bregman(A, b, regs=[I], lams=[1e-3], mu=1.0, maxiter=500, inner_maxiter=10, rtol=1e-9)
    assert info2.converged and (x2 - xt).abs().max() < 0.05
