"""Krylov kernels for square systems ``A x = b``: CG, MINRES, GMRES (restarted), BiCGStab.

Each kernel takes a ``Flat`` operator, right-hand sides ``b`` of shape ``(B, n)``, a starting
iterate ``x`` it may overwrite, per-RHS tolerances ``tol`` (``(B,)``, real) and stops a
right-hand side once ``‖b − A x‖ ≤ tol`` (converged ones are frozen while the others go on).
They return a ``Run``; ``ll.solve`` turns it into ``(x, SolveInfo)``.

Conventions against scipy.sparse.linalg (tested): CG, MINRES and BiCGStab iterates equal
scipy's after the same number of iterations from ``x0 = 0``; GMRES counts *inner*
iterations (one matvec each) where scipy's ``maxiter`` counts restart cycles, so ``k``
iterations here equal scipy's ``gmres(restart=k, maxiter=1)``.
"""

import torch

from ..status import Status
from .flat import Run, col, dot, norm, safe, worst


def stop_reason(it, maxiter, bad):
    """``(message, status)`` of a kernel that stopped with ``bad`` the worst unmet residual."""
    if bad != bad or bad == float("inf"):
        return "diverged: the residual became NaN/Inf (NaN/Inf in the operator, or a breakdown)", Status.diverged
    if bad == 0:
        return f"converged in {it} iterations", Status.converged
    return f"reached maxiter={maxiter}", Status.max_iterations


def notify(callback, it, x, res):
    """Report iteration ``it`` to the solve's monitor (``callback(it, x, res)``; see ``solvers.monitor``)."""
    if callback is not None:
        callback(it, x, res)


def cg(P, b, x, tol, maxiter, *, M=None, x_zero=False, callback=None):
    """Conjugate gradients for Hermitian positive (semi)definite ``A``: one matvec per iteration.

    ``M`` (a ``Flat`` or None) applies a Hermitian positive definite preconditioner ``M ≈ A⁻¹``.
    Per iteration: the matvec, two inner products, three in-place updates and one sync (the
    convergence check); a single right-hand side needs no masks (it is active while the loop runs).
    """
    r = b.clone() if x_zero else b - P.mv(x)
    z = r if M is None else M.mv(r)
    rho = dot(r, z).real
    res = rho.sqrt() if M is None else norm(r)
    limit = tol.item() if tol.numel() == 1 else None  # one tolerance: compare as a float, no masks
    met, bad = _check(res, tol, limit)
    p = z.clone()
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        q = P.mv(p)
        alpha = rho / dot(p, q).real  # α = ρ / ⟨p, A p⟩
        if met is not None:
            alpha.masked_fill_(met, 0)  # frozen RHS get 0
        a = col(alpha)
        x.addcmul_(a, p)
        r.addcmul_(a, q, value=-1)
        z = r if M is None else M.mv(r)
        rho_new = dot(r, z).real
        res = rho_new.sqrt() if M is None else norm(r)
        it += 1
        if callback is not None:
            callback(it, x, res)
        met, bad = _check(res, tol, limit)
        if bad == 0 or bad != bad:
            break
        beta = rho_new / rho  # β = ρₖ₊₁ / ρₖ
        if met is not None:
            beta.masked_fill_(met, 0)
        p = p.mul_(col(beta)).add_(z)
        rho = rho_new
    return Run(x, it, res, res <= tol, *stop_reason(it, maxiter, bad))


def _check(res, tol, limit):
    """``(res <= tol, worst(res, tol))`` with one sync; for one right-hand side (its tolerance ``limit``
    a float) the mask is None: that right-hand side is active while a loop runs."""
    if limit is None:
        met = res <= tol
        return met, worst(res, tol, met)
    r = res.item()
    return None, (0.0 if r <= limit else r)


def minres(P, b, x, tol, maxiter, *, M=None, x_zero=False, callback=None):
    """MINRES (Paige–Saunders) for Hermitian ``A``; ``M`` Hermitian positive definite.

    The residual norm is the Givens estimate ``|φ̄|`` without a preconditioner, and a
    recursively updated true residual ``b − A x`` with one (no extra matvecs).
    """
    real = b.real.dtype
    r1 = b.clone() if x_zero else b - P.mv(x)
    y = r1 if M is None else M.mv(r1)
    beta1 = dot(r1, y).real
    if bool((beta1 < 0).any()):
        raise ValueError(
            "minres: the preconditioner M is not positive definite (⟨r, M r⟩ < 0); "
            "M must be Hermitian positive definite"
        )
    beta1 = beta1.sqrt()
    zeros = torch.zeros_like(beta1)
    oldb, beta, dbar, epsln, phibar = zeros, beta1, zeros, zeros, beta1
    cs, sn = -torch.ones_like(beta1), zeros
    w = torch.zeros_like(b)
    w2 = torch.zeros_like(b)
    r2 = r1
    track = M is not None
    if track:
        rtrue, Aw, Aw2 = r1.clone(), torch.zeros_like(b), torch.zeros_like(b)
    res = norm(r1)
    active = ~(res <= tol)
    bad = worst(res, tol)
    tiny = torch.finfo(real).tiny
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        v = col(torch.where(beta > 0, 1 / safe(beta), 0)).to(b.dtype) * y  # v = y / β
        Av = P.mv(v)
        y = Av
        if it >= 1:
            y = y - col(beta / safe(oldb)).to(b.dtype) * r1
        alfa = dot(v, y).real
        y = y - col(torch.where(beta > 0, alfa / safe(beta), 0)).to(b.dtype) * r2
        r1, r2 = r2, y
        y = r2 if M is None else M.mv(r2)
        oldb = beta
        beta = dot(r2, y).real.clamp_min(0).sqrt()
        oldeps = epsln
        delta = cs * dbar + sn * alfa  # previous rotation Qₖ₋₁ applied to [dbar 0; alfa beta]
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = torch.hypot(gbar, beta).clamp_min(tiny)  # next rotation Qₖ
        cs, sn = gbar / gamma, beta / gamma
        phi = torch.where(active, cs * phibar, 0)
        phibar = torch.where(active, sn * phibar, phibar)
        w1, w2 = w2, w
        w = (v - col(oldeps).to(b.dtype) * w1 - col(delta).to(b.dtype) * w2) / col(gamma).to(b.dtype)
        x.addcmul_(col(phi).to(x.dtype), w)
        if track:
            Aw1, Aw2 = Aw2, Aw  # A w follows w's recurrence: r ← r − φ A w
            Aw = (Av - col(oldeps).to(b.dtype) * Aw1 - col(delta).to(b.dtype) * Aw2) / col(gamma).to(b.dtype)
            rtrue.addcmul_(col(phi).to(b.dtype), Aw, value=-1)
            res = torch.where(active, norm(rtrue), res)
        else:
            res = phibar.abs()
        it += 1
        notify(callback, it, x, res)
        active = ~(res <= tol)
        bad = worst(res, tol)
    return Run(x, it, res, res <= tol, *stop_reason(it, maxiter, bad))


def _rotate(col_, cs, sn, j):
    """Apply the Givens rotations 0..j-1 (stored per RHS) to a new Hessenberg column."""
    for i in range(j):
        a, c = col_[:, i], col_[:, i + 1]
        ci, si = cs[:, i], sn[:, i]
        col_[:, i], col_[:, i + 1] = ci.conj() * a + si.conj() * c, -si * a + ci * c
    return col_


def gmres(P, b, x, tol, maxiter, *, M=None, x_zero=False, restart=20, callback=None):
    """Restarted GMRES with right preconditioning (so residuals are of ``A x = b`` itself).

    Arnoldi by classical Gram–Schmidt applied twice (two batched matmuls per step), Givens
    rotations per RHS; one matvec per inner iteration plus one per restart (true residual).
    """
    dtype = b.dtype
    B, n = b.shape
    m = max(1, min(restart, n))
    r = b.clone() if x_zero else b - P.mv(x)
    res = norm(r)
    bad = worst(res, tol)
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        active = ~(res <= tol)
        V = torch.zeros(m + 1, B, n, dtype=dtype, device=b.device)
        V[0] = r / col(safe(res)).to(dtype)
        H = torch.zeros(B, m + 1, m, dtype=dtype, device=b.device)
        cs = torch.zeros(B, m, dtype=dtype, device=b.device)
        sn = torch.zeros(B, m, dtype=dtype, device=b.device)
        g = torch.zeros(B, m + 1, dtype=dtype, device=b.device)
        g[:, 0] = res.to(dtype)
        kcol = torch.where(active, m, 0)
        k = 0
        for j in range(m):
            w = P.mv(V[j] if M is None else M.mv(V[j]))
            Vj = V[: j + 1]
            h = torch.einsum("kbn,bn->bk", Vj.conj(), w)  # CGS, twice: h = Vᴴ w, w ← w − V h
            w = w - torch.einsum("kbn,bk->bn", Vj, h)
            h2 = torch.einsum("kbn,bn->bk", Vj.conj(), w)
            w = w - torch.einsum("kbn,bk->bn", Vj, h2)
            hn = norm(w)
            V[j + 1] = w / col(safe(hn)).to(dtype)
            c = _rotate(torch.cat([h + h2, hn.to(dtype).unsqueeze(-1)], dim=1), cs, sn, j)
            a, e = c[:, j], c[:, j + 1]
            d = torch.sqrt(a.abs() ** 2 + e.abs() ** 2)  # new rotation zeroes h_{j+1,j}
            cj = torch.where(d == 0, torch.ones_like(a), a / safe(d).to(dtype))
            sj = e / safe(d).to(dtype)
            cs[:, j], sn[:, j] = cj, sj
            c[:, j], c[:, j + 1] = d.to(dtype), 0
            H[:, : j + 2, j] = c
            g[:, j + 1] = -sj * g[:, j]
            g[:, j] = cj.conj() * g[:, j]
            est = g[:, j + 1].abs()
            newly = active & (est <= tol)
            kcol = torch.where(newly, j + 1, kcol)
            active = active & ~newly
            res = torch.where(newly | active, est, res)
            it += 1
            k = j + 1
            if callback is not None:  # x is formed only when someone looks at it
                wants = getattr(callback, "wants_x", True)
                callback(it, x + _correction(V, H, g, kcol, k, M) if wants else None, res)
            if it >= maxiter or not bool(active.any()):
                break
        x = x + _correction(V, H, g, kcol, k, M)
        r = b - P.mv(x)  # the true residual at every restart (and at the end)
        res = norm(r)
        bad = worst(res, tol)
    return Run(x, it, res, res <= tol, *stop_reason(it, maxiter, bad))


def _correction(V, H, g, kcol, k, M):
    """``M V y`` with ``R y = g`` per RHS, using only each RHS's first ``kcol`` Arnoldi steps."""
    idx = torch.arange(k, device=H.device)
    keep = idx < torch.clamp(kcol, max=k).unsqueeze(-1)  # (B, k)
    R = H[:, :k, :k]
    eye = torch.eye(k, dtype=H.dtype, device=H.device)
    R = torch.where(keep.unsqueeze(-1) & keep.unsqueeze(-2), R, eye)
    rhs = torch.where(keep, g[:, :k], 0).unsqueeze(-1)
    y = torch.linalg.solve_triangular(R, rhs, upper=True).squeeze(-1)
    dx = torch.einsum("kbn,bk->bn", V[:k], y)
    return dx if M is None else M.mv(dx)


def bicgstab(P, b, x, tol, maxiter, *, M=None, x_zero=False, callback=None):
    """BiCGStab (van der Vorst) for general square ``A``: two matvecs per iteration.

    Follows scipy's variant (shadow residual r̃ = r₀, early exit at the half step).
    """
    r = b.clone() if x_zero else b - P.mv(x)
    rt = r.clone()
    res = norm(r)
    active = ~(res <= tol)
    bad = worst(res, tol)
    broken = torch.zeros_like(active)
    p = v = None
    rho_prev = omega = alpha = None
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        rho = dot(rt, r)
        broken = broken | (active & (rho == 0))
        active = active & ~broken
        if it > 0:
            broken = broken | (active & (omega == 0))
            active = active & ~broken
            beta = torch.where(active, (rho / safe(rho_prev)) * (alpha / safe(omega)), 0)
            p = torch.where(col(active), r + col(beta) * (p - col(omega) * v), p)
        else:
            p = r.clone()
        phat = p if M is None else M.mv(p)
        v = P.mv(phat)
        rv = dot(rt, v)
        broken = broken | (active & (rv == 0))
        active = active & ~broken
        alpha = torch.where(active, rho / safe(rv), 0)
        s = r - col(alpha) * v
        half = active & (norm(s) <= tol)  # converged at the half step: x += α p̂ only
        shat = s if M is None else M.mv(s)
        t = P.mv(shat)
        omega = torch.where(active & ~half, dot(t, s) / safe(dot(t, t)), 0)
        x = x + col(alpha) * phat + col(omega) * shat
        r = torch.where(col(active), s - col(omega) * t, r)
        res = norm(r)
        rho_prev = rho
        it += 1
        notify(callback, it, x, res)
        active = active & ~(res <= tol)
        bad = worst(torch.where(broken, torch.zeros_like(res), res), tol)
        if bad == 0 and bool(broken.any()):
            break
    msg, status = stop_reason(it, maxiter, bad)
    if bool(broken.any()):
        msg = "breakdown (⟨r̃, r⟩ = 0, ⟨r̃, v⟩ = 0 or ω = 0): BiCGStab cannot continue; try method='gmres'"
        status = Status.breakdown
    return Run(x, it, res, (res <= tol) & ~broken, msg, status)
