"""Implicit differentiation of solves: backward is one adjoint solve, never the iterations.

For ``x = A⁻¹ b`` and an incoming gradient ``g``: ``λ = A⁻ᴴ g`` (one solve with ``Aᴴ``),
``∂b = λ`` and ``∂w = −∂/∂w Re⟨λ, A(w) x⟩`` (one vector-Jacobian product through a single
apply of ``A`` rebuilt from its weights). For ``x = argmin ‖A x − b‖² + d²‖x‖²``:
``λ = (AᴴA + d²I)⁻¹ g``, ``∂b = A λ``, ``∂w = ∂/∂w [Re⟨r, A(w) λ⟩ − Re⟨A λ, A(w) x⟩]`` with
``r = b − A x``. The adjoint solve calls the same ``torch.autograd.Function``, so the
backward is itself differentiable (double backward, ``gradgradcheck``).
"""

from dataclasses import replace

import torch

from ..core.basic import Identity
from .engine import lstsq_core, promote_rhs, requires_grad, solve_core
from .status import finish


class Spec:
    """What a differentiable solve needs: ``build(weights) → A`` and the options."""

    def __init__(self, kind, who, A, build, opts, x0=None):
        self.kind, self.who, self.A, self.build, self.opts, self.x0 = kind, who, A, build, opts, x0
        self.info = None

    def adjoint(self):
        build = self.build
        return Spec("solve", self.who, self.A.H, lambda ws: build(ws).H, self.opts.adjoint())

    def normal(self, ws):
        build, damp = self.build, self.opts.damp

        def nb(ws):
            A = build(ws)
            N = A.N
            return N if damp == 0 else N + damp * damp * _identity(N)

        opts = self.opts.adjoint().plain()
        return Spec("solve", self.who, nb([w.detach() for w in ws]), nb, opts)


def _identity(N):
    return Identity(N.isize, N.ishape, dtype=N.dtype, device=N.device)


def _core(kind):
    return solve_core if kind == "solve" else lstsq_core


class ImplicitSolve(torch.autograd.Function):
    """``x = solve(build(weights), b)`` with the implicit backward above."""

    @staticmethod
    def forward(ctx, spec, b, *ws):
        A = spec.build([w.detach() for w in ws]) if ws else spec.A
        x, info = _core(spec.kind)(spec.who, A, b.detach(), spec.opts, spec.x0)
        spec.info = info
        ctx.spec = spec
        ctx.save_for_backward(x, b, *ws)
        return x

    @staticmethod
    def backward(ctx, g):
        spec = ctx.spec
        x, b, *ws = ctx.saved_tensors
        need_b, need_w = ctx.needs_input_grad[1], ctx.needs_input_grad[2:]
        create = torch.is_grad_enabled()
        if spec.kind == "solve":
            lam = implicit(spec.adjoint(), g, ws)  # λ = A⁻ᴴ g
            gb = lam
            gws = _vjp(spec.build, ws, need_w, [x], [-lam], create)  # −∂/∂w Re⟨λ, A(w) x⟩
        else:
            lam = implicit(spec.normal(ws), g, ws)  # λ = (AᴴA + d²I)⁻¹ g
            A = spec.build(list(ws)) if ws else spec.A
            Alam = A(lam)
            r = b - A(x)
            gb = Alam
            gws = _vjp(spec.build, ws, need_w, [lam, x], [r, -Alam], create)
        return (None, gb if need_b else None, *gws)


def _vjp(build, ws, needs, xs, cots, create):
    """Gradients w.r.t. the weights of ``Σ Re⟨cotᵢ, A(w) xᵢ⟩`` (None where not needed)."""
    if not any(needs):
        return [None] * len(ws)
    with torch.enable_grad():
        # fresh aliases: the partial derivative w.r.t. the weights must not run back through x's own
        # graph (x = this solve), yet stay differentiable in w, x and λ for double backward
        win = (
            [w.view_as(w) if n else w for w, n in zip(ws, needs)]
            if create
            else [w.detach().requires_grad_(n) for w, n in zip(ws, needs)]
        )
        A = build(win)
        ys = [A(xi if create else xi.detach()) for xi in xs]
        targets = [w for w, n in zip(win, needs) if n]
        cots = [c if create else c.detach() for c in cots]
        grads = iter(torch.autograd.grad(ys, targets, cots, create_graph=create, allow_unused=True))
    out = []
    for w, n in zip(ws, needs):
        gr = next(grads) if n else None
        out.append(torch.zeros_like(w) if n and gr is None else gr)
    return out


def implicit(spec, b, ws):
    """Run ``spec`` on ``b`` through ``ImplicitSolve`` (raising on failure as its options say)."""
    x = ImplicitSolve.apply(spec, b, *ws)
    finish(x, spec.info, spec.opts.on_failure, spec.who + " (backward)")
    return x


def is_opaque(A):
    """True when ``A``'s apply may read tensors that ``_flat_weights`` cannot list (a ``FromFunction``
    closure anywhere in its tree): gradients to those are only visible to autograd through an apply."""
    if getattr(type(A), "_opaque_weights", False):
        return True
    return any(is_opaque(c) for c in A.children())


class _Correction(torch.autograd.Function):
    """Zero in value; its backward is one adjoint solve (implicit differentiation for opaque operators).

    ``x = x* + C(F(x*, θ))`` with ``F = 0`` at the solution and ``∂x/∂F = J⁻¹``: the backward maps
    ``g ↦ J⁻ᴴ g`` and autograd carries it through ``F`` to ``b`` and to every tensor ``A`` reads.
    """

    @staticmethod
    def forward(ctx, F, xshape, adjoint_solve):
        ctx.adjoint_solve = adjoint_solve
        return F.new_zeros(xshape)

    @staticmethod
    def backward(ctx, g):
        with torch.no_grad():
            return ctx.adjoint_solve(g), None, None


def opaque_solve(kind, who, A, b, opts, x0, core):
    """A solve of an operator with closure tensors: forward without autograd, gradients by one
    adjoint solve plus a vector–Jacobian product of one apply of ``A`` (which sees closures too)."""

    with torch.no_grad():
        x, info = core(who, A, b.detach(), opts, x0)
    xd = x.detach()
    with torch.enable_grad():
        r = b - A._apply(xd)  # solve: F = b − A x, ∂x = A⁻¹ ∂F
        if kind == "solve":
            F = r
        else:  # least squares: F = Aᴴ(b − A x) − d² x, ∂x = (AᴴA + d²I)⁻¹ ∂F
            F = A._apply_adjoint(r)
            F = F - (opts.damp**2) * xd if opts.damp else F
    if not F.requires_grad:
        return x, info
    adj = replace(opts.adjoint(), on_failure="raise")

    def adjoint_solve(g):
        if kind == "solve":
            lam, inf = core(who, A.H, g, adj)  # λ = A⁻ᴴ g
        else:
            N = Spec("lstsq", who, A, lambda ws: A, opts).normal([]).A
            lam, inf = core(who, N, g, adj.plain())  # (AᴴA + d²I)⁻¹ g
        finish(lam, inf, "raise", who + " (backward)")
        return lam

    return xd + _Correction.apply(F, x.shape, adjoint_solve), info


def run_named(kind, who, A, b, opts, x0=None):
    """``(x, info)`` for named ``b`` ``(*batch, *A.osize)``; differentiable, never raises on failure."""
    b = promote_rhs(who, A, b)
    core = solve_core if kind == "solve" else lstsq_core
    if torch.is_grad_enabled() and is_opaque(A):  # closure tensors: differentiate through one apply
        return opaque_solve(kind, who, A, b, opts, x0, core)
    ws = A._flat_weights()
    grad = requires_grad(ws)
    if not (torch.is_grad_enabled() and (b.requires_grad or grad)):
        with torch.no_grad():  # never record the iterations (no unrolled graph)
            return core(who, A, b, opts, x0, ws)
    if grad:
        spec = Spec(kind, who, A, A._with_weights, opts, x0)
    else:
        ws = []
        spec = Spec(kind, who, A, lambda _: A, opts, x0)

    x = ImplicitSolve.apply(spec, b, *ws)
    return x, spec.info
