"""Solvers (DESIGN §5): ``solve``/``inv``/``lstsq``, Krylov kernels, least squares, eigen, sparsity."""

from .api import lstsq, solve
from .inverse import inv
from .kernels.eig import eigsh, power_method
from .kernels.regularized import cgls, lsqr, regularized_lstsq
from .kernels.sparsity import fista, split_bregman
from .status import ConvergenceWarning, SolveInfo, Status

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
