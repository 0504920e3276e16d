"""Why a solver stopped: ``Status``, an enumeration whose value is the sentence a user reads.

A solver's ``SolveInfo.status`` is one member; failures are classified by the member, never
by matching words in messages (model: lineax ``RESULTS``).
"""

import enum


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
