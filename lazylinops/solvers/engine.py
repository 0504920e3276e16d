"""The solve engine on named right-hand sides: method choice, checks, kernels → ``(x, SolveInfo)``.

``solve_named`` / ``lstsq_named`` take ``b`` of shape ``(*batch, *A.osize)`` and return ``x``
of shape ``(*batch, *A.isize)`` with its record; they never raise on non-convergence (the
public functions do, after putting ``x`` back in the caller's layout). Gradients go through
``autograd.ImplicitSolve`` (one adjoint solve in backward), never through the iterations.
"""

from dataclasses import replace

import torch

from ..core.base import unaliased
from ..dtypes import promote
from ..errors import DeviceError, ShapeError, SingularError
from ..operators.diagonal import Diagonal
from .kernels import lsq
from .kernels.direct import direct_record, real, singular
from .kernels.flat import Flat, Run, col, norm
from .methods import (
    LSTSQ,
    METHODS,
    SOLVE,
    Problem,
    auto_method,
    check_preconditioner,
    refuse,
    square_only,
)
from .monitor import Monitor, describe, rhs_count
from .status import SolveInfo, Status, check_rhs, named, unnamed

_MISSING = object()
_FACTS = ("solvers", "facts")  # the _memo key of what the solvers learned about an operator's weights


class Facts:
    """What the solvers learned about one state of an operator's weights.

    Kept by ``A._memo`` (so dropped whenever a weight changes in place or is swapped: never stale),
    read and filled only here: ``inverse`` (``A._inverse()``, from its second build), ``built``
    (built once already), ``kind`` (``inverse_kind`` of the kept inverse), ``finite`` (weights
    verified free of NaN/Inf).
    """

    __slots__ = ("built", "finite", "inverse", "kind")

    def __init__(self):
        self.inverse, self.built, self.kind, self.finite = _MISSING, False, None, False


def facts(A):
    """The solvers' ``Facts`` about ``A``'s current weights."""
    return A._memo(_FACTS, Facts)


def structural_inverse(A, ws=None):
    """``A._inverse()``, cached on ``A`` unless its weights require grad; NaN/Inf weights refused."""
    ws = A._flat_weights() if ws is None else ws
    inv = _inverse_of(A, ws)
    if inv is not None:
        verify_weights("ll.solve", A, ws)  # an Inf weight can give a finite x
    return inv


def _inverse_of(A, ws):
    """``A._inverse()`` (None when ``A`` has none), kept from the second build unless ``ws`` require grad.

    An inverse usually refers back to ``A`` (``A⁻¹.op is A``): keeping it at once would make every
    one-off solve leave a reference cycle for the garbage collector, so the first build is not kept
    (``Facts.built`` remembers it happened). Weights that require grad are never kept behind: the
    inverse is rebuilt so that it sees the current graph.
    """
    if requires_grad(ws):
        return A._inverse()
    f = facts(A)
    if f.inverse is not _MISSING:
        return f.inverse
    inv = A._inverse()
    if inv is None or f.built:
        f.inverse = inv
    else:
        f.built = True
    return inv


def requires_grad(ws):
    for w in ws:
        if w.requires_grad:
            return True
    return False


def verify_weights(who, A, ws):
    """Refuse NaN/Inf weights, checking once per state of the weights (each time while they require grad)."""
    try:
        _verify(A, ws)
    except Exception as exc:
        named(exc, who)
        raise


def _verify(A, ws):
    f = facts(A)
    if not f.finite:
        ws = A._flat_weights() if ws is None else ws
        _check_weights(A, ws)
        if not requires_grad(ws):
            f.finite = True


def _choose(A, kind, opts, ws):
    """``(method, structural inverse or None)``; the inverse is not checked here (``_structural`` does)."""
    method = opts.method
    if method == "auto":
        inv = _inverse_of(A, ws)
        if inv is not None:
            return "structural", inv
        return auto_method(A, kind), None
    refuse(method, A)
    return method, None


def _preconditioner(A, M, method, dtype):
    """``M`` as a ``Flat`` when the method's row takes a preconditioner (``"jacobi"``: ``diag(A)⁻¹``)."""
    if M is None or method == "structural" or METHODS[method].M is None:
        return None
    if isinstance(M, str):  # Jacobi: M = diag(A)⁻¹
        d = A._diagonal()
        if d is None:
            raise unnamed(
                ValueError(
                    f"M='jacobi' needs the diagonal of A, but {type(A).__name__} has no structured "
                    "diagonal; pass a preconditioner operator M instead"
                )
            )
        M = Diagonal(1 / d.to(dtype))
    if tuple(M.shape) != (A.shape[1], A.shape[0]):
        raise unnamed(
            ShapeError(
                f"the preconditioner M must be {A.shape[1]}×{A.shape[0]} (it approximates A⁻¹), got {tuple(M.shape)}"
            )
        )
    check_preconditioner(method, M)
    return Flat(M, dtype)


def check_finite(who, A, b, x0=None):
    """Refuse NaN/Inf in ``b``, ``x0`` or ``A``'s weights, naming the input (called where a result came out
    non-finite, to say why)."""
    try:
        _finite(A, b, x0)
    except Exception as exc:
        named(exc, who)
        raise


def _finite(A, b, x0=None):
    _finite_tensor("b", b)
    _finite_tensor("x0", x0)
    _check_weights(A)


def check_finite_tensor(who, name, t):
    """Refuse NaN/Inf in one input tensor (one device sync), naming it."""
    try:
        _finite_tensor(name, t)
    except Exception as exc:
        named(exc, who)
        raise


def _finite_tensor(name, t):
    if t is not None and t.numel() and not bool(torch.isfinite(t.detach()).all()):
        raise unnamed(ValueError(f"{name} holds NaN or Inf; clean the data first (torch.nan_to_num)"))


def _check_weights(A, ws=None):
    ws = A._flat_weights() if ws is None else ws
    # a finite sum proves every entry finite (one cheap pass); only otherwise look entry by entry
    if (
        ws
        and not bool(torch.stack([torch.isfinite(w.detach().sum()) for w in ws]).all())
        and not bool(torch.stack([torch.isfinite(w.detach()).all() for w in ws]).all())
    ):
        raise unnamed(ValueError(f"the weights hold NaN or Inf: operator {type(A).__name__} {tuple(A.shape)}"))


def _apply_inverse(A, inv, b, ws, checked):
    """``A⁻¹ b`` by the exact inverse; a factorisation's zero pivot becomes ``SingularError``."""
    try:
        return inv._apply(b)
    except SingularError:
        raise
    except torch.linalg.LinAlgError as exc:  # LU/Cholesky found a zero pivot
        raise singular(A, f"{type(inv).__name__}: {exc}") from None
    except Exception:
        if not checked:
            _check_weights(A, ws)  # NaN/Inf weights explain the failure
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
    """``inverse_kind(inv)``, kept beside ``A``'s kept inverse."""
    f = facts(A)
    if f.inverse is not inv:
        return inverse_kind(inv)
    if f.kind is None:
        f.kind = inverse_kind(inv)
    return f.kind


def _structural(A, inv, b, ws, opts):
    """``x = A⁻¹ b`` by the exact inverse, or None when a conditional inverse's formula failed.

    Purely structural inverses (Diagonal, FFT, Permutation …) are exact to rounding: status
    ``exact``, 0 matvecs, residual not measured (NaN). An inverse that factorises (LU,
    Cholesky, Woodbury's capacitance) is checked by one matvec: the true residual is recorded,
    and an answer that is not a solution (``direct_record``) raises ``SingularError``. A non-finite
    ``x`` means a zero pivot (``SingularError``), except for a conditional inverse (None: the
    caller solves by the next method).
    """
    factored, conditional = _kind_of(A, inv)
    checked = facts(A).finite
    x = _apply_inverse(A, inv, b, ws, checked)
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
        rtol, atol = opts.tolerances(b.dtype)
        tol = torch.clamp(rtol * norm(bf), min=atol)
        ok = ok & (res <= tol).all()
    if not bool(ok):  # one sync; a finite sum proves every entry finite, else look closer
        if not checked:
            _check_weights(A, ws)
        if not bool(torch.isfinite(x).all()):
            _finite(A, b)  # NaN/Inf in the data, else a singular operator
            if conditional:
                return None
            raise singular(A, f"its exact inverse {type(inv).__name__} has an infinite pivot (a zero pivot)")
    if not checked and not requires_grad(ws):
        facts(A).finite = True
    name = type(inv).__name__
    if factored:
        if conditional and not bool((res <= tol).all()):
            return None  # e.g. Woodbury with an ill-conditioned D: not proof that A is singular
        info = direct_record("structural", f"exact inverse {name}", P, bf, xf, res, tol, batch)
        return x, info
    res = torch.full(_batch(b, A.osize), float("nan"), dtype=real(b.dtype), device=b.device)
    msg = f"exact inverse {name} (residual not measured: NaN)"
    return x, SolveInfo("structural", True, 0, res, 0, msg, Status.exact)


def _batch(b, size):
    return b.shape[: b.dim() - len(size)]


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
    return lambda it, x, res: cb(it, x.detach().clone().reshape(*batch, *size_in), res.detach().reshape(batch))


def monitor(who, method, A, batch, opts, maxiter, stop, dtype, objective=None, iterative=True):
    """The solve's ``Monitor`` (callback, ``show=`` log, ``progress=`` bar), or None when nobody watches."""
    if opts.callback is None and not opts.show and not opts.progress:
        return None
    rtol, atol = opts.tolerances(dtype)
    params = f"rtol = {rtol:.1e}   atol = {atol:.1e}" + (f"   maxiter = {maxiter}" if iterative else "")
    if stop == "normal" and opts.damp:
        params += f"   damp = {opts.damp:.3g}"
    return Monitor(
        who,
        callback=_wrap_callback(opts.callback, batch, A.isize),
        show=opts.show,
        progress=opts.progress,
        total=maxiter,
        title=f"method {method!r} on {describe(A)}, {rhs_count(batch)}",
        params=params,
        column="rel. residual" if stop == "residual" else "rel. ‖Aᴴr‖",
        objective=objective,
        iterative=iterative,
    )


def announce(who, method, A, b, opts, info, stop="residual"):
    """The ``show=`` log of a solve without iterations (structural or direct): header and footer."""
    if opts.show:
        quiet = replace(opts, callback=None, progress=False)
        batch = _batch(b, A.osize)
        m = monitor(who, method, A, batch, quiet, 0, stop, b.dtype, iterative=False)
        if stop == "residual":
            m.scale = norm(b.reshape(batch.numel(), A.shape[0]))  # relative to ‖b‖ (no matvec)
        else:
            m.column = "‖Aᴴr‖"  # absolute: ‖Aᴴ b‖ would cost a matvec
        m.close(info)
    return info


def _close(p, finalize):
    """``finalize()``'s record, the monitor closed with it (or without it when it raised)."""
    try:
        info = finalize()
    except BaseException:
        if p.callback is not None:
            p.callback.close(None)
        raise
    if p.callback is not None:
        p.callback.close(info)
    return info


def _explain(A, inv_of, b, status):
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
        raise singular(A, f"{type(inv).__name__}: {exc}") from None
    except Exception:  # an inverse that cannot even run explains nothing; report the failure itself
        return
    if not bool(torch.isfinite(x).all()) and not inverse_kind(inv)[1]:
        raise singular(A, f"{status.name}; its exact inverse {type(inv).__name__} has an infinite pivot")


def _finalize(method, run, residual, tol, kernel_status, P_count, batch, A, b, x0, inv_of):
    """The record after the true residual ``residual`` was measured: converged only if it is under ``tol``."""
    met = residual <= tol
    if residual.numel() == 0 or bool(met.all()):
        status, msg = Status.converged, f"{run.message} (true residual measured under the tolerance)"
    elif not bool(torch.isfinite(residual).all()):
        _finite(A, b, x0)  # NaN/Inf in b, x0 or the weights is a ValueError, not a divergence
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
        _explain(A, inv_of, b, status)
    res = residual.reshape(batch)
    return SolveInfo(method, status is Status.converged, int(run.iterations), res, int(P_count), msg, status)


def _iterate(p, row, x, x_zero, maxiter, measure):
    """Run the row's kernel, then measure the true stopping quantity (``measure(x)``); an estimate that met
    the tolerance while the truth does not restarts the kernel from its iterate (three times at most)."""
    try:
        run = row.kernel(p, x, x_zero, maxiter)
        its, kernel_status = run.iterations, run.status
        for _ in range(3):
            res = run.residual if row.true_residual else measure(run.x)
            if kernel_status is not Status.converged or bool((res <= p.tol).all()) or its >= maxiter:
                break
            if p.callback is not None:
                p.callback.offset = its  # the restart's iterations count on from here
            run = row.kernel(p, run.x.clone(), False, maxiter - its)  # estimate drifted from the truth: restart
            its, kernel_status = its + run.iterations, run.status
    except BaseException:
        if p.callback is not None:
            p.callback.close(None)
        raise
    return run._replace(iterations=its), res


def _problem(who, A, b, opts, stop, method, x0):
    """The row, the ``Problem`` (tolerance not yet set), the flat start, whether it is zero, the budget."""
    row = METHODS[method]
    dtype = b.dtype
    bf, x, x_zero, batch = _layout(A, b, x0, dtype, A.isize, A.osize)
    maxiter = opts.budget(row.maxiter(A.shape[1]))
    p = Problem(who, A, Flat(A), bf, batch, opts, stop)
    if not row.direct:
        p.M = _preconditioner(A, opts.M, method, dtype)
        objective = None
        if stop == "normal" and opts.show:  # ½‖b − A x‖² + ½damp²‖x‖², one matvec per printed line
            P, bf, d2 = p.P, p.b, p.damp**2
            objective = ("½‖Ax−b‖²", lambda x: 0.5 * float((norm(bf - P.mv(x)) ** 2 + d2 * norm(x) ** 2).sum()))
        p.callback = monitor(who, method, A, batch, opts, maxiter, stop, dtype, objective)
    return row, p, x, x_zero, maxiter


def _context(who, A, b, opts):
    """The note a failed solve carries: the call, the operator and the right-hand sides' shapes."""
    return lambda: (
        f"in {who} with A = {type(A).__name__} {tuple(A.shape)} {A.dtype}, b of shape {tuple(b.shape)} "
        f"{b.dtype} (named: (*batch, *A.osize)), method={opts.method!r}"
    )


def solve_core(who, A, b, opts, x0=None, ws=None):
    """Solve ``A x = b`` for named ``b`` (already in the solve dtype), without autograd.

    ``ws``: ``A._flat_weights()`` when the caller has them already. The method's row in
    ``METHODS`` runs; iterative methods end by measuring the true residual ``‖b − A x‖`` (one
    matvec, counted); an estimate that met the tolerance while the true residual does not
    restarts the method from ``x`` (three times at most). The boundary of the engine: errors
    raised below get ``who`` in front of their message and a note with the shapes, here, once.
    """
    try:
        return _solve(who, A, b, opts, x0, A._flat_weights() if ws is None else ws)
    except Exception as exc:
        named(exc, who, _context(who, A, b, opts))
        raise


def _solve(who, A, b, opts, x0, ws):
    method, inv = _choose(A, SOLVE, opts, ws)
    if x0 is not None:
        _finite_tensor("x0", x0)
    note = ""
    if method == "structural":
        out = _structural(A, inv, b, ws, opts)
        if out is not None:
            announce(who, "structural", A, b, opts, out[1])
            return out
        method = auto_method(A, SOLVE)  # a conditional inverse's formula failed (Woodbury, D near singular)
        note = f" ({type(inv).__name__} did not apply: its formula failed on this A)"
    _verify(A, ws)
    _finite_tensor("b", b)
    if A.shape[0] != A.shape[1] and square_only(method):
        raise unnamed(ShapeError(f"method={method!r} needs a square operator, got {tuple(A.shape)}; use ll.lstsq"))
    row, p, x, x_zero, maxiter = _problem(who, A, b, opts, "residual", method, x0)
    if row.direct:
        xf, info = row.kernel(p)
        return xf.reshape(*p.batch, *A.isize), announce(who, method, A, b, opts, info)
    rtol, atol = opts.tolerances(b.dtype)
    bf, P = p.b, p.P
    bn = norm(bf)
    p.tol = tol = torch.clamp(rtol * bn, min=atol)
    if p.callback is not None:
        p.callback.scale = bn  # the log's residual is relative to ‖b‖
    if not x_zero:
        x = torch.where(col(bn == 0), torch.zeros_like(x), x)  # a zero right-hand side has the zero solution
    if bf.shape[0] == 0 or A.shape[1] == 0 or (x_zero and bool((bn == 0).all())):
        msg = "zero right-hand side: x = 0" if bf.shape[0] else "no right-hand side"
        run, res = Run(x, 0, bn, bn == 0, msg, Status.converged), bn  # b − A·0 = b, measured
    else:
        run, res = _iterate(p, row, x, x_zero, maxiter, lambda x: norm(bf - P.mv(x)))
    info = _close(
        p, lambda: _finalize(method, run, res, tol, run.status, P.count, p.batch, A, b, x0, lambda: _inverse_of(A, ws))
    )
    if note:
        info = replace(info, message=info.message + note)
    return run.x.reshape(*p.batch, *A.isize), info


def normal_residual(S, bs, x, damp):
    """The true ``‖Āᴴ(b̄ − Ā x) − damp² x‖`` per right-hand side (two matvecs)."""
    s = S.rmv([b - ax for b, ax in zip(bs, S.mv(x))])
    return norm(s - (damp * damp) * x if damp else s)


def lstsq_core(who, A, b, opts, x0=None, ws=None):
    """Minimise ``‖A x − b‖² + damp²‖x‖²`` for named ``b`` (in the solve dtype), without autograd.

    A rank-deficient ``A`` gives the minimum-norm solution (LSQR/CGLS from ``x = 0`` stay in
    the row space). The iteration ends by measuring the true normal-equation residual. A
    boundary like ``solve_core``.
    """
    try:
        return _lstsq(who, A, b, opts, x0, A._flat_weights() if ws is None else ws)
    except Exception as exc:
        named(exc, who, _context(who, A, b, opts))
        raise


def _lstsq(who, A, b, opts, x0, ws):
    dtype = b.dtype
    method = opts.method
    damp = opts.damp
    batch = _batch(b, A.osize)
    if method == "auto" and damp == 0 and A.shape[0] == A.shape[1] and _inverse_of(A, ws) is not None:
        try:
            x, info = _solve(who, A, b, replace(opts, show=False, progress=False), x0, ws)
        except SingularError:
            x = None  # singular: the minimum-norm least-squares solution by LSQR below
        if x is not None:  # a numerically singular factorisation gives a finite x: measure ‖Aᴴ(b − A x)‖
            P = Flat(A)
            bf, xf = b.reshape(-1, A.shape[0]), x.reshape(-1, A.shape[1])
            res = normal_residual(lsq.Stacked([P], [1.0]), [bf], xf, 0.0)
            rtol, atol = opts.tolerances(dtype)
            if bool((res <= torch.clamp(rtol * norm(P.rmv(bf)), min=atol)).all()):
                info = replace(info, residual_norm=res.reshape(batch), matvecs=info.matvecs + P.count)
                return x, announce(who, info.method, A, b, opts, info, "normal")
    if x0 is not None:
        _finite_tensor("x0", x0)
    _verify(A, ws)
    _finite_tensor("b", b)
    method = auto_method(A, LSTSQ) if method == "auto" else method
    row, p, x, x_zero, maxiter = _problem(who, A, b, opts, "normal", method, x0)
    if row.direct:
        xf, info = row.kernel(p)
        return xf.reshape(*batch, *A.isize), announce(who, method, A, b, opts, info, "normal")
    bf, P = p.b, p.P
    S = lsq.Stacked([P], [1.0])
    if bf.shape[0] == 0 or A.shape[0] == 0 or A.shape[1] == 0:
        zero = torch.zeros(bf.shape[0], dtype=real(dtype), device=b.device)
        x = torch.zeros_like(x)  # no equations or no unknowns: x = 0 is the minimum-norm solution
        run, res, tol = Run(x, 0, zero, zero == 0, "empty system: x = 0", Status.converged), zero, zero
    else:
        rtol, atol = opts.tolerances(dtype)
        scale = norm(P.rmv(bf))  # ‖Aᴴ b‖, one adjoint matvec
        p.tol = tol = torch.clamp(rtol * scale, min=atol)  # max(rtol·‖Aᴴ b‖, atol)
        if p.callback is not None:
            p.callback.scale = scale  # the log's residual is relative to ‖Aᴴ b‖
        run, res = _iterate(p, row, x, x_zero, maxiter, lambda x: normal_residual(S, [bf], x, damp))
    info = _close(p, lambda: _finalize(method, run, res, tol, run.status, P.count, batch, A, b, x0, lambda: None))
    return run.x.reshape(*batch, *A.isize), info


def promote_rhs(who, A, b):
    """``b`` in the solve dtype (matmul promotion of ``A.dtype`` and ``b.dtype``) on ``A``'s device."""
    check_rhs(who, b)
    dtype = promote(A.dtype, b.dtype)
    if b.device != A.device and A.device.type != "meta":
        raise DeviceError(f"{who}: operator on {A.device}, right-hand side on {b.device}; move one of them")
    return b if b.dtype == dtype else b.to(dtype)
