"""The solver table: names, option checks, refusals, "auto"'s choice and the docs derive from ``METHODS``.

A toy row added by ``monkeypatch`` (a Richardson iteration) must be accepted by ``ll.solve``,
``ll.inv`` and (when it says so) ``ll.lstsq`` with no other edit; these tests fail if any of
those hard-codes its method list.
"""

import dataclasses
import gc
import weakref

import pytest
import torch

import lazylinops as ll
from lazylinops.solvers import engine, methods
from lazylinops.solvers.kernels.flat import Run, norm, worst
from lazylinops.solvers.kernels.krylov import stop_reason
from lazylinops.solvers.methods import LSTSQ, METHODS, SOLVE, Method
from lazylinops.testing import assert_close

F64 = torch.float64
CALLS = []


def richardson(p, x, x_zero, budget):
    """x ← x + ω (b − A x): converges for Hermitian A with spectrum in (0, 2/ω)."""
    omega = p.option("omega", 0.5)
    CALLS.append(omega)
    res = norm(p.b - p.P.mv(x))
    it = 0
    while worst(res, p.tol) > 0 and it < budget:
        x = x + omega * (p.b - p.P.mv(x))
        res = norm(p.b - p.P.mv(x))
        it += 1
    return Run(x, it, res, res <= p.tol, *stop_reason(it, budget, worst(res, p.tol)))


def check_omega(who, omega):
    if not isinstance(omega, float) or not 0 < omega < 2:
        raise ValueError(f"{who}: omega must be a float in (0, 2), got {omega!r}")
    return omega


TOY = Method(richardson, options={"omega": check_omega}, doc="Richardson iteration (toy)")


@pytest.fixture
def toy(monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(METHODS, "toy", TOY)
    return TOY


def spd(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=g))[0]
    W = Q @ torch.diag(torch.linspace(1.0, 1.5, n, dtype=F64)) @ Q.T  # spectrum in [1, 1.5]: ω = 0.5 converges
    return ll.FromFunction(lambda x: x @ W.T, (n,), (n,), adjoint=lambda y: y @ W, dtype=F64), W


def test_names_derive_from_the_table():
    assert methods.names(SOLVE) == tuple(METHODS)
    assert methods.names(LSTSQ) == tuple(n for n, r in METHODS.items() if LSTSQ in r.problems)
    A, _ = spd()
    with pytest.raises(ValueError, match="method must be one of") as exc:
        ll.solve(A, torch.ones(6, dtype=F64), method="qr")
    assert str(methods.names(SOLVE)) in str(exc.value)
    with pytest.raises(ValueError, match="method must be one of") as exc:
        ll.lstsq(A, torch.ones(6, dtype=F64), method="gmres")
    assert str(methods.names(LSTSQ)) in str(exc.value)


def test_a_toy_row_is_accepted_everywhere(toy):
    A, W = spd()
    b = torch.arange(1.0, 7.0, dtype=F64)
    x, info = ll.solve(A, b, method="toy", return_info=True)
    assert info.method == "toy" and info.converged and CALLS == [0.5]
    assert_close(x, torch.linalg.solve(W, b), 1e-8, "toy solve")
    y = ll.inv(A, method="toy", omega=0.6) @ b  # the row's own option, validated by the row
    assert CALLS[-1] == 0.6
    assert_close(y, torch.linalg.solve(W, b), 1e-8, "toy inverse")
    assert "toy" in methods.names(SOLVE) and "toy" not in methods.names(LSTSQ)
    with pytest.raises(ValueError, match="method must be one of.*'toy'"):
        ll.solve(A, b, method="nope")
    with pytest.raises(ValueError, match="method must be one of"):
        ll.lstsq(A, b, method="toy")  # the row serves square solves only


def test_a_toy_row_for_least_squares(monkeypatch):
    monkeypatch.setitem(METHODS, "toy", dataclasses.replace(TOY, problems=(SOLVE, LSTSQ)))
    CALLS.clear()
    A, W = spd()
    b = torch.arange(1.0, 7.0, dtype=F64)
    x, info = ll.lstsq(A, b, method="toy", return_info=True, rtol=1e-10)
    assert info.method == "toy" and CALLS
    assert_close(x, torch.linalg.solve(W, b), 1e-7, "toy lstsq")


def test_options_derive_from_the_rows(toy):
    A, _ = spd()
    assert "omega" in methods.inverse_options() and "restart" in methods.inverse_options()
    with pytest.raises(ValueError, match="Inverse: omega must be a float"):
        ll.inv(A, method="toy", omega=3.0)
    with pytest.raises(ValueError, match="omega= only applies to method='toy', got method='gmres'"):
        ll.inv(A, method="gmres", omega=0.5)
    with pytest.raises(ValueError, match="restart= only applies to method='gmres', got method='toy'"):
        ll.solve(A, torch.ones(6, dtype=F64), method="toy", restart=3)
    with pytest.raises(TypeError, match="unknown options") as exc:
        ll.inv(A, method="toy", omgea=0.5)
    assert str(methods.inverse_options()) in str(exc.value)


def test_inverse_options_today():
    assert methods.inverse_options() == (
        "method",
        "rtol",
        "atol",
        "maxiter",
        "callback",
        "show",
        "progress",
        "M",
        "restart",
        "on_failure",
    )


def test_needed_tags_come_from_the_row(monkeypatch):
    monkeypatch.setitem(METHODS, "toy", dataclasses.replace(TOY, needs=("hermitian",)))
    A, W = spd()
    with pytest.raises(ValueError, match="method='toy' needs a hermitian operator.*use method='gmres'"):
        ll.solve(A, torch.ones(6, dtype=F64), method="toy")
    x = ll.solve(A.with_tags(hermitian=True), torch.ones(6, dtype=F64), method="toy")
    assert_close(x, torch.linalg.solve(W, torch.ones(6, dtype=F64)), 1e-8, "toy on a hermitian A")


def test_auto_choice_comes_from_the_table(monkeypatch):
    A, _ = spd()
    H = A.with_tags(hermitian=True, pd=True)
    b = torch.ones(6, dtype=F64)
    assert ll.solve(H, b, return_info=True)[1].method == "cg"
    monkeypatch.setitem(METHODS, "cg", dataclasses.replace(METHODS["cg"], auto=None))
    assert ll.solve(H, b, return_info=True)[1].method == "minres"
    assert ll.lstsq(A, b, return_info=True)[1].method == "lsqr"
    monkeypatch.setitem(METHODS, "cgls", dataclasses.replace(METHODS["cgls"], auto=()))
    assert ll.lstsq(A, b, return_info=True)[1].method == "cgls"


def test_preconditioner_use_comes_from_the_row(monkeypatch):
    A, W = spd()
    b = torch.ones(6, dtype=F64)
    M = ll.Dense(torch.linalg.inv(W))  # not tagged hermitian / pd
    x, info = ll.solve(A, b, method="gmres", M=M, return_info=True)
    assert info.iterations <= 2  # an exact preconditioner
    with pytest.raises(ValueError, match="Hermitian positive definite preconditioner"):
        ll.solve(A.with_tags(hermitian=True, pd=True), b, method="cg", M=M)
    monkeypatch.setitem(METHODS, "gmres", dataclasses.replace(METHODS["gmres"], M=None))
    x, info = ll.solve(A, b, method="gmres", M=M, return_info=True)
    assert info.iterations > 2  # M ignored by a row that takes none


def test_default_maxiter_comes_from_the_row(monkeypatch):
    A, _ = spd()
    monkeypatch.setitem(METHODS, "gmres", dataclasses.replace(METHODS["gmres"], maxiter=lambda n: 2))
    with pytest.raises(ll.NotConverged) as exc:
        ll.solve(A, torch.arange(1.0, 7.0, dtype=F64), method="gmres")
    assert exc.value.info.iterations == 2


def test_docs_list_every_row():
    for fn, kind in ((ll.solve, SOLVE), (ll.lstsq, LSTSQ)):
        listed = [n for n in METHODS if f'``"{n}"``' in fn.__doc__]
        assert listed == list(methods.names(kind)), fn.__name__
        assert "{methods}" not in fn.__doc__
    assert f"({', '.join(methods.inverse_options())})" in ll.inv.__doc__
    for name in METHODS:
        if name != "auto":
            assert METHODS[name].doc.split(",")[0].split(" (")[0] in ll.solve.__doc__.replace("\n ", " ")


def test_document_uses_the_table(toy):
    def f():
        """Doc.

        Parameters
        ----------
        method : str
            {methods}
        """

    doc = methods.document(SOLVE)(f).__doc__
    assert '- ``"toy"``: Richardson iteration (toy)' in doc and "{methods}" not in doc

    def g():
        """Options: {options}."""

    assert "restart, omega, on_failure." in methods.document(SOLVE)(g).__doc__


def test_solver_facts_live_in_the_memo_and_are_never_stale():
    w = torch.tensor([2.0, 4.0, 8.0], dtype=F64)
    D = ll.Diagonal(w)
    b = torch.ones(3, dtype=F64)
    ll.solve(D, b)
    keys = set(D._fresh_cache())
    assert not keys & {"inverse", "inverted", "finite", "inverse_kind"}, keys
    f = engine.facts(D)
    assert f.built and f.finite and not isinstance(f.inverse, ll.LinearOperator)  # first build not kept
    ll.solve(D, b)
    assert isinstance(engine.facts(D).inverse, ll.LinearOperator)  # kept from the second build
    with torch.no_grad():
        w.mul_(2)  # in place: the version counter moves, the facts are dropped
    assert engine.facts(D) is not f and not engine.facts(D).built
    assert_close(ll.solve(D, b), 1 / (2 * torch.tensor([2.0, 4.0, 8.0], dtype=F64)), what="after an in-place step")


def test_a_one_off_solve_leaves_no_reference_cycle():
    gc.collect()
    gc.disable()
    try:
        A = ll.Dense(torch.eye(4, dtype=F64) * 2)
        ll.solve(A, torch.ones(4, dtype=F64))
        ref = weakref.ref(A)
        del A
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()
