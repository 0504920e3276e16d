"""lazylinops: lazy, structured linear operators that are torch tensors.

>>> import torch, lazylinops as ll
>>> A = ll.FFT((4, 4), "HW") @ ll.Diagonal(torch.rand(4, 4), "HW")
>>> A.shape, type(A.N).__name__
(torch.Size([16, 16]), 'Diagonal')
"""

from . import testing, tiling
from .base import LinearOperator
from .dims import Dim
from .dispatch import get_densify, set_densify
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
    NotConverged,
    ShapeError,
    SingularError,
)
from .operators.basic import Identity, Scalar, Zero
from .operators.compose import Adjoint, Chain, Conj, RealPart, Sum
from .operators.conv import Convolve
from .operators.dense import Dense
from .operators.derivative import FirstDerivative, Gradient, Laplacian, SecondDerivative
from .operators.device import ToDevice
from .operators.diagonal import Diagonal
from .operators.fft import FFT
from .operators.function import FromFunction
from .operators.inverse import Inverse
from .operators.kron import Kronecker
from .operators.lowrank import LowRank, Woodbury
from .operators.nufft import NUFFT, Interpolate, ToeplitzNormal
from .operators.permutation import Permutation
from .operators.reduce import Broadcast, SumReduce
from .operators.reshape import Reshape
from .operators.select import Crop, Mask, Pad, Sample
from .operators.sparse import Sparse
from .operators.stack import Concat, Stack
from .rules import linalg as _linalg  # noqa: F401  registers torch.linalg rules (solve, inv, lstsq, norm)
from .rules import structure_functions as _structure_functions  # noqa: F401  cat/kron/block_diag/A[i:j]/logdet
from .rules import torch_functions as _torch_functions  # noqa: F401  registers the core torch rules
from .rules.woodbury import logdet, slogdet
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
from .tiling import BatchSpec, Tiled, distribute, materialize, split
from .tiling.distributed import Sharded, shard

__version__ = "0.1.0"

__all__ = [
    # core
    "LinearOperator",
    "Dim",
    "get_densify",
    "set_densify",
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
