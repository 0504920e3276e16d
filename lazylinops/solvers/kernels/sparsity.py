"""Sparsity-promoting solvers: ``ll.fista`` (ℓ₁ by proximal gradient) and ``ll.split_bregman``."""

import numbers

import torch

from ..engine import check_finite
from ..monitor import Monitor, check_progress, check_show, describe, rhs_count
from ..status import ON_FAILURE, SolveInfo, Status, check_callback, check_choice, check_maxiter, finish
from .eig import spectral_norm
from .flat import Flat, norm
from .lsq import Stacked, cgls
from .regularized import named_rhs


def soft_threshold(x, t):
    """``prox_{t‖·‖₁}(x) = x · max(|x| − t, 0) / |x|`` (complex-aware shrinkage)."""
    mag = x.abs()
    return x * (torch.clamp(mag - t, min=0) / torch.where(mag == 0, torch.ones_like(mag), mag))


def _check_pos(who, name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ValueError(f"{who}: {name} must be a real number ≥ 0, got {v!r}")
    return float(v)


def _rtol(who, rtol):
    return 1e-6 if rtol is None else _check_pos(who, "rtol", rtol)


def _monitor(who, method, A, batch, callback, show, progress, maxiter, params, objective):
    """The iteration's ``Monitor`` (None when nobody watches); its column is the relative step ‖Δx‖/‖x‖."""
    check_callback(who, callback)
    check_progress(who, progress)
    show = check_show(who, show)
    if callback is None and not show and not progress:
        return None
    cb = None
    if callback is not None:

        def cb(it, xf, dx):
            callback(it, xf.detach().clone().reshape(*batch, *A.isize), dx.detach().reshape(batch))

    return Monitor(
        who,
        callback=cb,
        show=show,
        progress=progress,
        total=maxiter,
        title=f"{method} on {describe(A)}, {rhs_count(batch)}",
        params=params,
        column="‖Δx‖/‖x‖",
        objective=objective,
    )


def _report(mon, it, x, dx, xnorm):
    if mon is not None:
        mon.scale = xnorm  # the step relative to the new iterate (what rtol compares)
        mon(it, x, dx)


_BUDGET = """maxiter : int
        The iteration budget: reaching it returns the last iterate with ``info.converged=False``
        and ``info.status`` ``Status.max_iterations`` (``on_failure="raise"`` raises instead).
    rtol : float, optional
        Stop when ``‖xₖ₊₁ − xₖ‖ ≤ rtol·‖xₖ₊₁‖`` (``None``: 1e-6).
    x0 : torch.Tensor, optional
        Starting iterate ``(*batch, *A.isize)`` (default zero).
    callback : callable, optional
        ``callback(iteration, x, residual_norm)`` after each iteration: ``iteration`` from 1, ``x`` a
        copy of the iterate ``(*batch, *A.isize)``, ``residual_norm`` the stopping quantity
        ``‖xₖ₊₁ − xₖ‖`` per right-hand side, shaped ``batch``.
    on_failure : {"ignore", "warn", "raise"}
        What a run that stops unconverged does: "ignore" (the default) returns the last iterate,
        "warn" also warns (``ll.ConvergenceWarning``), "raise" raises ``ll.NotConverged`` /
        ``ll.Diverged`` (carrying ``.x`` and ``.info``).
    progress : bool
        A ``tqdm.auto`` bar (iteration, ``‖Δx‖/‖x‖``), left visible when done.
    show : bool or int
        Print a PyLops-style log: a header, then the iteration, ``‖Δx‖/‖x‖`` and the objective
        on iterations 1–10, 20, 30 … 100, 200 … (True) or every ``show``-th one (an int), and a
        footer (status, iterations, matvecs, time). The objective costs matvecs on printed lines
        only (counted in ``info.matvecs``).

    Returns
    -------
    x : torch.Tensor
        The last iterate, ``(*batch, *A.isize)``.
    info : SolveInfo
        The record (``converged``, ``iterations``, ``residual_norm`` = the last ``‖Δx‖`` …)."""


def _doc(fn):
    fn.__doc__ = fn.__doc__.replace("{budget}", _BUDGET)
    return fn


@_doc
def fista(
    A,
    b,
    *,
    lam,
    prox=None,
    step=None,
    maxiter=1000,
    rtol=None,
    x0=None,
    callback=None,
    on_failure="ignore",
    progress=False,
    show=False,
):
    """FISTA for ``min ½‖A x − b‖² + lam·g(x)`` (``g = ‖·‖₁`` unless ``prox`` is given): ``(x, info)``.

    ``x ← prox(z − s Aᴴ(A z − b), s·lam)``, Nesterov momentum on ``z``; ``s = 1/‖A‖₂²``
    (by Lanczos) unless ``step``. ``prox(v, t)`` solves ``argmin_u ½‖u − v‖² + t g(u)``.
    Stops when ``‖xₖ₊₁ − xₖ‖ ≤ rtol·‖xₖ₊₁‖`` (``rtol=None``: 1e-6); two matvecs per iteration.
    ``b`` is named ``(*batch, *A.osize)``. ``maxiter`` is a budget: reaching it returns the last
    iterate with ``info.converged=False`` (``on_failure="raise"`` raises instead).

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        Named like ``A``'s output: ``(*batch, *A.osize)``.
    lam : float
        The weight of ``g`` (≥ 0).
    prox : callable, optional
        ``prox(v, t)``, the proximal operator of ``t·g`` on ``v`` shaped ``(*batch, *A.isize)``
        (default: soft thresholding, ``g = ‖·‖₁``).
    step : float, optional
        The step ``s`` (default ``1/‖A‖₂²``, estimated by Lanczos).
    {budget}

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Identity((3,), dtype=torch.float64)
    >>> x, info = ll.fista(A, torch.tensor([3.0, -0.5, 1.0], dtype=torch.float64), lam=1.0)
    >>> x.tolist()
    [2.0, -0.0, 0.0]

    Dense equivalent: pylops.optimization.sparsity.fista.
    """
    who = "ll.fista"
    b = named_rhs(who, A, b)
    check_finite(who, A, b, x0)
    lam = _check_pos(who, "lam", lam)
    rtol = _rtol(who, rtol)
    maxiter = check_maxiter(who, maxiter, 1000)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    if prox is not None and not callable(prox):
        raise TypeError(f"{who}: prox must be callable as prox(v, t), got {prox!r}")
    l1 = prox is None
    prox = soft_threshold if prox is None else prox
    with torch.no_grad():
        if step is None:
            L = float(spectral_norm(A)) ** 2
            step = 1.0 / max(L, torch.finfo(A.dtype.to_real() if A.dtype.is_complex else A.dtype).tiny)
        step = _check_pos(who, "step", step)
        P = Flat(A)
        nb = b.dim() - len(A.osize)
        batch = b.shape[:nb]
        bf = b.reshape(-1, A.shape[0])

        def objective(xf):  # ½‖A x − b‖² (+ lam‖x‖₁ for the default prox), one matvec
            data = 0.5 * norm(P.mv(xf) - bf) ** 2
            return float((data + lam * xf.abs().sum(-1)).sum() if l1 else data.sum())

        params = f"lam = {lam:.3g}   step = {step:.3g}   rtol = {rtol:.1e}   maxiter = {maxiter}"
        title = "½‖Ax−b‖²+lam‖x‖₁" if l1 else "½‖Ax−b‖²"
        mon = _monitor(who, "fista", A, batch, callback, show, progress, maxiter, params, (title, objective))
        x = (
            torch.zeros(bf.shape[0], A.shape[1], dtype=b.dtype, device=b.device)
            if x0 is None
            else x0.to(b.dtype).expand(*batch, *A.isize).reshape(-1, A.shape[1]).clone()
        )
        z, t = x.clone(), 1.0
        it, change = 0, torch.full(batch, float("inf"))
        while it < maxiter:
            grad = P.rmv(P.mv(z) - bf)
            xn = prox((z - step * grad).reshape(*batch, *A.isize), step * lam).reshape(x.shape)
            tn = (1 + (1 + 4 * t * t) ** 0.5) / 2
            z = xn + ((t - 1) / tn) * (xn - x)
            dx, xnorm = norm(xn - x), norm(xn)
            x, t = xn, tn
            it += 1
            change = dx
            _report(mon, it, x, dx, xnorm)
            if bool((dx <= rtol * xnorm).all()):
                break
    return _result("fista", x, change, rtol, it, P, maxiter, batch, A.isize, on_failure, who, mon)


def _result(method, x, change, rtol, it, counter, maxiter, batch, isize, on_failure, who, mon):
    """``(x, info)`` of a proximal iteration: converged when ‖Δx‖ ≤ rtol·‖x‖ for every batch entry
    (``counter.count``: the matvecs; ``mon``: the monitor to close)."""
    with torch.no_grad():
        finite = bool(torch.isfinite(x).all())
        conv = finite and bool((change <= rtol * norm(x)).all())
    if conv:
        msg, status = f"converged in {it} iterations (‖Δx‖ ≤ rtol·‖x‖ measured)", Status.converged
    elif not finite:
        msg, status = "diverged: the iterate holds NaN/Inf (is step ≤ 1/‖A‖²?)", Status.diverged
    else:
        msg, status = f"reached the iteration budget maxiter={maxiter}; x is the last iterate", Status.max_iterations
    x = x.reshape(*batch, *isize)
    if mon is not None:
        mon.scale = norm(x.reshape(change.numel(), -1)) if change.numel() else None
    info = SolveInfo(method, conv, it, change.reshape(batch), counter.count, msg, status)
    if mon is not None:
        mon.close(info)
    finish(x, info, on_failure, who, "raise maxiter or loosen rtol")
    return x, info


@_doc
def split_bregman(
    A,
    b,
    *,
    regs,
    lams,
    mu=1.0,
    maxiter=100,
    inner_maxiter=5,
    rtol=None,
    x0=None,
    callback=None,
    on_failure="ignore",
    progress=False,
    show=False,
):
    """Split Bregman for ``min ½‖A x − b‖² + Σᵢ lamsᵢ‖Rᵢ x‖₁`` (e.g. anisotropic TV): ``(x, info)``.

    With ``dᵢ ≈ Rᵢ x`` and Bregman variables ``cᵢ``: ``x ← argmin ½‖A x − b‖² +
    (mu/2)Σ‖Rᵢ x − dᵢ + cᵢ‖²`` (``inner_maxiter`` warm-started CGLS steps),
    ``dᵢ ← shrink(Rᵢ x + cᵢ, lamsᵢ/mu)``, ``cᵢ ← cᵢ + Rᵢ x − dᵢ``. Stops when
    ``‖xₖ₊₁ − xₖ‖ ≤ rtol·‖xₖ₊₁‖`` (``rtol=None``: 1e-6). ``b`` named ``(*batch, *A.osize)``.
    ``maxiter`` is a budget: reaching it returns the last iterate with ``info.converged=False``.

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        Named like ``A``'s output: ``(*batch, *A.osize)``.
    regs : sequence of LinearOperator
        The operators ``Rᵢ`` under the ℓ₁ norms (e.g. ``ll.Gradient`` for TV), each with ``A``'s input.
    lams : sequence of float
        Their weights ``lamsᵢ ≥ 0`` (one per regulariser).
    mu : float
        The splitting penalty (≥ 0).
    inner_maxiter : int
        CGLS steps per outer iteration.
    {budget}

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Identity((4,), dtype=torch.float64)
    >>> x, info = ll.split_bregman(A, torch.tensor([1.0, 1.1, 0.9, 1.0], dtype=torch.float64),
    ...                            regs=[ll.Identity((4,), dtype=torch.float64)], lams=[0.5], maxiter=200)
    >>> [round(v, 4) + 0.0 for v in x.tolist()]
    [0.5, 0.6, 0.4, 0.5]

    Dense equivalent: pylops.optimization.sparsity.splitbregman.
    """
    who = "ll.split_bregman"
    b = named_rhs(who, A, b)
    check_finite(who, A, b, x0)
    regs, lams = list(regs), [_check_pos(who, "lams", v) for v in lams]
    if len(regs) != len(lams) or not regs:
        raise ValueError(f"{who}: give one lam per regulariser (got {len(regs)} regs, {len(lams)} lams)")
    mu = _check_pos(who, "mu", mu)
    rtol = _rtol(who, rtol)
    maxiter = check_maxiter(who, maxiter, 100)
    inner = check_maxiter(who, inner_maxiter, 5)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    dtype = b.dtype
    with torch.no_grad():
        P = Flat(A)
        Rs = [Flat(R, dtype) for R in regs]
        S = Stacked([P, *Rs], [1.0] + [mu**0.5] * len(Rs))
        nb = b.dim() - len(A.osize)
        batch = b.shape[:nb]
        bf = b.reshape(-1, A.shape[0])
        x = (
            torch.zeros(bf.shape[0], A.shape[1], dtype=dtype, device=b.device)
            if x0 is None
            else x0.to(dtype).expand(*batch, *A.isize).reshape(-1, A.shape[1]).clone()
        )
        d = [torch.zeros(bf.shape[0], R.m, dtype=dtype, device=b.device) for R in Rs]
        c = [torch.zeros_like(di) for di in d]

        def objective(xf):  # ½‖A x − b‖² + Σ lamsᵢ‖Rᵢ x‖₁, 1 + len(regs) matvecs
            val = 0.5 * norm(P.mv(xf) - bf) ** 2
            for R, lam in zip(Rs, lams):
                val = val + lam * R.mv(xf).abs().sum(-1)
            return float(val.sum())

        params = f"lams = {lams}   mu = {mu:.3g}   inner_maxiter = {inner}   rtol = {rtol:.1e}   maxiter = {maxiter}"
        mon = _monitor(
            who, "split_bregman", A, batch, callback, show, progress, maxiter, params, ("objective", objective)
        )
        it, change = 0, torch.full(batch, float("inf"))
        while it < maxiter:
            rhs = [bf] + [mu**0.5 * (di - ci) for di, ci in zip(d, c)]
            tiny = 1e3 * torch.finfo(norm(bf).dtype).eps * norm(S.rmv(rhs))  # inner CGLS: stop at round-off
            xn = cgls(S, rhs, x.clone(), tiny, inner).x
            Rx = [R.mv(xn) for R in Rs]
            d = [soft_threshold(r + ci, lam / mu) if mu else r for r, ci, lam in zip(Rx, c, lams)]
            c = [ci + r - di for ci, r, di in zip(c, Rx, d)]
            change = norm(xn - x)
            x = xn
            it += 1
            xnorm = norm(x)
            _report(mon, it, x, change, xnorm)
            if bool((change <= rtol * xnorm).all()):
                break
    return _result("split_bregman", x, change, rtol, it, S, maxiter, batch, A.isize, on_failure, who, mon)
