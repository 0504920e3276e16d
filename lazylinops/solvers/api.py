"""``ll.solve``, ``ll.lstsq``, ``ll.inv`` with torch's right-hand-side semantics (DESIGN §5).

``b`` is ``(M,)`` (one vector) or ``(..., M, K)`` (columns), as in ``torch.linalg.solve``;
named right-hand sides go through ``ll.inv(A)(y)``.
"""

from dataclasses import replace

import torch

from ..core.base import LinearOperator
from ..errors import ShapeError
from .autograd import run_named
from .inverse import inv
from .methods import LSTSQ, SOLVE, advice, document, make_options
from .status import check_op, check_rhs, finish


def _to_named(who, b, size, what):
    """Torch layout ``(M,)`` / ``(..., M, K)`` → named ``(*lead, K, *size)`` and whether it was a vector."""
    n = int(torch.Size(size).numel())
    if b.dim() == 1:
        if b.shape[0] != n:
            raise ShapeError(
                f"{who}: {what} of shape {tuple(b.shape)} needs {n} entries (the operator's "
                f"{'rows' if what == 'b' else 'columns'}); pass ({n},) or (..., {n}, K)"
            )
        return (b if b.shape == size else b.reshape(size)), True
    if b.dim() == 0 or b.shape[-2] != n:
        raise ShapeError(
            f"{who}: {what} of shape {tuple(b.shape)} does not fit: expected ({n},) or (..., {n}, K) "
            "as in torch.linalg.solve; for named right-hand sides use ll.inv(A)(y)"
        )
    lead, K = b.shape[:-2], b.shape[-1]
    return b.mT.reshape(*lead, K, *size), False


def _from_named(x, size, vector):
    n = int(torch.Size(size).numel())
    if vector:
        return x if x.dim() == 1 else x.reshape(n)
    nb = x.dim() - len(size)
    return x.reshape(*x.shape[:nb], n).mT  # explicit n: empty right-hand sides reshape unambiguously


def _user_callback(callback, size, vector):
    """The caller's callback, seeing ``x`` in its own (torch) layout."""
    if callback is None or not callable(callback):
        return callback
    return lambda it, xn, res: callback(it, _from_named(xn, size, vector), res)


@document(SOLVE)
def solve(
    A,
    b,
    *,
    method="auto",
    rtol=None,
    atol=0.0,
    maxiter=None,
    x0=None,
    M=None,
    callback=None,
    return_info=False,
    restart=None,
    on_failure="raise",
    progress=False,
    show=False,
):
    """Solve ``A x = b`` for a square operator ``A``; ``b`` is ``(M,)`` or ``(..., M, K)``.

    Converged when ``‖b − A x‖ ≤ max(rtol·‖b‖, atol)`` for every right-hand side. Gradients
    flow to ``b`` and ``A``'s weights by one adjoint solve (implicit differentiation). Result
    dtype: as ``A @ b`` would promote.

    Parameters
    ----------
    A : LinearOperator
        A square operator.
    b : torch.Tensor or LinearOperator
        ``(M,)`` (one vector) or ``(..., M, K)`` (columns), as in ``torch.linalg.solve``; an
        operator gives the lazy ``ll.inv(A) @ b``.
    method : str
        One of:

        {methods}
    rtol, atol : float
        Tolerances; ``rtol=None`` is 1e-10 in double precision, 1e-5 in single.
    maxiter : int, optional
        Iteration budget (default: ten per unknown).
    x0 : torch.Tensor, optional
        Starting iterate, shaped like the solution.
    M : LinearOperator or "jacobi", optional
        A preconditioner approximating ``A⁻¹`` (``"jacobi"``: ``diag(A)⁻¹``), for the methods
        that take one.
    callback : callable, optional
        ``callback(iteration, x, residual_norm)`` after each iteration of an iterative method:
        ``iteration`` counts from 1 (on across restarts), ``x`` is a copy of the current iterate
        shaped like the solution, ``residual_norm`` the method's stopping quantity per right-hand
        side (``()`` for one vector, ``(..., K)`` for columns; a recurrence estimate of
        ``‖b − A x‖``, re-measured at the end). Not called by exact or direct solves.
    return_info : bool
        Also return the ``ll.SolveInfo`` record.
    restart : int, optional
        GMRES's Krylov dimension (full GMRES up to 100 unknowns, else what fits in 256 MiB).
    on_failure : {"raise", "warn", "ignore"}
        What non-convergence does: "raise" ``ll.NotConverged`` / ``ll.Diverged`` (carrying the last
        iterate ``.x`` and the record ``.info``), "warn" (``ll.ConvergenceWarning``, the last iterate
        returned) or "ignore" (returned; ``info.converged`` is False).
    progress : bool
        A ``tqdm.auto`` bar of the iterations with the relative residual, left visible when done
        (tqdm is in the ``plot`` extra; without it a ``RuntimeWarning`` and no bar).
    show : bool or int
        Print a log (PyLops style) to stdout: a header (method, operator, tolerances), the
        iteration and the largest relative residual ``‖b − A x‖ / ‖b‖`` on iterations 1–10, 20, 30 …
        100, 200 … (``True``) or every ``show``-th iteration (an int), and a footer (status,
        iterations, matvecs, the measured relative residual, time).

    Returns
    -------
    x : torch.Tensor
        Shaped like ``b`` (as ``A @ b`` would promote).
    info : SolveInfo
        Only when ``return_info``: the record (``x, info = ll.solve(..., return_info=True)``).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[4.0, 1.0], [1.0, 3.0]])).with_tags(hermitian=True, pd=True)
    >>> x, info = ll.solve(A, torch.tensor([1.0, 2.0]), method="cg", return_info=True)
    >>> x.shape, info.converged, info.iterations
    (torch.Size([2]), True, 2)
    >>> x = ll.solve(A, torch.tensor([1.0, 2.0]), method="cg", show=True)  # doctest: +ELLIPSIS
    ll.solve: method 'cg' on Dense (2, 2) float32, 1 right-hand side
    rtol = 1.0e-05   atol = 0.0e+00   maxiter = 20
    ------------------------------------------------------------------------
        Itn   rel. residual
          1      2.5000e-01
          2      ...
    ------------------------------------------------------------------------
    converged: 2 iterations, 3 matvecs, rel. residual ..., ... s

    Dense equivalent: ``torch.linalg.solve(A.to_dense(), b)``.
    """
    check_op("ll.solve", A)
    if isinstance(b, LinearOperator):
        if return_info:
            raise TypeError("ll.solve: return_info=True needs a tensor right-hand side, got an operator")
        kw = {"M": M, "restart": restart, "on_failure": on_failure, "callback": callback}
        kw.update(progress=progress, show=show)  # the lazy A⁻¹ B watches each solve it runs
        return inv(A, method=method, rtol=rtol, atol=atol, maxiter=maxiter, **kw) @ b
    check_rhs("ll.solve", b)
    opts = make_options(
        "ll.solve",
        method=method,
        rtol=rtol,
        atol=atol,
        maxiter=maxiter,
        M=M,
        callback=callback,
        restart=restart,
        on_failure=on_failure,
        progress=progress,
        show=show,
    )
    if A.shape[0] != A.shape[1]:
        raise ShapeError(f"ll.solve: A must be square, got {tuple(A.shape)}; for least squares use ll.lstsq")
    bn, vector = _to_named("ll.solve", b, A.osize, "b")
    if callback is not None:
        opts = replace(opts, callback=_user_callback(callback, A.isize, vector))
    x0n = None
    if x0 is not None:
        check_rhs("ll.solve (x0)", x0)
        x0n = _to_named("ll.solve", x0, A.isize, "x0")[0]
    xn, info = run_named("solve", "ll.solve", A, bn, opts, x0n)
    x = _from_named(xn, A.isize, vector)
    finish(x, info, on_failure, "ll.solve", advice(info.method))
    return (x, info) if return_info else x


@document(LSTSQ)
def lstsq(
    A,
    b,
    *,
    damp=0.0,
    method="auto",
    rtol=None,
    atol=0.0,
    maxiter=None,
    x0=None,
    callback=None,
    return_info=False,
    on_failure="raise",
    progress=False,
    show=False,
):
    """Minimise ``‖A x − b‖² + damp²‖x‖²`` for any operator ``A``; ``b`` is ``(M,)`` or ``(..., M, K)``.

    Stops when ``‖Aᴴ(b − A x) − damp² x‖ ≤ max(rtol·‖Aᴴ b‖, atol)`` per right-hand side; a
    rank-deficient ``A`` gives the minimum-norm solution. Gradients by implicit differentiation.

    Parameters
    ----------
    A : LinearOperator
        Any operator.
    b : torch.Tensor
        ``(M,)`` or ``(..., M, K)``, as in ``torch.linalg.lstsq``.
    damp : float
        Tikhonov damping (≥ 0).
    method : str
        One of:

        {methods}
    rtol, atol : float
        Tolerances on ``‖Aᴴ(b − A x) − damp² x‖`` relative to ``‖Aᴴ b‖``; ``rtol=None`` is 1e-10 in
        double precision, 1e-5 in single.
    maxiter : int, optional
        Iteration budget (default: ten per unknown).
    x0 : torch.Tensor, optional
        Starting iterate, ``(N,)`` or ``(..., N, K)``.
    callback : callable, optional
        ``callback(iteration, x, residual_norm)`` after each iteration (as for ``ll.solve``;
        ``residual_norm`` is the stopping quantity ``‖Aᴴ(b − A x) − damp² x‖`` or its estimate).
    return_info : bool
        Also return the ``ll.SolveInfo`` record.
    on_failure : {"raise", "warn", "ignore"}
        As for ``ll.solve``.
    progress : bool
        A ``tqdm.auto`` bar (as for ``ll.solve``).
    show : bool or int
        Print a log as ``ll.solve`` does; its residual is ``‖Aᴴ(b − A x) − damp² x‖ / ‖Aᴴ b‖`` and
        its objective column ``½‖A x − b‖² + ½damp²‖x‖²`` (one matvec per printed line).

    Returns
    -------
    x : torch.Tensor
        ``(N,)`` or ``(..., N, K)``.
    info : SolveInfo
        Only when ``return_info``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64))
    >>> x = ll.lstsq(A, torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    >>> torch.allclose(x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    True

    Dense equivalent: ``torch.linalg.lstsq(A.to_dense(), b)`` (``scipy.sparse.linalg.lsqr``).
    """
    check_op("ll.lstsq", A)
    check_rhs("ll.lstsq", b)
    opts = make_options(
        "ll.lstsq",
        method=method,
        rtol=rtol,
        atol=atol,
        maxiter=maxiter,
        callback=callback,
        on_failure=on_failure,
        progress=progress,
        damp=damp,
        show=show,
        kind=LSTSQ,
    )
    bn, vector = _to_named("ll.lstsq", b, A.osize, "b")
    if callback is not None:
        opts = replace(opts, callback=_user_callback(callback, A.isize, vector))
    x0n = None
    if x0 is not None:
        check_rhs("ll.lstsq (x0)", x0)
        x0n = _to_named("ll.lstsq", x0, A.isize, "x0")[0]
    xn, info = run_named("lstsq", "ll.lstsq", A, bn, opts, x0n)
    x = _from_named(xn, A.isize, vector)
    finish(x, info, on_failure, "ll.lstsq", advice(info.method))
    return (x, info) if return_info else x
