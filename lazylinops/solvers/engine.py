"""The solve engine on named right-hand sides: method choice, checks, kernels → ``(x, SolveInfo)``.

``solve_named`` / ``lstsq_named`` take ``b`` of shape ``(*batch, *A.osize)`` and return ``x``
of shape ``(*batch, *A.isize)`` with its record; they never raise on non-convergence (the
public functions do, after putting ``x`` back in the caller's layout). Gradients go through
``autograd.ImplicitSolve`` (one adjoint solve in backward), never through the iterations.
"""

from dataclasses import dataclass, replace

import torch

from ..core.base import LinearOperator, unaliased
from ..core.basic import Identity
from ..dtypes import promote
from ..errors import DeviceError, ShapeError, SingularError
from ..operators.diagonal import Diagonal
from .kernels import krylov, lsq
from .kernels.flat import Flat, Run, col, norm
from .status import (
    ON_FAILURE,
    SolveInfo,
    Status,
    check_callback,
    check_choice,
    check_maxiter,
    check_rhs,
    check_tolerances,
    progress_bar,
)

_MISSING = object()
SOLVE_METHODS = ("auto", "cg", "minres", "gmres", "bicgstab", "cgls", "lsqr", "dense")
LSTSQ_METHODS = ("auto", "cgls", "lsqr", "dense")
_KRYLOV = {"cg": krylov.cg, "minres": krylov.minres, "gmres": krylov.gmres, "bicgstab": krylov.bicgstab}
_NEEDS = {"cg": ("hermitian", "psd"), "minres": ("hermitian",)}


@dataclass(frozen=True)
class Options:
    """Validated solver options (what ``Inverse`` stores and the backward solve reuses)."""

    method: str = "auto"
    rtol: float = None
    atol: float = 0.0
    maxiter: int = None
    M: object = None
    callback: object = None
    restart: int = None
    on_failure: str = "raise"
    progress: bool = False
    damp: float = 0.0

    def adjoint(self):
        """Options for the adjoint solve of the backward pass (no callback, ``M`` → ``Mᴴ``)."""
        M = self.M.H if isinstance(self.M, LinearOperator) else self.M
        return replace(self, M=M, callback=None, progress=False, atol=0.0)


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
    restart=None,
    on_failure="raise",
    progress=False,
    damp=0.0,
    methods=SOLVE_METHODS,
):
    """Validated ``Options``; option values seen before (no callback, no operator M) skip validation."""
    values = (method, rtol, atol, maxiter, M, restart, on_failure, progress, damp)
    types = tuple(map(type, values))
    key = None
    if callback is None and _SIMPLE.issuperset(types):
        key = (methods, values, types)  # typed: 1, 1.0 and True validate differently
        opts = _VALIDATED.get(key)
        if opts is not None:
            return opts
    opts = _validated(who, *values, callback, methods)
    if key is not None and len(_VALIDATED) < 512:
        _VALIDATED[key] = opts
    return opts


def _validated(who, method, rtol, atol, maxiter, M, restart, on_failure, progress, damp, callback, methods):
    check_choice(who, "method", method, methods)
    check_tolerances(who, rtol if rtol is not None else 0.0, atol, torch.float64)
    check_maxiter(who, maxiter, None)
    check_callback(who, callback)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    if not isinstance(progress, bool):
        raise TypeError(f"{who}: progress must be True or False, got {progress!r}")
    if M is not None and M != "jacobi" and not isinstance(M, LinearOperator):
        raise TypeError(f"{who}: M must be an operator approximating A⁻¹, the string 'jacobi', or None; got {M!r}")
    if restart is not None:
        if isinstance(restart, bool) or not isinstance(restart, int) or restart < 1:
            raise ValueError(f"{who}: restart must be an int ≥ 1 (GMRES's Krylov dimension), got {restart!r}")
        if method not in ("auto", "gmres"):
            raise ValueError(f"{who}: restart= only applies to method='gmres', got method={method!r}; drop restart")
    return Options(method, rtol, atol, maxiter, M, callback, restart, on_failure, progress, lsq.check_damp(who, damp))


def has_tag(A, tag):
    """Structural property of ``A`` ("pd" implies "psd" and "hermitian")."""
    tags = A.tags
    if tag == "psd":
        return "psd" in tags or "pd" in tags
    if tag == "hermitian":
        return "hermitian" in tags or "pd" in tags
    return tag in tags


def structural_inverse(A, ws=None):
    """``A._inverse()``, cached on ``A`` unless its weights require grad; NaN/Inf weights refused."""
    ws = A._flat_weights() if ws is None else ws
    inv = _inverse_of(A, ws)
    if inv is not None:
        verify_weights("ll.solve", A, ws)  # an Inf weight can give a finite x
    return inv


def _inverse_of(A, ws):
    """``A._inverse()`` (None when ``A`` has none), cached from the second build unless ``ws`` require grad.

    An inverse usually refers back to ``A`` (``A⁻¹.op is A``): caching it at once would make every
    one-off solve leave a reference cycle for the garbage collector, so the first build is not kept.
    """
    cache = A._fresh_cache()
    inv = cache.get("inverse", _MISSING)
    if inv is _MISSING:
        inv = A._inverse()
        if not requires_grad(ws):
            if inv is None or cache.get("inverted"):
                cache["inverse"] = inv
            else:
                cache["inverted"] = True
    return inv


def requires_grad(ws):
    for w in ws:
        if w.requires_grad:
            return True
    return False


def verify_weights(who, A, ws):
    """Refuse NaN/Inf weights, checking once per operator (again each time while they require grad)."""
    cache = A._fresh_cache()
    if not cache.get("finite"):
        ws = A._flat_weights() if ws is None else ws
        _check_weights(who, A, ws)
        if not requires_grad(ws):
            cache["finite"] = True


def _refuse(who, method, A, tags):
    missing = [t for t in tags if not has_tag(A, t)]
    if missing:
        need = " and ".join("positive (semi)definite" if t == "psd" else t for t in tags)
        raise ValueError(
            f"{who}: method={method!r} needs a {need} operator, but {type(A).__name__} {tuple(A.shape)} is not "
            f"known to be {' / '.join(missing)} (its tags: {sorted(A.tags) or 'none'}); assert it with "
            f"A.with_tags(hermitian=True, pd=True) if true, or use method='gmres'"
        )


def choose_method(who, A, opts, ws=None):
    """The method ``solve`` will run: structural inverse first for "auto", then CG/MINRES/GMRES."""
    ws = A._flat_weights() if ws is None else ws
    method, inv = _choose(who, A, opts, ws)
    if inv is not None:
        verify_weights("ll.solve", A, ws)  # an Inf weight can give a finite x
    return method


def _choose(who, A, opts, ws):
    """``(method, structural inverse or None)``; the inverse is not checked here (``_structural`` does)."""
    method = opts.method
    if method == "auto":
        inv = _inverse_of(A, ws)
        if inv is not None:
            return "structural", inv
        return _iterative(A), None
    if method in _NEEDS:
        _refuse(who, method, A, _NEEDS[method])
    return method, None


def _preconditioner(who, A, M, method, dtype):
    if M is None or method in ("structural", "dense", "cgls", "lsqr"):
        return None
    if isinstance(M, str):  # Jacobi: M = diag(A)⁻¹
        d = A._diagonal()
        if d is None:
            raise ValueError(
                f"{who}: M='jacobi' needs the diagonal of A, but {type(A).__name__} has no structured "
                "diagonal; pass a preconditioner operator M instead"
            )
        M = Diagonal(1 / d.to(dtype))
    if tuple(M.shape) != (A.shape[1], A.shape[0]):
        raise ShapeError(
            f"{who}: the preconditioner M must be {A.shape[1]}×{A.shape[0]} (it approximates A⁻¹), got {tuple(M.shape)}"
        )
    if method in ("cg", "minres") and not (has_tag(M, "hermitian") and has_tag(M, "pd")):
        raise ValueError(
            f"{who}: method={method!r} needs a Hermitian positive definite preconditioner, but M "
            f"({type(M).__name__}) is not known to be pd (tags: {sorted(M.tags) or 'none'}); assert it "
            "with M.with_tags(hermitian=True, pd=True)"
        )
    return Flat(M, dtype)


def check_finite(who, A, b, x0=None):
    """Refuse NaN/Inf in ``b``, ``x0`` or ``A``'s weights, naming the input (called where a result came out
    non-finite, to say why)."""
    check_finite_tensor(who, "b", b)
    check_finite_tensor(who, "x0", x0)
    _check_weights(who, A)


def check_finite_tensor(who, name, t):
    """Refuse NaN/Inf in one input tensor (one device sync), naming it."""
    if t is not None and t.numel() and not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{who}: {name} holds NaN or Inf; clean the data first (torch.nan_to_num)")


def _check_weights(who, A, ws=None):
    ws = A._flat_weights() if ws is None else ws
    # a finite sum proves every entry finite (one cheap pass); only otherwise look entry by entry
    if (
        ws
        and not bool(torch.stack([torch.isfinite(w.detach().sum()) for w in ws]).all())
        and not bool(torch.stack([torch.isfinite(w.detach()).all() for w in ws]).all())
    ):
        raise ValueError(f"{who}: the weights hold NaN or Inf: operator {type(A).__name__} {tuple(A.shape)}")


def _singular(who, A, why):
    return SingularError(
        f"{who}: {type(A).__name__} {tuple(A.shape)} is singular ({why}); the system has no unique solution — "
        "check the operator, or use ll.lstsq for the minimum-norm least-squares solution"
    )


def _apply_inverse(who, A, inv, b, ws, checked):
    """``A⁻¹ b`` by the exact inverse; a factorisation's zero pivot becomes ``SingularError``."""
    try:
        return inv._apply(b)
    except SingularError:
        raise
    except torch.linalg.LinAlgError as exc:  # LU/Cholesky found a zero pivot
        raise _singular(who, A, f"{type(inv).__name__}: {exc}") from None
    except Exception:
        if not checked:
            _check_weights(who, A, ws)  # NaN/Inf weights explain the failure
        raise


def inverse_kind(inv):
    """``(factored, conditional)`` for a structural inverse (the contract of ``LinearOperator._inverse``).

    ``factored``: some node of ``inv`` solves by a numerical factorisation (``_inverse_factored``:
    LU, Cholesky, a capacitance), so its answer is checked by one measured residual.
    ``conditional``: some node's formula needs more than ``A`` invertible (``_inverse_conditional``:
    Woodbury needs ``D⁻¹``), so its failure does not prove ``A`` singular.
    """
    factored = conditional = False
    stack = [inv]
    while stack:
        op = stack.pop()
        t = type(op)
        factored = factored or getattr(t, "_inverse_factored", False)
        conditional = conditional or getattr(t, "_inverse_conditional", False)
        stack.extend(op.children())
    return factored, conditional


def _kind_of(A, inv):
    """``inverse_kind(inv)``, cached on ``A`` beside its cached inverse."""
    cache = A._fresh_cache()
    if cache.get("inverse") is not inv:
        return inverse_kind(inv)
    kind = cache.get("inverse_kind")
    if kind is None:
        kind = cache["inverse_kind"] = inverse_kind(inv)
    return kind


def _structural(who, A, inv, b, ws, opts):
    """``x = A⁻¹ b`` by the exact inverse, or None when a conditional inverse's formula failed.

    Purely structural inverses (Diagonal, FFT, Permutation …) are exact to rounding: status
    ``exact``, 0 matvecs, residual not measured (NaN). An inverse that factorises (LU,
    Cholesky, Woodbury's capacitance) is checked by one matvec: the true residual is recorded,
    and an answer that is not a solution (``direct_record``) raises ``SingularError``. A non-finite
    ``x`` means a zero pivot (``SingularError``), except for a conditional inverse (None: the
    caller solves by the next method).
    """
    factored, conditional = _kind_of(A, inv)
    cache = A._fresh_cache()
    checked = cache.get("finite")
    x = _apply_inverse(who, A, inv, b, ws, checked)
    x = unaliased(x, b)  # never hand the caller's right-hand side (or a view of it) back as the solution
    x = x if x.dtype == b.dtype else x.to(b.dtype)
    s = x.sum()
    if not checked:  # weights not yet verified: fold their sums in (an Inf weight can give a finite x)
        for w in ws:
            s = s + (w.detach() if w.requires_grad else w).sum()
    ok = torch.isfinite(s)
    if factored:
        batch = _batch(b, A.osize)
        bf, xf = b.reshape(batch.numel(), A.shape[0]), x.reshape(batch.numel(), A.shape[1])
        P = Flat(A)
        res = norm(bf - P.mv(xf))  # the true residual: one matvec, cheap next to a factorisation
        rtol, atol = check_tolerances(who, opts.rtol, opts.atol, b.dtype)
        tol = torch.clamp(rtol * norm(bf), min=atol)
        ok = ok & (res <= tol).all()
    if not bool(ok):  # one sync; a finite sum proves every entry finite, else look closer
        if not checked:
            _check_weights(who, A, ws)
        if not bool(torch.isfinite(x).all()):
            check_finite(who, A, b)  # NaN/Inf in the data, else a singular operator
            if conditional:
                return None
            raise _singular(who, A, f"its exact inverse {type(inv).__name__} has an infinite pivot (a zero pivot)")
    if not checked and not requires_grad(ws):
        cache["finite"] = True
    name = type(inv).__name__
    if factored:
        if conditional and not bool((res <= tol).all()):
            return None  # e.g. Woodbury with an ill-conditioned D: not proof that A is singular
        info = direct_record(who, "structural", f"exact inverse {name}", P, bf, xf, res, tol, batch)
        return x, info
    res = torch.full(_batch(b, A.osize), float("nan"), dtype=_real(b.dtype), device=b.device)
    msg = f"exact inverse {name} (residual not measured: NaN)"
    return x, SolveInfo("structural", True, 0, res, 0, msg, Status.exact)


def direct_record(who, method, what, P, bf, xf, res, tol, batch):
    """The record of a direct (factorisation) solve whose true residual ``res`` was measured.

    Under ``tol = max(rtol·‖b‖, atol)``: exact. Above it, the answer is judged by a lower bound of
    the condition number, ``κ ≥ ‖A b‖·‖x‖ / ‖b‖²`` (one more matvec): when ``κ·eps ≥ 0.1`` or the
    residual is no better than half of ``‖b‖`` (``x = 0`` would do as well), ``A`` is numerically
    singular and ``SingularError`` is raised (with ``.x`` and ``.info``); otherwise ``A`` is merely
    ill-conditioned and the backward-stable answer (what ``torch.linalg.solve`` returns) stands,
    with its residual recorded and said in the message. (A single-precision LU routinely leaves
    ``‖b − A x‖ ≈ 1e-4 ‖b‖`` on a well-posed system, above the default ``rtol`` of 1e-5.)
    """
    met = res <= tol
    if bool(met.all()):
        msg = f"{what} (direct factorisation; true residual measured under the tolerance)"
        return SolveInfo(method, True, 0, res.reshape(batch), P.count, msg, Status.exact)
    bn = norm(bf)
    kappa = norm(P.mv(bf)) * norm(xf) / (bn * bn)  # ‖A‖ ≥ ‖A b‖/‖b‖, ‖A⁻¹‖ ≥ ‖x‖/‖b‖
    eps = torch.finfo(_real(bf.dtype)).eps
    singular = ~met & ((kappa * eps >= 0.1) | (res > 0.5 * bn))
    worst = res.max().item()
    kmax = kappa.max().item()
    if bool(singular.any()):
        msg = (
            f"numerically singular: the {what} leaves a residual of {worst:.3g} (‖b‖ = {bn.max().item():.3g}, "
            f"tolerance {tol.max().item():.3g}; cond ≳ {kmax:.3g})"
        )
        info = SolveInfo(method, False, 0, res.reshape(batch), P.count, msg, Status.singular)
        err = SingularError(
            f"{who}: {type(P.A).__name__} {tuple(P.A.shape)} is {msg}; the answer is not a solution — check the "
            "operator, or use ll.lstsq for the minimum-norm least-squares solution"
        )
        err.x, err.info = xf.reshape(*batch, *P.A.isize), info
        raise err
    msg = (
        f"{what} (direct factorisation; true residual {worst:.3g} measured above the tolerance "
        f"{tol.max().item():.3g}: A is ill-conditioned, cond ≳ {kmax:.3g}; this is the backward-stable answer)"
    )
    return SolveInfo(method, True, 0, res.reshape(batch), P.count, msg, Status.exact)


def _real(dtype):
    return dtype.to_real() if dtype.is_complex else dtype


def _batch(b, size):
    return b.shape[: b.dim() - len(size)]


def _info(method, run, matvecs, batch):
    conv = run.status is Status.converged
    res = run.residual.reshape(batch)
    return SolveInfo(method, conv, int(run.iterations), res, int(matvecs), run.message, run.status)


def _layout(A, b, x0, dtype, size_in, size_out):
    """Flat ``(B, m)`` right-hand sides, ``(B, n)`` start, the batch shape."""
    nb = b.dim() - len(size_out)
    batch = b.shape[:nb]
    bf = b.reshape(batch.numel(), int(torch.Size(size_out).numel()))
    n = int(torch.Size(size_in).numel())
    if x0 is None:
        return bf, torch.zeros(bf.shape[0], n, dtype=dtype, device=b.device), True, batch
    try:
        x = x0.to(dtype).expand(*batch, *size_in).reshape(bf.shape[0], n).clone()
    except RuntimeError:
        raise ShapeError(
            f"x0 of shape {tuple(x0.shape)} does not broadcast to the solution's shape {(*batch, *size_in)}"
        ) from None
    return bf, x, False, batch


def _wrap_callback(cb, batch, size_in):
    if cb is None:
        return None
    return lambda it, x, res: cb(it, x.detach().clone().reshape(*batch, *size_in), res.reshape(batch))


def _gmres_restart(n, B, itemsize):
    """GMRES's default Krylov dimension: full GMRES up to n = 100 (what a dense solve handles), else
    as many basis vectors as fit in 256 MiB (at least 20, at most 100)."""
    fit = (256 << 20) // max(1, (B * n * itemsize)) - 1
    return max(1, min(n, max(20, min(100, fit))))


def _explain(who, A, inv_of, b, status):
    """After a failed iterative solve: ``SingularError`` when ``A`` is structurally singular.

    ``inv_of()`` gives ``A``'s structural inverse (or None); a singular operator's one has an
    infinite pivot (or a factorisation with a zero pivot), so ``A⁻¹ b`` is not finite. A
    conditional inverse (Woodbury) proves nothing by a non-finite result: its formula may fail
    on an invertible ``A``.
    """
    inv = inv_of()
    if inv is None:
        return
    try:
        x = inv._apply(b)
    except torch.linalg.LinAlgError as exc:
        raise _singular(who, A, f"{type(inv).__name__}: {exc}") from None
    except Exception:  # an inverse that cannot even run explains nothing; report the failure itself
        return
    if not bool(torch.isfinite(x).all()) and not inverse_kind(inv)[1]:
        raise _singular(who, A, f"{status.name}; its exact inverse {type(inv).__name__} has an infinite pivot")


def _finalize(who, method, run, residual, tol, kernel_status, P_count, batch, A, b, x0, inv_of):
    """The record after the true residual ``residual`` was measured: converged only if it is under ``tol``."""
    met = residual <= tol
    if residual.numel() == 0 or bool(met.all()):
        status, msg = Status.converged, f"{run.message} (true residual measured under the tolerance)"
    elif not bool(torch.isfinite(residual).all()):
        check_finite(who, A, b, x0)  # NaN/Inf in b, x0 or the weights is a ValueError, not a divergence
        status, msg = Status.diverged, "diverged: the true residual is NaN/Inf"
    elif kernel_status is Status.converged:
        status = Status.breakdown
        msg = (
            f"breakdown: the recurrence's residual estimate met the tolerance but the true residual ‖b − A x‖ = "
            f"{residual.max().item():.3g} does not ({tol.max().item():.3g})"
        )
    else:
        status, msg = kernel_status, run.message
    if status.failed:
        _explain(who, A, inv_of, b, status)
    res = residual.reshape(batch)
    return SolveInfo(method, status is Status.converged, int(run.iterations), res, int(P_count), msg, status)


def solve_core(who, A, b, opts, x0=None, ws=None):
    """Solve ``A x = b`` for named ``b`` (already in the solve dtype), without autograd.

    ``ws``: ``A._flat_weights()`` when the caller has them already. Krylov methods end by
    measuring the true residual ``‖b − A x‖`` (one matvec, counted); an estimate that met the
    tolerance while the true residual does not restarts the method from ``x`` (twice at most).
    """
    ws = A._flat_weights() if ws is None else ws
    method, inv = _choose(who, A, opts, ws)
    if x0 is not None:
        check_finite_tensor(who, "x0", x0)
    note = ""
    if method == "structural":
        out = _structural(who, A, inv, b, ws, opts)
        if out is not None:
            return out
        method = _iterative(A)  # a conditional inverse's formula failed (Woodbury, D near singular): next method
        note = f" ({type(inv).__name__} did not apply: its formula failed on this A)"
    verify_weights(who, A, ws)
    check_finite_tensor(who, "b", b)
    dtype = b.dtype
    batch = _batch(b, A.osize)
    if method == "dense":
        D = A.to_dense().to(dtype)
        bf = b.reshape(batch.numel(), D.shape[0])
        X, info = torch.linalg.solve_ex(D, bf.mT)
        if bool((info != 0).any()) or not bool(torch.isfinite(X).all()):
            raise _singular(who, A, "the LU factorisation of A.to_dense() found a zero pivot")
        xf = X.mT
        res = norm(bf - xf @ D.mT)  # measured
        rtol, atol = check_tolerances(who, opts.rtol, opts.atol, dtype)
        tol = torch.clamp(rtol * norm(bf), min=atol)
        info = direct_record(who, "dense", "dense LU solve of A.to_dense()", _DenseFlat(D, A), bf, xf, res, tol, batch)
        return xf.reshape(*batch, *A.isize), info
    if A.shape[0] != A.shape[1] and method not in ("cgls", "lsqr"):
        raise ShapeError(f"{who}: method={method!r} needs a square operator, got {tuple(A.shape)}; use ll.lstsq")
    bf, x, x_zero, batch = _layout(A, b, x0, dtype, A.isize, A.osize)
    rtol, atol = check_tolerances(who, opts.rtol, opts.atol, dtype)
    n = A.shape[1]
    maxiter = check_maxiter(who, opts.maxiter, 10 * n)
    P = Flat(A)
    bn = norm(bf)
    tol = torch.clamp(rtol * bn, min=atol)
    if not x_zero:
        x = torch.where(col(bn == 0), torch.zeros_like(x), x)  # a zero right-hand side has the zero solution
    Mf = _preconditioner(who, A, opts.M, method, dtype)
    bar = progress_bar(who, opts.progress, maxiter)
    cb = _wrap_callback(opts.callback, batch, A.isize)
    restart = opts.restart or _gmres_restart(n, bf.shape[0], bf.element_size())

    def kernel(x, x_zero, budget):
        if method in _KRYLOV:
            kw = {"restart": restart} if method == "gmres" else {}
            return _KRYLOV[method](P, bf, x, tol, budget, M=Mf, x_zero=x_zero, callback=cb, bar=bar, **kw)
        S = lsq.Stacked([P], [1.0])
        if method == "cgls":
            return lsq.cgls(S, [bf], x, tol, budget, stop="residual", x_zero=x_zero, callback=cb, bar=bar)
        return lsqr_shifted(S, [bf], x, x_zero, tol, budget, 0.0, "residual", cb, bar)

    try:
        if bf.shape[0] == 0 or n == 0 or (x_zero and bool((bn == 0).all())):
            msg = "zero right-hand side: x = 0" if bf.shape[0] else "no right-hand side"
            run = Run(x, 0, bn, bn == 0, msg, Status.converged)
            res = bn  # b − A·0 = b, measured
        else:
            run = kernel(x, x_zero, maxiter)
            its, kernel_status = run.iterations, run.status
            for _ in range(3):
                res = run.residual if method == "gmres" else norm(bf - P.mv(run.x))  # GMRES's is already true
                if kernel_status is not Status.converged or bool((res <= tol).all()) or its >= maxiter:
                    break
                run = kernel(run.x.clone(), False, maxiter - its)  # estimate drifted from the truth: restart
                its, kernel_status = its + run.iterations, run.status
            run = run._replace(iterations=its)
    finally:
        if bar is not None:
            bar.close()
    info = _finalize(who, method, run, res, tol, run.status, P.count, batch, A, b, x0, lambda: _inverse_of(A, ws))
    if note:
        info = replace(info, message=info.message + note)
    return run.x.reshape(*batch, *A.isize), info


def _iterative(A):
    """``auto``'s choice after the structural inverse: CG (Hermitian PD), MINRES (Hermitian), GMRES."""
    if has_tag(A, "hermitian") and has_tag(A, "pd"):
        return "cg"
    return "minres" if has_tag(A, "hermitian") else "gmres"


class _DenseFlat(Flat):
    """``Flat`` for a matrix ``D`` already formed (the operator ``A`` named in messages)."""

    def __init__(self, D, A):
        super().__init__(A)
        self.D = D

    def mv(self, x):
        self.count += 1
        return x @ self.D.mT


def lsqr_shifted(S, bs, x, x_zero, tol, maxiter, damp, stop, cb, bar):
    """LSQR from a non-zero start: solve for ``dx`` with ``b̄ − Ā x0`` (damping row included)."""
    if x_zero:
        return lsq.lsqr(S, bs, x, tol, maxiter, damp=damp, stop=stop, callback=cb, bar=bar)
    x0 = x
    rs = [b - ax for b, ax in zip(bs, S.mv(x0))]
    if damp:  # min ‖A dx − r0‖² + damp²‖x0 + dx‖²: an explicit row [damp I] with right side −damp x0
        ident = _Ident(x0.shape[1])
        S = lsq.Stacked([*S.flats, Flat(ident)], [*S.weights, damp])
        rs = [*rs, -damp * x0]
    shifted = None if cb is None else (lambda it, dx, res: cb(it, x0 + dx, res))
    run = lsq.lsqr(S, rs, torch.zeros_like(x0), tol, maxiter, damp=0.0, stop=stop, callback=shifted, bar=bar)
    return run._replace(x=x0 + run.x)


def _Ident(n):

    return Identity((n,))


def normal_residual(S, bs, x, damp):
    """The true ``‖Āᴴ(b̄ − Ā x) − damp² x‖`` per right-hand side (two matvecs)."""
    s = S.rmv([b - ax for b, ax in zip(bs, S.mv(x))])
    return norm(s - (damp * damp) * x if damp else s)


def lstsq_core(who, A, b, opts, x0=None, ws=None):
    """Minimise ``‖A x − b‖² + damp²‖x‖²`` for named ``b`` (in the solve dtype), without autograd.

    A rank-deficient ``A`` gives the minimum-norm solution (LSQR/CGLS from ``x = 0`` stay in
    the row space). The iteration ends by measuring the true normal-equation residual.
    """
    dtype = b.dtype
    method = opts.method
    damp = opts.damp
    batch = _batch(b, A.osize)
    ws = A._flat_weights() if ws is None else ws
    if method == "auto" and damp == 0 and A.shape[0] == A.shape[1] and _inverse_of(A, ws) is not None:
        try:
            x, info = solve_core(who, A, b, opts, x0, ws)
        except SingularError:
            x = None  # singular: the minimum-norm least-squares solution by LSQR below
        if x is not None:  # a numerically singular factorisation gives a finite x: measure ‖Aᴴ(b − A x)‖
            P = Flat(A)
            bf, xf = b.reshape(-1, A.shape[0]), x.reshape(-1, A.shape[1])
            res = normal_residual(lsq.Stacked([P], [1.0]), [bf], xf, 0.0)
            rtol, atol = check_tolerances(who, opts.rtol, opts.atol, dtype)
            if bool((res <= torch.clamp(rtol * norm(P.rmv(bf)), min=atol)).all()):
                return x, replace(info, residual_norm=res.reshape(batch), matvecs=info.matvecs + P.count)
    if x0 is not None:
        check_finite_tensor(who, "x0", x0)
    verify_weights(who, A, ws)
    check_finite_tensor(who, "b", b)
    if method == "dense":
        D = A.to_dense().to(dtype)
        bf = b.reshape(batch.numel(), D.shape[0])
        n = D.shape[1]
        if damp:
            D = torch.cat([D, damp * torch.eye(n, dtype=dtype, device=D.device)])
            bf = torch.cat([bf, bf.new_zeros(bf.shape[0], n)], dim=1)
        if D.device.type == "cpu":  # gelsd: SVD-based, the minimum-norm solution when rank-deficient
            x = torch.linalg.lstsq(D, bf.mT, driver="gelsd").solution.mT
        else:
            x = (torch.linalg.pinv(D) @ bf.mT).mT
        res = norm((bf - x @ D.mT) @ D.conj())  # measured ‖Dᴴ(b − D x)‖
        info = SolveInfo("dense", True, 0, res.reshape(batch), 0, "dense least squares (minimum norm)", Status.exact)
        return x.reshape(*batch, *A.isize), info
    method = "lsqr" if method == "auto" else method
    bf, x, x_zero, batch = _layout(A, b, x0, dtype, A.isize, A.osize)
    rtol, atol = check_tolerances(who, opts.rtol, opts.atol, dtype)
    maxiter = check_maxiter(who, opts.maxiter, 10 * max(A.shape[1], 1))
    P = Flat(A)
    S = lsq.Stacked([P], [1.0])
    bar = progress_bar(who, opts.progress, maxiter)
    cb = _wrap_callback(opts.callback, batch, A.isize)

    def kernel(x, x_zero, budget):
        if method == "cgls":
            return lsq.cgls(S, [bf], x, tol, budget, damp=damp, stop="normal", x_zero=x_zero, callback=cb, bar=bar)
        return lsqr_shifted(S, [bf], x, x_zero, tol, budget, damp, "normal", cb, bar)

    try:
        if bf.shape[0] == 0 or A.shape[0] == 0 or A.shape[1] == 0:
            zero = torch.zeros(bf.shape[0], dtype=_real(dtype), device=b.device)
            x = torch.zeros_like(x)  # no equations or no unknowns: x = 0 is the minimum-norm solution
            run, res, tol = Run(x, 0, zero, zero == 0, "empty system: x = 0", Status.converged), zero, zero
        else:
            tol = torch.clamp(rtol * norm(P.rmv(bf)), min=atol)  # max(rtol·‖Aᴴ b‖, atol), one adjoint matvec
            run = kernel(x, x_zero, maxiter)
            its, kernel_status = run.iterations, run.status
            for _ in range(3):
                res = normal_residual(S, [bf], run.x, damp)  # the true stopping quantity, two matvecs
                if kernel_status is not Status.converged or bool((res <= tol).all()) or its >= maxiter:
                    break
                run = kernel(run.x.clone(), False, maxiter - its)
                its, kernel_status = its + run.iterations, run.status
            run = run._replace(iterations=its)
    finally:
        if bar is not None:
            bar.close()
    info = _finalize(who, method, run, res, tol, run.status, P.count, batch, A, b, x0, lambda: None)
    return run.x.reshape(*batch, *A.isize), info


def promote_rhs(who, A, b):
    """``b`` in the solve dtype (matmul promotion of ``A.dtype`` and ``b.dtype``) on ``A``'s device."""
    check_rhs(who, b)
    dtype = promote(A.dtype, b.dtype)
    if b.device != A.device and A.device.type != "meta":
        raise DeviceError(f"{who}: operator on {A.device}, right-hand side on {b.device}; move one of them")
    return b if b.dtype == dtype else b.to(dtype)
