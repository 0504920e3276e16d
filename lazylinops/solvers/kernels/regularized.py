"""Inverse-problem least squares on named data: ``ll.cgls``, ``ll.lsqr``, ``ll.regularized_lstsq``.

Right-hand sides are named like ``A(x)``'s output: ``b`` of shape ``(*batch, *A.osize)``
gives ``x`` of shape ``(*batch, *A.isize)`` (``ll.lstsq`` takes torch's matrix layout).
"""

import numbers

import torch

from ...core.base import LinearOperator
from ...core.basic import Identity
from ...dtypes import promote
from ...errors import ShapeError
from ..api import run_named
from ..engine import check_finite, lstsq_core, normal_residual
from ..methods import LSTSQ, advice, make_options
from ..monitor import Monitor, check_progress, check_show, describe, rhs_count
from ..status import SolveInfo, Status, check_callback, check_maxiter, check_rhs, check_tolerances, finish
from . import lsq
from .flat import Flat, norm


def named_rhs(who, A, b):
    if not isinstance(A, LinearOperator):
        raise TypeError(f"{who}: A must be an operator, got {type(A).__name__}")
    check_rhs(who, b)
    n = len(A.osize)
    if tuple(b.shape[b.dim() - n :]) != tuple(A.osize) or b.dim() < n:
        raise ShapeError(
            f"{who}: b must have shape (*batch, {', '.join(map(str, A.osize))}) (A's named output "
            f"{A.oshape}), got {tuple(b.shape)}; for torch's (M, K) layout use ll.lstsq"
        )
    return b.to(promote(A.dtype, b.dtype))


def _lstsq(who, method, A, b, damp, rtol, atol, maxiter, x0, callback, on_failure, progress, show):
    b = named_rhs(who, A, b)
    opts = make_options(
        who,
        method=method,
        rtol=rtol,
        atol=atol,
        maxiter=maxiter,
        callback=callback,
        on_failure=on_failure,
        damp=damp,
        progress=progress,
        show=show,
        kind=LSTSQ,
    )
    with torch.no_grad():
        x, info = lstsq_core(who, A, b, opts, None if x0 is None else x0.to(b.dtype))
    finish(x, info, on_failure, who, advice(method))
    return x, info


_COMMON = """damp : float
        Tikhonov damping (≥ 0).
    rtol, atol : float
        Tolerances: stop when ``‖Aᴴ(b − A x) − damp² x‖ ≤ max(rtol·‖Aᴴ b‖, atol)``; ``rtol=None`` is
        1e-10 in double precision, 1e-5 in single.
    maxiter : int, optional
        Iteration budget (default: ten per unknown); running out raises (``on_failure``).
    x0 : torch.Tensor, optional
        Starting iterate, shaped ``(*batch, *A.isize)`` (or broadcasting to it).
    callback : callable, optional
        ``callback(iteration, x, residual_norm)`` after each iteration: ``iteration`` from 1, ``x``
        a copy of the iterate ``(*batch, *A.isize)``, ``residual_norm`` the stopping quantity
        (or its estimate) per right-hand side, shaped ``batch``.
    on_failure : {"raise", "warn", "ignore"}
        Non-convergence raises ``ll.NotConverged`` (with ``.x`` and ``.info``), warns
        (``ll.ConvergenceWarning``) and returns the last iterate, or returns it silently.
    progress : bool
        A ``tqdm.auto`` bar (iteration, relative residual), left visible when done.
    show : bool or int
        Print a PyLops-style log: header, the iteration, ``‖Aᴴ(b − A x) − damp² x‖ / ‖Aᴴ b‖`` and the
        objective ``½‖A x − b‖² + ½damp²‖x‖²`` on iterations 1–10, 20, 30 … (True) or every
        ``show``-th one (an int), and a footer (status, iterations, matvecs, time).

    Returns
    -------
    x : torch.Tensor
        ``(*batch, *A.isize)``.
    info : SolveInfo
        The record (``converged``, ``iterations``, measured ``residual_norm``, ``matvecs`` …)."""


def _doc(fn):
    fn.__doc__ = fn.__doc__.replace("{common}", _COMMON)
    return fn


@_doc
def cgls(
    A,
    b,
    *,
    damp=0.0,
    rtol=None,
    atol=0.0,
    maxiter=None,
    x0=None,
    callback=None,
    on_failure="raise",
    progress=False,
    show=False,
):
    """CGLS for ``min ‖A x − b‖² + damp²‖x‖²``: ``(x, info)`` with ``b`` named ``(*batch, *A.osize)``.

    CG on the normal equations in residual form; stops when
    ``‖Aᴴ(b − A x) − damp² x‖ ≤ max(rtol·‖Aᴴ b‖, atol)``; two matvecs per iteration.

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        Named like ``A``'s output: ``(*batch, *A.osize)``.
    {common}

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64))
    >>> x, info = ll.cgls(A, torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    >>> [round(v, 8) for v in x.tolist()], info.iterations
    ([1.0, 1.0], 2)

    Dense equivalent: ``torch.linalg.lstsq(A.to_dense(), b)``.
    """
    return _lstsq("ll.cgls", "cgls", A, b, damp, rtol, atol, maxiter, x0, callback, on_failure, progress, show)


@_doc
def lsqr(
    A,
    b,
    *,
    damp=0.0,
    rtol=None,
    atol=0.0,
    maxiter=None,
    x0=None,
    callback=None,
    on_failure="raise",
    progress=False,
    show=False,
):
    """LSQR (Paige–Saunders) for ``min ‖A x − b‖² + damp²‖x‖²``: ``(x, info)``, ``b`` named.

    Same iterates as CGLS in exact arithmetic, more stable on ill-conditioned problems;
    stops on LSQR's estimate of ``‖Aᴴ(b − A x) − damp² x‖ ≤ max(rtol·‖Aᴴ b‖, atol)``, then
    measures the true value.

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        Named like ``A``'s output: ``(*batch, *A.osize)``.
    {common}

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64))
    >>> x, info = ll.lsqr(A, torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    >>> [round(v, 8) for v in x.tolist()], info.method
    ([1.0, 1.0], 'lsqr')

    Dense equivalent: ``scipy.sparse.linalg.lsqr(A, b, damp=damp)``.
    """
    return _lstsq("ll.lsqr", "lsqr", A, b, damp, rtol, atol, maxiter, x0, callback, on_failure, progress, show)


@_doc
def regularized_lstsq(
    A,
    b,
    regs=(),
    eps=(),
    *,
    damp=0.0,
    method="auto",
    rtol=None,
    atol=0.0,
    maxiter=None,
    x0=None,
    callback=None,
    on_failure="raise",
    progress=False,
    show=False,
):
    """``min ‖A x − b‖² + Σᵢ epsᵢ‖Rᵢ x‖² + damp²‖x‖²``: ``(x, info)``, ``b`` named ``(*batch, *A.osize)``.

    ``method``: "auto"/"lsqr" or "cgls" on the stacked system ``[A; √epsᵢ Rᵢ] x ≈ [b; 0]``, or
    "cg" on the normal equations ``(AᴴA + Σ epsᵢ RᵢᴴRᵢ + damp² I) x = Aᴴ b`` (differentiable
    by implicit differentiation). Stops on the stacked normal residual relative to ‖Aᴴ b‖
    (for "cg": on ``‖Aᴴ b − N x‖`` relative to ``‖Aᴴ b‖``).

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        Named like ``A``'s output: ``(*batch, *A.osize)``.
    regs : sequence of LinearOperator
        Regularisers ``Rᵢ``, each with ``A``'s columns (input).
    eps : sequence of float
        Their weights ``epsᵢ ≥ 0`` (one per regulariser).
    method : {"auto", "lsqr", "cgls", "cg"}
        The iteration ("auto" is "lsqr").
    {common}

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Identity((4,), dtype=torch.float64)
    >>> R = ll.Identity((4,), dtype=torch.float64)
    >>> x, info = ll.regularized_lstsq(A, torch.ones(4, dtype=torch.float64), [R], [1.0])
    >>> [round(v, 8) for v in x.tolist()]
    [0.5, 0.5, 0.5, 0.5]

    Dense equivalent: ``torch.linalg.lstsq(torch.cat([A, √eps·R]), torch.cat([b, 0]))``.
    """
    who = "ll.regularized_lstsq"
    b = named_rhs(who, A, b)
    regs, eps = list(regs), list(eps)
    if len(regs) != len(eps):
        raise ValueError(f"{who}: regs and eps must have the same length, got {len(regs)} and {len(eps)}")
    for R, e in zip(regs, eps):
        if not isinstance(R, LinearOperator) or R.shape[1] != A.shape[1]:
            raise ShapeError(
                f"{who}: every regulariser must be an operator with {A.shape[1]} columns (A's input), "
                f"got {type(R).__name__} {tuple(getattr(R, 'shape', ()))}"
            )
        if isinstance(e, bool) or not isinstance(e, numbers.Real) or not e >= 0:
            raise ValueError(f"{who}: eps must be real numbers ≥ 0, got {e!r}")
    if method not in ("auto", "lsqr", "cgls", "cg"):
        raise ValueError(f"{who}: method must be one of ('auto', 'lsqr', 'cgls', 'cg'), got {method!r}")
    damp = lsq.check_damp(who, damp)
    if method == "cg":
        N = A.N
        for R, e in zip(regs, eps):
            if e:
                N = N + float(e) * R.rename(ishape=A.ishape).N if R.ishape != A.ishape else N + float(e) * R.N
        if damp:
            N = N + damp * damp * Identity(A.isize, A.ishape, dtype=A.dtype, device=A.device)
        N = N.with_tags(hermitian=True, psd=True)
        rhs = A.H(b)
        opts = make_options(
            who,
            method="cg",
            rtol=rtol,
            atol=atol,
            maxiter=maxiter,
            callback=callback,
            on_failure=on_failure,
            progress=progress,
            show=show,
        )
        x, info = run_named("solve", who, N, rhs, opts, x0)
        finish(x, info, on_failure, who, advice("cg"))
        return x, info
    dtype = b.dtype
    rtol, atol = check_tolerances(who, rtol, atol, dtype)
    maxiter = check_maxiter(who, maxiter, 10 * A.shape[1])
    check_callback(who, callback)
    check_progress(who, progress)
    show = check_show(who, show)
    with torch.no_grad():
        check_finite(who, A, b, x0)
        for R in regs:
            check_finite(who, R, b)
        P = Flat(A)
        flats = [P] + [Flat(R, dtype) for R, e in zip(regs, eps) if e]
        S = lsq.Stacked(flats, [1.0] + [float(e) ** 0.5 for e in eps if e])
        nb = b.dim() - len(A.osize)
        batch = b.shape[:nb]
        bf = b.reshape(-1, A.shape[0])
        bs = [bf] + [bf.new_zeros(bf.shape[0], R.shape[0]) for R, e in zip(regs, eps) if e]
        scale = norm(P.rmv(bf))  # ‖Aᴴ b‖
        tol = torch.clamp(rtol * scale, min=atol)
        n = A.shape[1]
        x_zero = x0 is None
        x = (
            torch.zeros(bf.shape[0], n, dtype=dtype, device=b.device)
            if x_zero
            else x0.to(dtype).expand(*batch, *A.isize).reshape(-1, n).clone()
        )
        m = "cgls" if method == "cgls" else "lsqr"
        mon = None
        if callback is not None or show or progress:
            cb = None
            if callback is not None:

                def cb(it, xf, res):
                    callback(it, xf.detach().clone().reshape(*batch, *A.isize), res.detach().reshape(batch))

            def objective(xf):  # ½‖S x − [b; 0]‖² + ½damp²‖x‖² (the stacked data and penalties)
                r = [bi - ai for bi, ai in zip(bs, S.mv(xf))]
                return 0.5 * float((lsq.bnorm(r) ** 2 + damp * damp * norm(xf) ** 2).sum())

            params = f"rtol = {rtol:.1e}   atol = {atol:.1e}   maxiter = {maxiter}   regularisers = {len(regs)}"
            mon = Monitor(
                who,
                callback=cb,
                show=show,
                progress=progress,
                total=maxiter,
                title=f"method {m!r} on {describe(A)}, {rhs_count(batch)}",
                params=params,
                column="rel. ‖Aᴴr‖",
                scale=scale,
                objective=("objective", objective),
            )
        try:
            if method == "cgls":
                run = lsq.cgls(S, bs, x, tol, maxiter, damp=damp, x_zero=x_zero, callback=mon)
            else:
                run = lsq.lsqr_shifted(S, bs, x, x_zero, tol, maxiter, damp, "normal", mon)
            res = normal_residual(S, bs, run.x, damp)  # the true stopping quantity, measured (2 matvecs)
        except BaseException:
            if mon is not None:
                mon.close(None)
            raise
        conv = bool((res <= tol).all())
        status = Status.converged if conv else (Status.breakdown if run.status is Status.converged else run.status)
        info = SolveInfo(m, conv, run.iterations, res.reshape(batch), S.count, run.message, status)
        if mon is not None:
            mon.close(info)
    x = run.x.reshape(*batch, *A.isize)
    finish(x, info, on_failure, who, advice(m))
    return x, info
