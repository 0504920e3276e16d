"""Why a solver stopped: ``Status``, an enumeration whose value is the sentence a user reads.

A solver's ``SolveInfo.status`` is one member; failures are classified by the member, never
by matching words in messages (model: lineax ``RESULTS``).
"""

import enum
import math
import numbers
from dataclasses import dataclass

import torch

from ..core.base import LinearOperator
from ..errors import Diverged, DtypeError, NotConverged, SingularError, warn


class Status(enum.Enum):
    """Why a solver stopped; ``status.value`` is its message."""

    converged = "converged: the true residual was measured under the tolerance"
    exact = "exact: solved by an exact (structural or direct) inverse; no tolerance applies"
    max_iterations = (
        "reached the iteration limit before the tolerance; raise maxiter, loosen rtol/atol or use a preconditioner M"
    )
    breakdown = (
        "breakdown: the iteration could not make progress (its recurrence stalled or disagrees with the true "
        "residual); the system may be singular or too ill-conditioned for this method — try method='gmres' or "
        "'dense', or ll.lstsq for a least-squares solution"
    )
    diverged = "diverged: the residual became NaN/Inf or grew without bound"
    nonfinite_input = "non-finite input: the right-hand side, the start x0 or the operator's weights hold NaN or Inf"
    singular = "singular: the operator has a structural zero pivot (no unique solution); use ll.lstsq"

    @property
    def failed(self):
        """True for every member but ``converged`` and ``exact``."""
        return self not in (Status.converged, Status.exact)

    def __repr__(self):
        return f"Status.{self.name}"


ON_FAILURE = ("raise", "warn", "ignore")


class ConvergenceWarning(RuntimeWarning):
    """A solver stopped before its tolerance and ``on_failure="warn"`` was asked for."""


@dataclass(frozen=True, eq=False)
class SolveInfo:
    """What a solver did: a frozen record (solvers build it; users read it).

    Parameters
    ----------
    method : str
        The solver that ran ("structural", "dense", "cg", "minres", "gmres", "bicgstab", "cgls",
        "lsqr", "power", "lanczos", "fista", "split_bregman").
    converged : bool
        Every right-hand side met its tolerance.
    iterations : int
        Iterations run (the most any right-hand side needed).
    residual_norm : torch.Tensor
        The stopping quantity per right-hand side (below).
    matvecs : int
        Applications of the operator and of its adjoint.
    message : str
        A sentence saying why it stopped.
    status : Status
        Why it stopped, as an ``ll.Status``.

    Notes
    -----
    - ``residual_norm``: the stopping quantity per right-hand side, a tensor shaped like the
      right-hand sides' batch (0-d for one vector): ``‖b − A x‖`` for ``solve``,
      ``‖Aᴴ(b − A x) − damp² x‖`` for ``lstsq``.
      Only measured values: a Krylov solve ends by measuring the true residual; a purely
      structural solve (Diagonal, FFT, Permutation, Kronecker of those …) is exact to rounding,
      does not measure it and holds NaN ("not measured"); a direct factorisation (Dense by
      LU/Cholesky, Woodbury's capacitance, method="dense") measures it (one matvec). A direct
      answer that leaves ``‖b − A x‖`` above ``max(rtol·‖b‖, atol)`` because ``A`` is numerically
      singular raises ``ll.SingularError`` (carrying ``.x`` and ``.info``); one that is only
      ill-conditioned (a float32 LU often is) stays ``exact`` with the residual and a lower bound
      of the condition number in ``message``.
    - ``matvecs``: applications of the operator (and of its adjoint) the solver made,
      the final true-residual check included.
    - ``message``: a sentence saying why it stopped.
    - ``status``: an ``ll.Status`` (converged, exact, max_iterations, breakdown, diverged,
      nonfinite_input, singular) whose value is the generic sentence; failures are
      classified by it.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> x, info = ll.solve(ll.Diagonal(torch.tensor([2.0, 4.0])), torch.ones(2), return_info=True)
    >>> info.method, info.converged, info.matvecs, info.status
    ('structural', True, 0, Status.exact)
    """

    method: str
    converged: bool
    iterations: int
    residual_norm: torch.Tensor
    matvecs: int
    message: str
    status: Status

    def __repr__(self):
        r = self.residual_norm
        res = f"{r.max().item():.3g}" if isinstance(r, torch.Tensor) and r.numel() else "n/a"
        return (
            f"SolveInfo(method={self.method!r}, converged={self.converged}, iterations={self.iterations}, "
            f"residual_norm(max)={res}, matvecs={self.matvecs}, status={self.status!r}, message={self.message!r})"
        )


def default_rtol(dtype):
    """1e-10 in double precision (float64/complex128), 1e-5 otherwise."""
    return 1e-10 if dtype in (torch.float64, torch.complex128) else 1e-5


def check_tolerances(who, rtol, atol, dtype):
    """Validated ``(rtol, atol)``; ``rtol=None`` takes the dtype's default."""
    rtol = default_rtol(dtype) if rtol is None else rtol
    for name, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0 or math.isinf(v):
            raise ValueError(f"{who}: {name} must be a finite real number ≥ 0, got {v!r}")
    return float(rtol), float(atol)


def check_maxiter(who, maxiter, default):
    if maxiter is None:
        return default
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or maxiter < 0:
        raise ValueError(f"{who}: maxiter must be an int ≥ 0 (or None for the default {default}), got {maxiter!r}")
    return int(maxiter)


def check_choice(who, name, value, choices):
    if value not in choices:
        raise ValueError(f"{who}: {name} must be one of {choices}, got {value!r}")
    return value


def check_callback(who, callback):
    if callback is not None and not callable(callback):
        raise TypeError(f"{who}: callback must be callable as callback(iteration, x, residual_norm), got {callback!r}")
    return callback


def check_rhs(who, b):
    """A floating/complex tensor (never an integer or bool one)."""
    if not isinstance(b, torch.Tensor):
        raise TypeError(
            f"{who}: the right-hand side must be a torch.Tensor, got {type(b).__name__}; "
            "convert with torch.as_tensor(b)"
        )
    if not (b.dtype.is_floating_point or b.dtype.is_complex):
        raise DtypeError(
            f"{who}: right-hand side has dtype {b.dtype}; solvers work in floating or complex dtypes and never "
            "cast integers or bools silently — convert first, e.g. b.float() or b.to(torch.complex64)"
        )
    return b


ADVICE = "raise maxiter or loosen rtol/atol"


def finish(x, info, on_failure, who, advice=ADVICE):
    """Raise by ``info.status`` (or warn) when the solve failed: ``Diverged`` for diverged or breakdown,
    ``SingularError`` for singular, ``NotConverged`` otherwise. ``advice``: how to converge (the call's
    options), said in the message."""
    if info.converged or on_failure == "ignore":
        return
    if info.status is Status.singular:
        raise SingularError(f"{who} ({info.method}): {info.message}")
    diverged = info.status in (Status.diverged, Status.breakdown)
    res = info.residual_norm
    worst = res.max().item() if isinstance(res, torch.Tensor) and res.numel() else float("nan")
    head = (
        f"{who} ({info.method}) did not converge: {info.message} after {info.iterations} iterations "
        f"({info.matvecs} matvecs), largest stopping residual {worst:.3g}"
    )
    if on_failure == "warn":
        warn(
            f"{head}; the last iterate is returned (info.converged is False). To converge: {advice}; "
            "on_failure='ignore' silences this warning",
            ConvergenceWarning,
        )
        return
    msg = (
        f"{head}. To converge: {advice}; to get the last iterate returned instead, pass on_failure='warn' "
        "(or 'ignore'); it is also in this exception's .x, the record in .info"
    )
    raise (Diverged if diverged else NotConverged)(msg, x=x, info=info)


_UNNAMED = "_lazylinops_unnamed"  # set on an error raised below a call's boundary, cleared by ``named``
_NOTED = "_lazylinops_noted"


def unnamed(exc):
    """``exc``, raised below a call's boundary: ``named`` puts the call's name in front of its message.

    The solver internals say what went wrong and with what; only the boundary (``solve_core``,
    ``lstsq_core``, ``verify_weights`` …) knows the user's call, so ``who`` is not threaded down.
    """
    setattr(exc, _UNNAMED, True)
    return exc


def named(exc, who, context=None):
    """At a call's boundary (in an ``except`` clause that re-raises): ``"{who}: "`` in front of an
    ``unnamed`` error's message, once (the innermost boundary); ``context()`` (the call and its shapes)
    added as a note, once per error, to every error passing the boundary."""
    if getattr(exc, _UNNAMED, False):
        setattr(exc, _UNNAMED, False)
        exc.args = (f"{who}: {exc.args[0]}", *exc.args[1:]) if exc.args else (f"{who}",)
    if context is not None and not getattr(exc, _NOTED, False):
        setattr(exc, _NOTED, True)
        exc.add_note(context())


def check_op(who, A):
    if not isinstance(A, LinearOperator):
        raise TypeError(
            f"{who}: A must be a lazylinops operator, got {type(A).__name__}; for a dense matrix use "
            "torch.linalg directly or wrap it with ll.Dense(A)"
        )
