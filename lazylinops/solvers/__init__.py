"""Solvers (DESIGN §5): ``solve``/``inv``/``lstsq``, Krylov kernels, least squares, eigen, sparsity."""

from .api import inv, lstsq, solve
from .eig import eigsh, power_method
from .info import ConvergenceWarning, SolveInfo
from .regularized import cgls, lsqr, regularized_lstsq
from .sparsity import fista, split_bregman
from .status import Status

__all__ = [
    "ConvergenceWarning",
    "SolveInfo",
    "Status",
    "cgls",
    "eigsh",
    "fista",
    "inv",
    "lsqr",
    "lstsq",
    "power_method",
    "regularized_lstsq",
    "solve",
    "split_bregman",
]
