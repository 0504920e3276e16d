"""Sparsity-promoting solvers: ``ll.fista`` (ℓ₁ by proximal gradient) and ``ll.split_bregman``."""

import numbers

import torch

from ..engine import check_finite
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


def fista(A, b, *, lam, prox=None, step=None, maxiter=1000, rtol=None, x0=None, callback=None, on_failure="ignore"):
    """FISTA for ``min ½‖A x − b‖² + lam·g(x)`` (``g = ‖·‖₁`` unless ``prox`` is given): ``(x, info)``.

    ``x ← prox(z − s Aᴴ(A z − b), s·lam)``, Nesterov momentum on ``z``; ``s = 1/‖A‖₂²``
    (by Lanczos) unless ``step``. ``prox(v, t)`` solves ``argmin_u ½‖u − v‖² + t g(u)``.
    Stops when ``‖xₖ₊₁ − xₖ‖ ≤ rtol·‖xₖ₊₁‖`` (``rtol=None``: 1e-6); two matvecs per iteration.
    ``b`` is named ``(*batch, *A.osize)``. ``maxiter`` is a budget: reaching it returns the last
    iterate with ``info.converged=False`` (``on_failure="raise"`` raises instead).

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
    check_callback(who, callback)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    if prox is not None and not callable(prox):
        raise TypeError(f"{who}: prox must be callable as prox(v, t), got {prox!r}")
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
            if callback is not None:
                callback(it, x.reshape(*batch, *A.isize).clone(), dx.reshape(batch))
            if bool((dx <= rtol * xnorm).all()):
                break
    return _result("fista", x, change, rtol, it, P.count, maxiter, batch, A.isize, on_failure, who)


def _result(method, x, change, rtol, it, matvecs, maxiter, batch, isize, on_failure, who):
    """``(x, info)`` of a proximal iteration: converged when ‖Δx‖ ≤ rtol·‖x‖ for every batch entry."""
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
    info = SolveInfo(method, conv, it, change.reshape(batch), matvecs, msg, status)
    finish(x, info, on_failure, who)
    return x, info


def split_bregman(
    A, b, *, regs, lams, mu=1.0, maxiter=100, inner_maxiter=5, rtol=None, x0=None, callback=None, on_failure="ignore"
):
    """Split Bregman for ``min ½‖A x − b‖² + Σᵢ lamsᵢ‖Rᵢ x‖₁`` (e.g. anisotropic TV): ``(x, info)``.

    With ``dᵢ ≈ Rᵢ x`` and Bregman variables ``cᵢ``: ``x ← argmin ½‖A x − b‖² +
    (mu/2)Σ‖Rᵢ x − dᵢ + cᵢ‖²`` (``inner_maxiter`` warm-started CGLS steps),
    ``dᵢ ← shrink(Rᵢ x + cᵢ, lamsᵢ/mu)``, ``cᵢ ← cᵢ + Rᵢ x − dᵢ``. Stops when
    ``‖xₖ₊₁ − xₖ‖ ≤ rtol·‖xₖ₊₁‖`` (``rtol=None``: 1e-6). ``b`` named ``(*batch, *A.osize)``.
    ``maxiter`` is a budget: reaching it returns the last iterate with ``info.converged=False``.

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
            if callback is not None:
                callback(it, x.reshape(*batch, *A.isize).clone(), change.reshape(batch))
            if bool((change <= rtol * norm(x)).all()):
                break
    return _result("split_bregman", x, change, rtol, it, S.count, maxiter, batch, A.isize, on_failure, who)
