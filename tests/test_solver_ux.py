"""Long solves (DESIGN §5): every solver takes ``callback=``, ``show=`` and ``progress=``; iteration budgets
return the last iterate; failure messages say the right thing."""

import inspect
import re
import sys
import types
import warnings

import pytest
import torch

import lazylinops as ll
from lazylinops.solvers.kernels.flat import Run, norm, worst
from lazylinops.solvers.kernels.krylov import stop_reason
from lazylinops.solvers.methods import METHODS, SOLVE, Method, names

F64 = torch.float64
N = 40
RULE = "-" * 72
ITERATIVE = tuple(n for n in names(SOLVE) if METHODS[n].kernel is not None and not METHODS[n].direct)
SOLVERS = (
    ll.solve,
    ll.lstsq,
    ll.cgls,
    ll.lsqr,
    ll.regularized_lstsq,
    ll.fista,
    ll.split_bregman,
    ll.eigsh,
    ll.power_method,
)


def _rand(shape, seed):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _spd(n=N, lo=1.0, hi=100.0, seed=0):
    Q = torch.linalg.qr(_rand((n, n), seed))[0]
    return ll.Dense((Q * torch.linspace(lo, hi, n, dtype=F64)) @ Q.T).with_tags(hermitian=True, pd=True)


def _general(n=N, seed=3):
    return ll.Dense(_rand((n, n), seed) / n**0.5 + 2 * torch.eye(n, dtype=F64))


def _rect(seed=1):
    U = torch.linalg.qr(_rand((60, 30), seed))[0]
    V = torch.linalg.qr(_rand((30, 30), seed + 1))[0]
    return ll.Dense((U * torch.logspace(0, -2, 30, dtype=F64)) @ V.T)


A_SPD, A_GEN, A_RECT = _spd(), _general(), _rect()
B = _rand((N,), 5)
B_RECT = _rand((60,), 6)
IDENT = ll.Identity((30,), dtype=F64)
A_POWER = _spd(lo=1.0, hi=4.0, seed=7) + ll.Dense(6.0 * torch.outer(B, B) / B.dot(B)).with_tags(hermitian=True)
A_POWER = A_POWER.with_tags(hermitian=True)


def _solve_op(method):
    needs = METHODS[method].needs
    return A_SPD if needs else A_GEN


# name → (call(**kw) -> (x, info), the ``x`` the callback sees (shape), its residual's shape, its "who")
CASES = {
    **{
        f"solve-{m}": (
            lambda m=m, **kw: ll.solve(_solve_op(m), B, method=m, return_info=True, **kw),
            (N,),
            (),
            "ll.solve",
        )
        for m in ITERATIVE
    },
    "solve-columns": (
        lambda **kw: ll.solve(A_SPD, torch.stack([B, 2 * B + 1], -1), method="cg", return_info=True, **kw),
        (N, 2),
        (2,),
        "ll.solve",
    ),
    "lstsq-lsqr": (lambda **kw: ll.lstsq(A_RECT, B_RECT, method="lsqr", return_info=True, **kw), (30,), (), "ll.lstsq"),
    "lstsq-cgls": (lambda **kw: ll.lstsq(A_RECT, B_RECT, method="cgls", return_info=True, **kw), (30,), (), "ll.lstsq"),
    "cgls": (lambda **kw: ll.cgls(A_RECT, B_RECT, **kw), (30,), (), "ll.cgls"),
    "lsqr": (lambda **kw: ll.lsqr(A_RECT, B_RECT, damp=0.1, **kw), (30,), (), "ll.lsqr"),
    "lsqr-batch": (lambda **kw: ll.lsqr(A_RECT, torch.stack([B_RECT, -B_RECT]), **kw), (2, 30), (2,), "ll.lsqr"),
    **{
        f"regularized_lstsq-{m}": (
            lambda m=m, **kw: ll.regularized_lstsq(A_RECT, B_RECT, [IDENT], [1e-3], method=m, **kw),
            (30,),
            (),
            "ll.regularized_lstsq",
        )
        for m in ("lsqr", "cgls", "cg")
    },
    "fista": (
        lambda **kw: ll.fista(A_RECT, B_RECT, lam=1e-3, maxiter=kw.pop("maxiter", 40), **kw),
        (30,),
        (),
        "ll.fista",
    ),
    "split_bregman": (
        lambda **kw: ll.split_bregman(A_RECT, B_RECT, regs=[IDENT], lams=[1e-2], maxiter=kw.pop("maxiter", 25), **kw),
        (30,),
        (),
        "ll.split_bregman",
    ),
    "power_method": (lambda **kw: ll.power_method(A_POWER, **kw), (N,), (), "ll.power_method"),
    "eigsh": (lambda **kw: ll.eigsh(_spd(100, seed=9), k=2, ncv=8, **kw), (100, 2), (2,), "ll.eigsh"),
}
WITH_OBJECTIVE = {"lstsq-lsqr", "lstsq-cgls", "cgls", "lsqr", "lsqr-batch", "fista", "split_bregman", "power_method"}
WITH_OBJECTIVE |= {"eigsh", "regularized_lstsq-lsqr", "regularized_lstsq-cgls"}


def _result(x):
    return x[1] if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], tuple) else x


# ------------------------------------------------------------------------------------------ callback


@pytest.mark.parametrize("case", list(CASES))
def test_callback_once_per_iteration(case):
    run, xshape, rshape, _ = CASES[case]
    calls = []
    out, info = run(callback=lambda it, x, res: calls.append((it, x.clone(), res.clone())))
    assert info.iterations > 1, info  # a case worth watching
    assert [c[0] for c in calls] == list(range(1, info.iterations + 1)), (case, info)
    for it, x, res in calls:
        assert tuple(x.shape) == xshape and tuple(res.shape) == rshape, (it, x.shape, res.shape)
        assert isinstance(x, torch.Tensor) and not x.requires_grad
        assert bool(torch.isfinite(res).all()) and bool((res >= 0).all())
    if case != "eigsh":  # eigsh sorts its pairs at the end
        last = out[1] if case == "power_method" else out
        assert torch.allclose(calls[-1][1], last, rtol=1e-8, atol=1e-10), case


def test_callback_through_the_lazy_inverse():
    calls = []
    y = ll.inv(A_SPD, method="cg", callback=lambda it, x, res: calls.append((it, x.shape, res.shape))) @ B
    _, info = ll.solve(A_SPD, B, method="cg", return_info=True)
    assert [c[0] for c in calls] == list(range(1, info.iterations + 1))
    assert calls[0][1:] == (torch.Size([N]), torch.Size([]))
    assert torch.allclose(y, ll.solve(A_SPD, B, method="cg"))


def _lying_richardson(p, x, x_zero, budget):
    """x ← x + ω (b − A x), whose first call claims convergence after two steps (a drifted estimate)."""
    first = not _lying_richardson.called
    _lying_richardson.called = True
    it = 0
    res = norm(p.b - p.P.mv(x))
    while it < budget and (worst(res, p.tol) > 0 if not first else it < 2):
        x = x + 0.6 * (p.b - p.P.mv(x))
        res = norm(p.b - p.P.mv(x))
        it += 1
        p.callback(it, x, res)
    if first:
        return Run(x, it, torch.zeros_like(res), res == res, "converged (a lie)", ll.Status.converged)
    return Run(x, it, res, res <= p.tol, *stop_reason(it, budget, worst(res, p.tol)))


def test_callback_counts_on_across_restarts(monkeypatch):
    """A kernel restarted by the engine (its estimate disagreed with the true residual) counts on from there."""
    monkeypatch.setitem(METHODS, "lying", Method(_lying_richardson, doc="toy"))
    _lying_richardson.called = False
    calls = []
    _, info = ll.solve(
        _spd(lo=1.0, hi=2.0, seed=12),
        B,
        method="lying",
        rtol=1e-6,
        return_info=True,
        callback=lambda i, x, r: calls.append(i),
    )
    assert info.converged and info.iterations > 2
    assert calls == list(range(1, info.iterations + 1))


# ------------------------------------------------------------------------------------------ show


def _due(it, show):
    if show is True:
        return it <= 10 or it % 10 ** (len(str(it)) - 1) == 0
    return it == 1 or it % show == 0


def _check_log(out, who, info, show, objective):
    lines = out.rstrip("\n").split("\n")
    assert lines[0].startswith(f"{who}: "), lines[0]
    assert lines[1].startswith("rtol = ") or "rtol = " in lines[1], lines[1]
    assert lines[2] == RULE and lines[3].split()[0] == "Itn", lines[:4]
    end = lines.index(RULE, 4)
    body, footer = lines[4:end], lines[end + 1 :]
    printed = [int(line.split()[0]) for line in body]
    n = info.iterations
    expected = [i for i in range(1, n + 1) if _due(i, show)]
    if expected[-1] != n:
        expected.append(n)  # the last iteration is always shown
    assert printed == expected, (printed, expected)
    for line in body:
        fields = line.split()
        assert len(fields) == (3 if objective else 2), line
        assert all(re.fullmatch(r"-?\d\.\d{4}e[+-]\d\d", f) for f in fields[1:]), line
    assert len(footer) == 1, footer
    assert footer[0].startswith(f"{info.status.name}: {n} iterations, {info.matvecs} matvecs"), footer
    assert re.search(r"\d s$", footer[0]), footer  # time
    return len(lines)


@pytest.mark.parametrize("case", list(CASES))
def test_show_prints_header_iterations_and_footer(case, capsys):
    run, _, _, who = CASES[case]
    capsys.readouterr()
    _, info = run(show=True)
    _check_log(capsys.readouterr().out, who, info, True, case in WITH_OBJECTIVE)


@pytest.mark.parametrize("case", ["solve-cg", "fista", "lsqr", "eigsh"])
def test_show_every_k_iterations(case, capsys):
    run, _, _, who = CASES[case]
    capsys.readouterr()
    _, info = run(show=3)
    assert info.iterations > 3
    nlines = _check_log(capsys.readouterr().out, who, info, 3, case in WITH_OBJECTIVE)
    assert nlines == 4 + len({1, info.iterations, *range(3, info.iterations + 1, 3)}) + 2


def test_show_long_run_prints_a_bounded_log(capsys):
    capsys.readouterr()
    _, info = ll.fista(A_RECT, B_RECT, lam=1e-4, maxiter=500, rtol=0.0, show=True)
    out = capsys.readouterr().out
    assert info.iterations == 500
    assert len(out.splitlines()) == 4 + (10 + 9 + 4) + 2  # 1..10, 20..100, 200..500


def test_show_never_changes_the_iterates(capsys):
    for case in ("solve-gmres", "lsqr", "fista", "split_bregman", "regularized_lstsq-cgls"):
        run = CASES[case][0]
        x1, i1 = run()
        x2, i2 = run(show=True)
        assert torch.equal(x1, x2) and i1.iterations == i2.iterations, case


def test_show_for_exact_solves(capsys):
    capsys.readouterr()
    D = ll.Diagonal(torch.tensor([2.0, 4.0], dtype=F64))
    ll.solve(D, torch.ones(2, dtype=F64), show=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ll.solve: method 'structural' on Diagonal (2, 2) float64, 1 right-hand side"
    assert lines[-1].startswith("exact: 0 iterations, 0 matvecs") and "not measured" in lines[-1]
    ll.lstsq(A_RECT, B_RECT, method="dense", show=True)
    assert capsys.readouterr().out.splitlines()[-1].startswith("exact: 0 iterations")


def test_show_footer_says_why_it_stopped(capsys):
    capsys.readouterr()
    with pytest.raises(ll.NotConverged):
        ll.solve(A_SPD, B, method="cg", maxiter=4, show=True)
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("max_iterations: 4 iterations"), out  # printed before the exception


# ------------------------------------------------------------------------------------------ progress


class FakeBar:
    made = []

    def __init__(self, total=None, desc=None, leave=False, **kw):
        self.total, self.desc, self.leave, self.n = total, desc, leave, 0
        self.postfix, self.closed, self.written = [], False, []
        FakeBar.made.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix_str(self, s, refresh=True):
        self.postfix.append(s)

    def write(self, s):
        self.written.append(s)

    def refresh(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeBar.made.clear()
    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    return FakeBar.made


@pytest.mark.parametrize("case", list(CASES))
def test_progress_bar_counts_iterations_and_shows_the_residual(case, fake_tqdm):
    run, _, _, who = CASES[case]
    _, info = run(progress=True)
    assert len(fake_tqdm) == 1
    bar = fake_tqdm[0]
    assert bar.desc == who and bar.leave is True and bar.closed
    assert bar.n == info.iterations
    assert len(bar.postfix) >= info.iterations
    assert all(re.search(r"=\d\.\d\de[+-]\d\d", p) for p in bar.postfix), bar.postfix[:3]
    assert info.status.name in bar.postfix[-1]
    if info.converged:
        assert bar.total == bar.n  # a converged bar is full


def test_progress_and_show_share_the_screen(fake_tqdm, capsys):
    _, info = ll.lsqr(A_RECT, B_RECT, progress=True, show=True)
    bar = fake_tqdm[0]
    assert bar.written[0].startswith("ll.lsqr: ") and bar.written[-1].startswith("converged:")  # above the bar
    assert capsys.readouterr().out == ""


def test_progress_with_real_tqdm(capsys):
    pytest.importorskip("tqdm")
    x, info = ll.lsqr(A_RECT, B_RECT, progress=True)  # raised TypeError before
    err = capsys.readouterr().err
    assert info.converged and "ll.lsqr" in err and "100%" in err and "converged" in err
    x2, _ = ll.lsqr(A_RECT, B_RECT)
    assert torch.equal(x, x2)


@pytest.mark.parametrize("case", list(CASES))
def test_progress_without_tqdm_warns_clearly(case, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    run = CASES[case][0]
    with pytest.warns(RuntimeWarning, match=r"progress=True needs tqdm.*pip install") as rec:
        x, info = run(progress=True)
    assert rec[0].filename == __file__  # at the user's line
    assert info.iterations > 0 and x is not None


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda f: f.__name__)
def test_every_solver_takes_the_watch_options(solver):
    params = inspect.signature(solver).parameters
    assert {"callback", "show", "progress"} <= set(params), solver.__name__
    assert params["show"].default is False and params["progress"].default is False


BAD = {
    "show='yes'": ({"show": "yes"}, TypeError, "show must be"),
    "show=0": ({"show": 0}, TypeError, "show must be"),
    "progress=1": ({"progress": 1}, TypeError, "progress must be"),
    "callback=3": ({"callback": 3}, TypeError, "callback must be callable"),
}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("case", ["solve-cg", "lstsq-lsqr", "cgls", "regularized_lstsq-lsqr", "fista", "split_bregman"])
def test_bad_watch_options_are_refused(case, bad):
    kw, exc, msg = BAD[bad]
    with pytest.raises(exc, match=msg):
        CASES[case][0](**kw)


@pytest.mark.parametrize("bad", list(BAD))
def test_bad_watch_options_are_refused_by_eigen_solvers_and_inv(bad):
    kw, exc, msg = BAD[bad]
    with pytest.raises(exc, match=msg):
        ll.eigsh(A_SPD, **kw)
    with pytest.raises(exc, match=msg):
        ll.power_method(A_SPD, **kw)
    with pytest.raises(exc, match=msg):
        ll.inv(A_SPD, method="cg", **kw)


# ------------------------------------------------------------------------------------------ budgets


def test_iteration_budgets_return_the_last_iterate():
    """fista, split_bregman and power_method: maxiter is a budget (DESIGN §5), never an error by default."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for run, budget in (
            (lambda **kw: ll.fista(A_RECT, B_RECT, lam=1e-4, rtol=1e-12, **kw), 50),
            (lambda **kw: ll.split_bregman(A_RECT, B_RECT, regs=[IDENT], lams=[1e-3], rtol=1e-12, **kw), 30),
            (lambda **kw: ll.power_method(_spd(seed=4), **kw), 5),
        ):
            seen = []
            out, info = run(maxiter=budget, callback=lambda it, x, r, seen=seen: seen.append(x))
            assert not info.converged and info.status is ll.Status.max_iterations and info.iterations == budget
            x = out[1] if isinstance(out, tuple) else out
            assert torch.equal(x, seen[-1])  # the last iterate
            with pytest.raises(ll.NotConverged) as exc:  # asked for
                run(maxiter=budget, on_failure="raise")
            assert torch.equal(exc.value.x[1] if isinstance(exc.value.x, tuple) else exc.value.x, x)


LINEAR = {
    "solve": lambda **kw: ll.solve(A_SPD, B, method="cg", maxiter=3, return_info=True, **kw),
    "lstsq": lambda **kw: ll.lstsq(A_RECT, B_RECT, maxiter=3, return_info=True, **kw),
    "cgls": lambda **kw: ll.cgls(A_RECT, B_RECT, maxiter=3, **kw),
    "lsqr": lambda **kw: ll.lsqr(A_RECT, B_RECT, maxiter=3, **kw),
    "regularized_lstsq": lambda **kw: ll.regularized_lstsq(A_RECT, B_RECT, [IDENT], [1e-3], maxiter=3, **kw),
    "regularized_lstsq-cg": lambda **kw: ll.regularized_lstsq(
        A_RECT, B_RECT, [IDENT], [1e-3], method="cg", maxiter=3, **kw
    ),
    "inv": lambda **kw: (ll.inv(A_SPD, method="cg", maxiter=3, **kw) @ B, None),
    "eigsh": lambda **kw: ll.eigsh(_spd(100, seed=9), k=2, ncv=8, maxiter=10, **kw),
}


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_solves_raise_then_warn_with_the_right_message(name):
    with pytest.raises(ll.NotConverged) as exc:
        LINEAR[name]()
    msg = str(exc.value)
    assert "on_failure='warn'" in msg and ".x" in msg
    assert ("preconditioner M" in msg) == (name in ("solve", "inv", "regularized_lstsq-cg")), (
        msg
    )  # only where M applies
    with pytest.warns(ll.ConvergenceWarning) as rec:
        out, info = LINEAR[name](on_failure="warn")
    text = str(rec[0].message)
    assert "on_failure='warn'" not in text, text  # it was passed already
    assert "the last iterate is returned" in text and "on_failure='ignore'" in text, text
    assert rec[0].filename == __file__
    x = out[1] if isinstance(out, tuple) else out
    ex = exc.value.x[1] if isinstance(exc.value.x, tuple) else exc.value.x
    assert torch.equal(x, ex)
    if info is not None:
        assert not info.converged and info.status is ll.Status.max_iterations
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LINEAR[name](on_failure="ignore")


# ------------------------------------------------------------------------------------------ docstrings


@pytest.mark.parametrize("solver", [*SOLVERS, ll.inv], ids=lambda f: f.__name__)
def test_docstrings_name_every_parameter(solver):
    doc = inspect.getdoc(solver)
    assert "\nParameters\n----------\n" in doc and "\nReturns\n-------\n" in doc, solver.__name__
    block = doc.split("\nParameters\n----------\n")[1].split("\nReturns\n")[0]
    listed = set()
    for line in block.splitlines():
        if line and not line[0].isspace():
            listed.update(n.strip().lstrip("*") for n in line.split(" : ")[0].split(","))
    missing = [p for p in inspect.signature(solver).parameters if p not in listed]
    assert not missing, (solver.__name__, missing)
