"""lazylinops: lazy, structured linear operators that are torch tensors.

Examples
--------
>>> import torch, lazylinops as ll
>>> A = ll.FFT((4, 4), "HW") @ ll.Diagonal(torch.rand(4, 4), "HW")
>>> A.shape, type(A.N).__name__
(torch.Size([16, 16]), 'Diagonal')
"""

from . import testing, tiling
from .core.base import LinearOperator
from .core.basic import Identity, Reshape, Scalar, Zero
from .core.combinators import Adjoint, Chain, Conj, RealPart, Sum
from .core.dispatch import get_densify, get_names, set_densify, set_names
from .dims import Dim
from .errors import (
    ConvergenceError,
    DensifyError,
    DensifyWarning,
    DeviceError,
    DistributedError,
    Diverged,
    DtypeError,
    ImmutableError,
    LazyLinopsError,
    NameWarning,
    NotConverged,
    ShapeError,
    SingularError,
)
from .interop import aslinearoperator
from .operators.conv import Convolve
from .operators.dense import Dense
from .operators.derivative import FirstDerivative, Gradient, Laplacian, SecondDerivative
from .operators.device import ToDevice
from .operators.diagonal import Diagonal
from .operators.fft import FFT
from .operators.function import FromFunction
from .operators.kron import Kronecker
from .operators.lowrank import LowRank, Woodbury
from .operators.nufft import NUFFT, Interpolate, ToeplitzNormal
from .operators.permutation import Permutation
from .operators.reduce import Broadcast, SumReduce
from .operators.select import Crop, Mask, Pad, Sample
from .operators.sparse import Sparse
from .operators.stack import Concat, Stack
from .show import show
from .solvers import (
    ConvergenceWarning,
    SolveInfo,
    Status,
    cgls,
    eigsh,
    fista,
    inv,
    lsqr,
    lstsq,
    power_method,
    regularized_lstsq,
    solve,
    split_bregman,
)
from .solvers.inverse import Inverse
from .tiling import BatchSpec, Tiled, distribute, materialize, split
from .tiling.distributed import Sharded, shard
from .torch_api import linalg as _linalg  # noqa: F401  registers torch.linalg rules (solve, inv, lstsq, norm)
from .torch_api import structure as _structure_functions  # noqa: F401  cat/kron/block_diag/A[i:j]/logdet
from .torch_api import tensor as _torch_functions  # noqa: F401  registers the core torch rules
from .torch_api.linalg import logdet, slogdet

__version__ = "0.1.0"

__all__ = [
    # core
    "LinearOperator",
    "Dim",
    "get_densify",
    "get_names",
    "set_densify",
    "set_names",
    "aslinearoperator",
    "show",
    "testing",
    "tiling",
    # errors
    "ConvergenceError",
    "ConvergenceWarning",
    "DensifyError",
    "DensifyWarning",
    "DeviceError",
    "DistributedError",
    "Diverged",
    "DtypeError",
    "ImmutableError",
    "LazyLinopsError",
    "NameWarning",
    "NotConverged",
    "ShapeError",
    "SingularError",
    # operators
    "Adjoint",
    "Broadcast",
    "Chain",
    "Concat",
    "Conj",
    "Convolve",
    "Crop",
    "Dense",
    "Diagonal",
    "FFT",
    "FirstDerivative",
    "FromFunction",
    "Gradient",
    "Identity",
    "Interpolate",
    "Inverse",
    "Kronecker",
    "Laplacian",
    "LowRank",
    "Mask",
    "NUFFT",
    "Pad",
    "Permutation",
    "RealPart",
    "Reshape",
    "Sample",
    "Scalar",
    "SecondDerivative",
    "Sparse",
    "Stack",
    "Sum",
    "SumReduce",
    "ToDevice",
    "ToeplitzNormal",
    "Woodbury",
    "Zero",
    # solving
    "SolveInfo",
    "Status",
    "cgls",
    "eigsh",
    "fista",
    "inv",
    "logdet",
    "lsqr",
    "lstsq",
    "power_method",
    "regularized_lstsq",
    "slogdet",
    "solve",
    "split_bregman",
    # tiling
    "BatchSpec",
    "Sharded",
    "Tiled",
    "distribute",
    "materialize",
    "shard",
    "split",
]
