"""THE table of solve methods: one row per name ``ll.solve`` / ``ll.lstsq`` / ``ll.inv`` accept.

Everything about a method is in its row: the kernel that runs it, the problems it serves,
the tags it needs from ``A``, whether it uses a preconditioner ``M`` (and what ``M`` must
be), its own options with their validators, its default iteration budget, and the line the
docstrings of ``ll.solve`` / ``ll.lstsq`` show. The accepted names, the option checks (and
their error messages), the "needs a tag" refusal, ``method="auto"``'s choice and the method
lists in the docstrings are all derived from ``METHODS``. Adding a solver is one kernel
function and one row.

An iterative kernel is called as ``kernel(p, x, x_zero, budget) -> Run`` where ``p`` is the
``Problem`` (the flat system ``p.P x = p.b`` with tolerances ``p.tol``, ``p.M``, and ``p.callback``:
the solve's ``Monitor`` or None, to call as ``p.callback(iteration, x, residual)`` after each
iteration); it may be called again from its last iterate when the true residual, which the
engine measures after it, disagrees with the kernel's estimate. A direct kernel
(``direct=True``) is called once as ``kernel(p) -> (x, SolveInfo)`` on the flat system.
"""

import textwrap
from dataclasses import dataclass, field, replace

import torch

from ..core.base import LinearOperator
from .kernels import krylov, lsq
from .kernels.direct import dense
from .kernels.flat import Flat
from .monitor import check_progress, check_show
from .status import (
    ADVICE,
    ON_FAILURE,
    check_callback,
    check_choice,
    check_maxiter,
    check_tolerances,
    default_rtol,
    unnamed,
)

SOLVE, LSTSQ = "solve", "lstsq"  # the problem kinds: A x = b (square A), min ‖A x − b‖² + damp²‖x‖²


def default_maxiter(n):
    """Ten iterations per unknown (at least ten)."""
    return 10 * max(n, 1)


@dataclass(frozen=True)
class Method:
    """One row of ``METHODS``.

    - ``kernel``: the function that runs the method (see the module docstring); None for
      ``"auto"``, which picks another row.
    - ``problems``: the problem kinds it serves, ``"solve"`` (``ll.solve``, ``ll.inv``) and/or
      ``"lstsq"`` (``ll.lstsq``); a method serving only ``"solve"`` needs a square ``A``.
    - ``needs``: tags ``A`` must be known to have (``"psd"`` is met by ``"pd"``, ``"hermitian"``
      by ``"pd"``); an explicit request on an operator without them is refused, naming them.
    - ``auto``: ``method="auto"`` picks the first row (in table order) serving the problem
      whose ``auto`` tags ``A`` has; None: never picked by "auto".
    - ``M``: None when the method ignores a preconditioner; else the tags ``M`` must have
      (``()``: any operator approximating ``A⁻¹``).
    - ``options``: the method's own options, ``{name: validator(who, value) -> value}``.
    - ``maxiter``: the default iteration budget from the number of unknowns.
    - ``direct``: solves at once (``kernel(p) -> (x, info)``), no iterations.
    - ``true_residual``: the kernel's final residual is the measured ``‖b − A x‖`` already.
    - ``doc``: the line the docstrings of ``ll.solve`` / ``ll.lstsq`` show.
    """

    kernel: object
    problems: tuple = (SOLVE,)
    needs: tuple = ()
    auto: tuple = None
    M: tuple = None
    options: dict = field(default_factory=dict)
    maxiter: object = default_maxiter
    direct: bool = False
    true_residual: bool = False
    doc: str = ""


@dataclass
class Problem:
    """What a kernel sees: one call's flat system ``P x = b`` (``(B, n) → (B, m)`` batches).

    ``stop`` is ``"residual"`` (``‖b − A x‖``, a solve) or ``"normal"`` (``‖Aᴴ(b − A x) − damp² x‖``,
    least squares); ``tol`` the per-RHS tolerance ``(B,)`` (None for direct kernels, which use
    ``rtol``/``atol``); ``M`` a ``Flat`` preconditioner or None; ``callback`` the solve's ``Monitor``
    (None when nobody watches). ``who`` (the user's call) is for logs and warnings only: a kernel
    raises its errors with ``unnamed(...)`` and the engine's boundary puts the call's name in front.
    """

    who: str
    A: LinearOperator
    P: Flat
    b: torch.Tensor
    batch: torch.Size
    opts: "Options"
    stop: str
    tol: torch.Tensor = None
    M: Flat = None
    callback: object = None

    @property
    def damp(self):
        return self.opts.damp if self.stop == "normal" else 0.0

    def option(self, name, default=None):
        """A method option's validated value (``default`` when not given)."""
        return self.opts.option(name, default)


# ------------------------------------------------------------------ kernels
def _krylov(fn):
    """A row's kernel for a Krylov function of ``kernels.krylov`` with the standard signature."""

    def kernel(p, x, x_zero, budget):
        return fn(p.P, p.b, x, p.tol, budget, M=p.M, x_zero=x_zero, callback=p.callback)

    kernel.__name__ = kernel.__qualname__ = fn.__name__
    kernel.__doc__ = fn.__doc__
    return kernel


def gmres_restart(n, B, itemsize):
    """GMRES's default Krylov dimension: full GMRES up to n = 100 (what a dense solve handles), else
    as many basis vectors as fit in 256 MiB (at least 20, at most 100)."""
    fit = (256 << 20) // max(1, (B * n * itemsize)) - 1
    return max(1, min(n, max(20, min(100, fit))))


def gmres(p, x, x_zero, budget):
    """Restarted GMRES; ``restart`` (the Krylov dimension) defaults to ``gmres_restart``."""
    restart = p.option("restart") or gmres_restart(p.P.n, p.b.shape[0], p.b.element_size())
    return krylov.gmres(p.P, p.b, x, p.tol, budget, M=p.M, x_zero=x_zero, restart=restart, callback=p.callback)


def cgls(p, x, x_zero, budget):
    """CGLS on ``[A; damp I]``, stopping on ``p.stop``'s residual."""
    S = lsq.Stacked([p.P], [1.0])
    return lsq.cgls(S, [p.b], x, p.tol, budget, damp=p.damp, stop=p.stop, x_zero=x_zero, callback=p.callback)


def lsqr(p, x, x_zero, budget):
    """LSQR on ``[A; damp I]``, stopping on ``p.stop``'s residual."""
    S = lsq.Stacked([p.P], [1.0])
    return lsq.lsqr_shifted(S, [p.b], x, x_zero, p.tol, budget, p.damp, p.stop, p.callback)


def check_restart(who, restart):
    if isinstance(restart, bool) or not isinstance(restart, int) or restart < 1:
        raise ValueError(f"{who}: restart must be an int ≥ 1 (GMRES's Krylov dimension), got {restart!r}")
    return restart


_HPD = ("hermitian", "pd")

# ------------------------------------------------------------------ THE table
METHODS = {
    "auto": Method(
        None,
        problems=(SOLVE, LSTSQ),
        doc="an exact structural inverse when A has one (0 matvecs), else",
    ),
    "cg": Method(
        _krylov(krylov.cg),
        needs=("hermitian", "psd"),
        auto=_HPD,
        M=_HPD,
        doc="conjugate gradients (Hermitian positive (semi)definite A), one matvec per iteration",
    ),
    "minres": Method(
        _krylov(krylov.minres),
        needs=("hermitian",),
        auto=("hermitian",),
        M=_HPD,
        doc="MINRES (Hermitian A, possibly indefinite), one matvec per iteration",
    ),
    "gmres": Method(
        gmres,
        auto=(),
        M=(),
        options={"restart": check_restart},
        true_residual=True,
        doc="restarted GMRES (any square A; ``restart`` is its Krylov dimension)",
    ),
    "bicgstab": Method(_krylov(krylov.bicgstab), M=(), doc="BiCGStab (any square A), two matvecs per iteration"),
    "cgls": Method(
        cgls, problems=(SOLVE, LSTSQ), doc="CGLS, CG on the normal equations (any A), two matvecs per iteration"
    ),
    "lsqr": Method(
        lsqr,
        problems=(SOLVE, LSTSQ),
        auto=(),
        doc="LSQR, Golub–Kahan bidiagonalisation (any A), two matvecs per iteration",
    ),
    "dense": Method(
        dense,
        problems=(SOLVE, LSTSQ),
        direct=True,
        doc="``A.to_dense()`` solved by LU (solve) or by an SVD, minimum norm (lstsq)",
    ),
}


# ------------------------------------------------------------------ derived from the table
def names(kind):
    """The method names a problem kind accepts, in table order."""
    return tuple(name for name, row in METHODS.items() if kind in row.problems)


def option_names():
    """Every method's own options (``"M"`` first when some row takes a preconditioner), in table order."""
    out = ["M"] if any(row.M is not None for row in METHODS.values()) else []
    for row in METHODS.values():
        out.extend(o for o in row.options if o not in out)
    return tuple(out)


def inverse_options():
    """The keyword options ``ll.inv`` / ``ll.Inverse`` accept."""
    return ("method", "rtol", "atol", "maxiter", "callback", "show", "progress", *option_names(), "on_failure")


def advice(method):
    """How to make ``method`` converge (the end of a ``NotConverged`` message): a preconditioner only
    where the method's row takes one."""
    row = METHODS.get(method)
    return "raise maxiter, loosen rtol/atol or use a preconditioner M" if row is not None and row.M else ADVICE


def has_tag(A, tag):
    """Structural property of ``A`` ("pd" implies "psd" and "hermitian")."""
    tags = A.tags
    if tag == "psd":
        return "psd" in tags or "pd" in tags
    if tag == "hermitian":
        return "hermitian" in tags or "pd" in tags
    return tag in tags


def auto_method(A, kind):
    """``method="auto"``'s choice after the structural inverse: the first row serving ``kind`` whose
    ``auto`` tags ``A`` has (solve: CG for Hermitian PD, MINRES for Hermitian, GMRES; lstsq: LSQR)."""
    for name, row in METHODS.items():
        if row.auto is not None and kind in row.problems and all(has_tag(A, t) for t in row.auto):
            return name
    raise LookupError(f"no row of METHODS may be picked by method='auto' for a {kind} problem")  # a table bug


def _fallback():
    return next((n for n, row in METHODS.items() if row.auto == () and SOLVE in row.problems), "dense")


_WORDS = {"psd": "positive (semi)definite"}


def refuse(method, A):
    """Raise when ``A`` is not known to have the tags the method's row needs, naming them."""
    tags = METHODS[method].needs
    missing = [t for t in tags if not has_tag(A, t)]
    if missing:
        need = " and ".join(_WORDS.get(t, t) for t in tags)
        raise unnamed(
            ValueError(
                f"method={method!r} needs a {need} operator, but {type(A).__name__} {tuple(A.shape)} is not "
                f"known to be {' / '.join(missing)} (its tags: {sorted(A.tags) or 'none'}); assert it with "
                f"A.with_tags(hermitian=True, pd=True) if true, or use method={_fallback()!r}"
            )
        )


_M_WORDS = {"hermitian": "Hermitian", "pd": "positive definite", "psd": "positive semidefinite"}


def check_preconditioner(method, M):
    """Raise when the preconditioner ``M`` lacks the tags the method's row asks of it (the row lists them
    weakest first; the message names the strongest one missing)."""
    tags = METHODS[method].M or ()
    missing = [t for t in tags if not has_tag(M, t)]
    if missing:
        need = " ".join(_M_WORDS.get(t, t) for t in tags)
        raise unnamed(
            ValueError(
                f"method={method!r} needs a {need} preconditioner, but M ({type(M).__name__}) is not known to "
                f"be {missing[-1]} (tags: {sorted(M.tags) or 'none'}); assert it with "
                f"M.with_tags({', '.join(f'{t}=True' for t in tags)})"
            )
        )


def square_only(method):
    """True when the method serves only square solves (a rectangular ``A`` needs ``ll.lstsq``)."""
    return LSTSQ not in METHODS[method].problems


def method_lines(kind):
    """The docstring lines for ``kind``'s methods: one per row, "auto"'s choice spelled out from the table."""
    lines = []
    for name in names(kind):
        row = METHODS[name]
        doc = row.doc
        if row.kernel is None:  # "auto": the rows it may pick, in order
            picks = []
            for n, r in METHODS.items():
                if r.auto is not None and kind in r.problems:
                    picks.append(f"``{n!r}``" + (f" when A is {' and '.join(r.auto)}" if r.auto else ""))
                    if not r.auto:
                        break  # always applies: the rows after it are never picked
            doc = f"{doc} {', else '.join(picks)}"
        lines.append(f'``"{name}"``: {doc}')
    return lines


def document(kind):
    """Decorator: replace the ``{methods}`` line of a docstring by the table's rows for ``kind`` and
    ``{options}`` by the options ``ll.inv`` accepts."""

    def deco(fn):
        lines = (fn.__doc__ or "").split("\n")
        for i, line in enumerate(lines):
            if line.strip() == "{methods}":
                pad = line[: len(line) - len(line.lstrip())]
                rows = [
                    textwrap.fill(r, 96, initial_indent=pad + "- ", subsequent_indent=pad + "  ")
                    for r in method_lines(kind)
                ]
                lines[i : i + 1] = rows
                break
        fn.__doc__ = "\n".join(lines).replace("{options}", ", ".join(inverse_options()))
        return fn

    return deco


# ------------------------------------------------------------------ options
@dataclass(frozen=True)
class Options:
    """Validated solver options (what ``Inverse`` stores and the backward solve reuses).

    ``extra``: the method's own options (a row's ``options``) as sorted ``(name, value)`` pairs;
    ``show``: False, True or a period (``monitor.check_show``).
    """

    method: str = "auto"
    rtol: float = None
    atol: float = 0.0
    maxiter: int = None
    M: object = None
    callback: object = None
    on_failure: str = "raise"
    progress: bool = False
    damp: float = 0.0
    extra: tuple = ()
    show: object = False

    def option(self, name, default=None):
        for k, v in self.extra:
            if k == name:
                return v
        return default

    def tolerances(self, dtype):
        """``(rtol, atol)`` for a solve in ``dtype`` (``rtol=None``: ``default_rtol(dtype)``)."""
        return (default_rtol(dtype) if self.rtol is None else float(self.rtol)), float(self.atol)

    def budget(self, default):
        """The iteration budget: ``maxiter``, or ``default`` when not given."""
        return default if self.maxiter is None else int(self.maxiter)

    def adjoint(self):
        """Options for the adjoint solve of the backward pass (no callback, log or bar; ``M`` → ``Mᴴ``)."""
        M = self.M.H if isinstance(self.M, LinearOperator) else self.M
        return replace(self, M=M, callback=None, progress=False, show=False, atol=0.0)

    def plain(self):
        """Options for an auxiliary solve (the normal equations of a backward pass): "auto", no damping,
        no method options."""
        return replace(self, method="auto", damp=0.0, extra=())


_SIMPLE = frozenset((str, int, float, bool, type(None)))
_VALIDATED = {}  # Options by the typed option values that produced them (hashable options only)


def make_options(
    who,
    *,
    method="auto",
    rtol=None,
    atol=0.0,
    maxiter=None,
    M=None,
    callback=None,
    on_failure="raise",
    progress=False,
    damp=0.0,
    show=False,
    kind=SOLVE,
    **extra,
):
    """Validated ``Options`` for a ``kind`` problem; ``extra`` holds method options (None: not given).

    Option values seen before (no callback, no operator M) skip validation.
    """
    allowed = names(kind)
    extra = tuple(sorted((k, v) for k, v in extra.items() if v is not None))
    values = (method, rtol, atol, maxiter, M, on_failure, progress, damp, show, extra)
    key = None
    if callback is None and _SIMPLE.issuperset(map(type, values[:-1])) and _simple(extra):
        key = (allowed, values, tuple(map(type, values)), tuple(type(v) for _, v in extra))  # 1, 1.0, True differ
        opts = _VALIDATED.get(key)
        if opts is not None:
            return opts
    opts = _validated(who, allowed, method, rtol, atol, maxiter, M, callback, on_failure, progress, damp, show, extra)
    if key is not None and len(_VALIDATED) < 512:
        _VALIDATED[key] = opts
    return opts


def _simple(extra):
    return all(type(v) in _SIMPLE for _, v in extra)


def _validated(who, allowed, method, rtol, atol, maxiter, M, callback, on_failure, progress, damp, show, extra):
    check_choice(who, "method", method, allowed)
    check_tolerances(who, rtol if rtol is not None else 0.0, atol, torch.float64)
    check_maxiter(who, maxiter, None)
    check_callback(who, callback)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    check_progress(who, progress)
    show = check_show(who, show)
    if M is not None and M != "jacobi" and not isinstance(M, LinearOperator):
        raise TypeError(f"{who}: M must be an operator approximating A⁻¹, the string 'jacobi', or None; got {M!r}")
    checked = []
    for name, value in extra:
        takers = [n for n, row in METHODS.items() if name in row.options]
        if not takers:
            raise TypeError(f"{who}: unknown option {name!r}; method options: {option_names()}")
        if method != "auto" and method not in takers:
            only = " or ".join(f"method={n!r}" for n in takers)
            raise ValueError(f"{who}: {name}= only applies to {only}, got method={method!r}; drop {name}")
        row = METHODS[method if method != "auto" else takers[0]]
        checked.append((name, row.options[name](who, value)))
    damp = lsq.check_damp(who, damp)
    return Options(method, rtol, atol, maxiter, M, callback, on_failure, progress, damp, tuple(checked), show)
