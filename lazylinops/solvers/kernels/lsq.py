"""Least squares: CGLS and LSQR kernels, ``ll.cgls``, ``ll.lsqr``, ``ll.regularized_lstsq``.

Both kernels minimise ``‖Ā x − b̄‖²`` for a stacked operator ``Ā = [c₀A₀; c₁A₁; …]`` (one
block for plain least squares, more for regularisation) plus ``damp²‖x‖²``, and stop on
either the normal-equation residual ``‖Āᴴ(b̄ − Ā x) − damp² x‖`` (``stop="normal"``, what
``lstsq`` uses) or the plain residual ``‖b − A x‖`` (``stop="residual"``, what ``solve`` uses).
Matvecs count applications of ``A`` and of ``Aᴴ`` alike (two per iteration).
"""

import numbers

import torch

from ...core.basic import Identity
from .flat import Flat, Run, col, norm, safe, worst
from .krylov import notify, stop_reason


class Stacked:
    """``Ā = [c₀A₀; c₁A₁; …]`` on flat batches: ``mv`` gives a list of blocks, ``rmv`` sums."""

    def __init__(self, flats, weights):
        self.flats, self.weights = list(flats), [float(w) for w in weights]

    @property
    def count(self):
        return sum(f.count for f in self.flats)

    def mv(self, x):
        return [f.mv(x) if c == 1.0 else c * f.mv(x) for f, c in zip(self.flats, self.weights)]

    def rmv(self, ys):
        out = None
        for f, c, y in zip(self.flats, self.weights, ys):
            t = f.rmv(y) if c == 1.0 else c * f.rmv(y)
            out = t if out is None else out + t
        return out


def bnorm(us):
    """‖[u₀; u₁; …]‖ per RHS."""
    return torch.sqrt(sum(norm(u) ** 2 for u in us))


def cgls(S, bs, x, tol, maxiter, *, damp=0.0, stop="normal", x_zero=False, callback=None):
    """CGLS (CG on the normal equations, in residual form): two matvecs per iteration."""
    d2 = damp * damp
    r = [b.clone() for b in bs] if x_zero else [b - ax for b, ax in zip(bs, S.mv(x))]
    s = S.rmv(r)
    if d2:
        s = s - d2 * x
    p = s.clone()
    gamma = norm(s) ** 2

    def measure():
        return gamma.sqrt() if stop == "normal" else bnorm(r[:1])

    res = measure()
    active = ~(res <= tol)
    bad = worst(res, tol)
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        q = S.mv(p)
        delta = bnorm(q) ** 2 + (d2 * norm(p) ** 2 if d2 else 0)
        alpha = torch.where(active, gamma / safe(delta), 0)  # α = ‖s‖² / (‖Ā p‖² + damp²‖p‖²)
        a = col(alpha).to(x.dtype)
        x = x + a * p
        r = [ri - a * qi for ri, qi in zip(r, q)]
        s = S.rmv(r)
        if d2:
            s = s - d2 * x
        gamma_new = norm(s) ** 2
        beta = torch.where(active, gamma_new / safe(gamma), 0)
        gamma = torch.where(active, gamma_new, gamma)
        res = measure()
        it += 1
        notify(callback, it, x, res)
        active = active & ~(res <= tol)
        bad = worst(res, tol)
        p = s + col(beta).to(x.dtype) * p
    return Run(x, it, res, res <= tol, *stop_reason(it, maxiter, bad))


def lsqr(S, bs, x, tol, maxiter, *, damp=0.0, stop="normal", callback=None):
    """LSQR (Paige & Saunders 1982) from ``x = 0`` — callers shift a non-zero ``x0`` into ``b̄``.

    Golub–Kahan bidiagonalisation with real scalars (complex vectors are fine); the
    stopping quantities are LSQR's own estimates ``‖Āᴴr̄‖ = α|τ|`` and ``‖r‖ = |φ̄|``.
    """
    dtype = x.dtype
    d2 = damp * damp
    u = [b.clone() for b in bs]
    beta = bnorm(u)
    u = [ui / col(safe(beta)).to(dtype) for ui in u]
    v = S.rmv(u)
    alfa = norm(v)
    v = v / col(safe(alfa)).to(dtype)
    w = v.clone()
    rhobar, phibar = alfa, beta
    res = alfa * beta if stop == "normal" else beta.clone()
    active = ~(res <= tol)
    bad = worst(res, tol)
    it = 0
    while bad > 0 and bad == bad and it < maxiter:
        au = S.mv(v)  # bidiagonalisation: β u = A v − α u, α v = Aᴴ u − β v
        u = [a - col(alfa).to(dtype) * ui for a, ui in zip(au, u)]
        beta = bnorm(u)
        u = [ui / col(safe(beta)).to(dtype) for ui in u]
        v = S.rmv(u) - col(beta).to(dtype) * v
        alfa = norm(v)
        v = v / col(safe(alfa)).to(dtype)
        if d2:  # a rotation eliminates the damping row
            rhobar1 = torch.sqrt(rhobar**2 + d2)
            cs1 = rhobar / rhobar1
            psi_phibar = cs1 * phibar
            phibar = psi_phibar
        else:
            rhobar1 = rhobar
        rho = torch.hypot(rhobar1, beta)  # a rotation eliminates the subdiagonal β
        cs, sn = rhobar1 / safe(rho), beta / safe(rho)
        theta = sn * alfa
        rhobar = -cs * alfa
        phi = cs * phibar
        phibar = sn * phibar
        tau = sn * phi
        t1 = torch.where(active, phi / safe(rho), 0)
        t2 = -theta / safe(rho)
        x = x + col(t1).to(dtype) * w
        w = v + col(t2).to(dtype) * w
        new = alfa * tau.abs() if stop == "normal" else phibar.abs()
        res = torch.where(active, new, res)
        it += 1
        notify(callback, it, x, res)
        active = active & ~(res <= tol)
        bad = worst(res, tol)
    return Run(x, it, res, res <= tol, *stop_reason(it, maxiter, bad))


def check_damp(who, damp):
    if isinstance(damp, bool) or not isinstance(damp, numbers.Real) or not damp >= 0 or damp == float("inf"):
        raise ValueError(f"{who}: damp must be a finite real number ≥ 0, got {damp!r}")
    return float(damp)


def lsqr_shifted(S, bs, x, x_zero, tol, maxiter, damp, stop, cb):
    """LSQR from a non-zero start: solve for ``dx`` with ``b̄ − Ā x0`` (damping row included)."""
    if x_zero:
        return lsqr(S, bs, x, tol, maxiter, damp=damp, stop=stop, callback=cb)
    x0 = x
    rs = [b - ax for b, ax in zip(bs, S.mv(x0))]
    if damp:  # min ‖A dx − r0‖² + damp²‖x0 + dx‖²: an explicit row [damp I] with right side −damp x0
        S = Stacked([*S.flats, Flat(Identity((x0.shape[1],)))], [*S.weights, damp])
        rs = [*rs, -damp * x0]
    shifted = None if cb is None else (lambda it, dx, res: cb(it, x0 + dx, res))
    run = lsqr(S, rs, torch.zeros_like(x0), tol, maxiter, damp=0.0, stop=stop, callback=shifted)
    return run._replace(x=x0 + run.x)
