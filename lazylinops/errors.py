"""Error and warning types of lazylinops (DESIGN §7).

Every error message says what went wrong, what was received and how to fix it.
"""

import os
import sys
import warnings

import torch

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def warn(message, category):
    """``warnings.warn`` attributed to the user's line: the first frame outside lazylinops and torch.

    A fixed ``stacklevel`` points into the package (or into torch's ``overrides.py``) whenever
    the call path differs (``A @ x`` vs ``torch.matmul(A, x)`` vs a torch distribution); this
    walks the stack instead, so ``-W error`` tracebacks and warning filters name the user's code.
    """
    frame, level = sys._getframe(1), 2  # stacklevel 2 is warn()'s caller
    while frame is not None and frame.f_code.co_filename.startswith((_PACKAGE_DIR, _TORCH_DIR)):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level if frame is not None else 2)


class LazyLinopsError(Exception):
    """Root of every lazylinops error: ``except ll.LazyLinopsError`` catches them all.

    Each concrete error also derives from the builtin a user would catch (``ShapeError`` is a
    ``ValueError``, ``SingularError`` a ``torch.linalg.LinAlgError`` …).
    """


class ShapeError(LazyLinopsError, ValueError, RuntimeError):
    """Named shapes or sizes that do not fit together (names both shapes).

    A ``ValueError`` (DESIGN §7) and also a ``RuntimeError``, which is what dense torch raises
    for the same mismatch, so code written against dense tensors catches it too.
    """


class DtypeError(LazyLinopsError, TypeError):
    """An input or weight dtype an operator cannot work in (integer, bool, ...)."""


class DeviceError(LazyLinopsError, ValueError):
    """An unknown device string, or operator and input on different devices."""


class DensifyWarning(UserWarning):
    """A torch function had no structured rule and built the dense matrix."""


class NameWarning(UserWarning):
    """``A @ B`` or ``A + B`` matched differently named dims of equal sizes by position.

    Dim names are metadata: composing ``A @ B`` where ``A``'s input is ``⟨H W⟩`` and ``B``'s output
    ``⟨Kx Ky⟩`` (same sizes) pairs ``H`` with ``Kx`` and ``W`` with ``Ky``, which is usually a
    forgotten ``.H``. Only names the user gave count (positional defaults such as ``d0``, ``i0``,
    ``o0`` never warn). ``ll.set_names("strict")`` raises ``ShapeError`` instead, ``"allow"`` is silent.
    """


class DensifyError(LazyLinopsError, RuntimeError):
    """Densifying was refused: mode "error", or the dense matrix is over the limit."""


class ImmutableError(LazyLinopsError, RuntimeError):
    """An in-place operation or ``out=`` on an operator (operators are immutable)."""


class ConvergenceError(LazyLinopsError, RuntimeError):
    """An iterative solver did not reach its tolerance; carries ``.x`` and ``.info``."""

    def __init__(self, message, x=None, info=None):
        super().__init__(message)
        self.x = x
        self.info = info


class NotConverged(ConvergenceError):
    """The iteration limit was reached before ``‖r‖ ≤ max(rtol·‖b‖, atol)``."""


class Diverged(ConvergenceError):
    """The iteration broke down: NaN/Inf, or a residual that grew without bound."""


class SingularError(LazyLinopsError, torch.linalg.LinAlgError):
    """A structurally singular system (zero pivot, ``Zero``, a mask with zeros, singular LU).

    A ``torch.linalg.LinAlgError``, as dense ``torch.linalg.solve`` raises, so code that
    catches torch's error catches this one.
    """


class DistributedError(LazyLinopsError, RuntimeError):
    """A sharded apply that cannot proceed on every rank: another rank failed, the ranks disagree
    on the input's dtype or batch shape, or a collective did not complete within its timeout.

    ``.ranks`` lists the ranks at fault (empty when unknown, e.g. after a timeout).
    """

    def __init__(self, message, ranks=()):
        super().__init__(message)
        self.ranks = tuple(ranks)
