"""Operators seen by the solver kernels: flat batches ``(B, n) → (B, m)`` with a matvec counter.

The kernels work on ``B`` right-hand sides at once, each a flat vector; per-RHS scalars are
``(B,)`` tensors, so a loop iteration never syncs with the device except for its one
convergence check.
"""

from collections import namedtuple

import torch

# what a kernel returns: the iterate, iterations run, the stopping quantity per RHS,
# whether each RHS met it (bool tensor), why it stopped (a sentence) and the ``Status``;
# the kernel's residual may be a recurrence estimate: ``core`` re-measures the true one
Run = namedtuple("Run", "x iterations residual converged message status")


class Flat:
    """``A`` on flat batches in the solve dtype, counting applications in ``count``."""

    def __init__(self, A, dtype=None):
        self.A = A
        self.dtype = dtype
        self.isize, self.osize = tuple(A.isize), tuple(A.osize)
        self.m, self.n = A.shape
        self.count = 0

    def mv(self, x):
        # A x, one matvec
        self.count += 1
        y = self.A._apply(x.reshape(x.shape[0], *self.isize)).reshape(x.shape[0], self.m)
        return y if self.dtype is None or y.dtype == self.dtype else y.to(self.dtype)

    def rmv(self, y):
        # Aᴴ y, one (adjoint) matvec
        self.count += 1
        x = self.A._apply_adjoint(y.reshape(y.shape[0], *self.osize)).reshape(y.shape[0], self.n)
        return x if self.dtype is None or x.dtype == self.dtype else x.to(self.dtype)


def dot(x, y):
    """Per-row inner products ``⟨x, y⟩ = Σ conj(x) y`` of ``(B, n)`` batches → ``(B,)``.

    A few rows go through BLAS ``vdot`` (about 8× faster than ``vecdot`` on CPU), many rows
    through one batched ``vecdot``.
    """
    B = x.shape[0]
    if B == 1:
        return torch.vdot(x[0], y[0]).reshape(1)
    if B <= 8:
        return torch.stack([torch.vdot(x[i], y[i]) for i in range(B)])
    return torch.linalg.vecdot(x, y, dim=-1)


def norm(x):
    """Per-row 2-norms of a ``(B, n)`` batch (through ``dot`` when complex: ``vector_norm`` is slow there)."""
    if x.is_complex() and x.shape[0] <= 8:
        return dot(x, x).real.clamp_min(0).sqrt()
    return torch.linalg.vector_norm(x, dim=-1)


def safe(d):
    """A denominator with exact zeros replaced by one (the masked branch is discarded)."""
    return torch.where(d == 0, torch.ones_like(d), d)


def col(s):
    """A ``(B,)`` scalar as a ``(B, 1)`` column for broadcasting against ``(B, n)``."""
    return s.unsqueeze(-1)


def worst(residual, tol, met=None):
    """The largest residual still above its tolerance (0 when all met; NaN propagates): one sync.

    ``met``: ``residual <= tol`` when the caller has it already.
    """
    return residual.masked_fill(residual <= tol if met is None else met, 0).max().item()
