"""lazylinops: lazy, structured linear operators that are torch tensors.

>>> import torch, lazylinops as ll
>>> A = ll.FFT((4, 4), "HW") @ ll.Diagonal(torch.rand(4, 4), "HW")
>>> A.shape, type(A.N).__name__
(torch.Size([16, 16]), 'Diagonal')
"""

from . import testing
from .base import LinearOperator
from .dims import Dim
from .dispatch import get_densify, set_densify
from .errors import (
    ConvergenceError,
    DensifyError,
    DensifyWarning,
    DeviceError,
    Diverged,
    DtypeError,
    ImmutableError,
    NotConverged,
    ShapeError,
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
from .operators.nufft import NUFFT, Interpolate, ToeplitzNormal
from .operators.reshape import Reshape
from .rules import linalg as _linalg  # registers the torch.linalg rules (solve, inv, lstsq, norm)
from .rules import torch_functions as _torch_functions  # registers the torch rules
from .solvers import (
    ConvergenceWarning,
    SolveInfo,
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

__all__ = ["ConvergenceWarning", "Inverse", "SolveInfo", "cgls", "eigsh", "fista", "inv", "lsqr", "lstsq",
           "power_method", "regularized_lstsq", "solve", "split_bregman"]  # solvers; extended below
from . import tiling
from .tiling import BatchSpec, Tiled, distribute, materialize, split
from .tiling.distributed import Sharded, shard

__all__ = __all__ + ["BatchSpec", "Sharded", "Tiled", "distribute", "materialize", "shard", "split", "tiling"]

__version__ = "0.1.0"

__all__ = __all__ + [
    "Adjoint", "Chain", "Conj", "ConvergenceError", "Dense", "DensifyError", "DensifyWarning", "DeviceError",
    "Diagonal", "Dim", "Diverged", "DtypeError", "FFT", "Identity", "ImmutableError", "LinearOperator",
    "NotConverged", "RealPart", "Reshape", "Scalar", "ShapeError", "Sum", "Zero", "get_densify", "set_densify",
    "testing",
    "Convolve", "FirstDerivative", "FromFunction", "Gradient", "Interpolate", "Laplacian", "NUFFT",
    "SecondDerivative", "ToDevice", "ToeplitzNormal",
]

from .operators.kron import Kronecker  # noqa: E402  structured catalog (Concat … Sparse)
from .operators.lowrank import LowRank, Woodbury  # noqa: E402
from .operators.permutation import Permutation  # noqa: E402
from .operators.reduce import Broadcast, SumReduce  # noqa: E402
from .operators.select import Crop, Mask, Pad, Sample  # noqa: E402
from .operators.sparse import Sparse  # noqa: E402
from .operators.stack import Concat, Stack  # noqa: E402
from .rules import structure_functions as _structure_functions  # noqa: E402  cat/kron/block_diag/A[i:j]/logdet
from .rules.woodbury import logdet, slogdet  # noqa: E402

__all__ += ["Broadcast", "Concat", "Crop", "Kronecker", "LowRank", "Mask", "Pad", "Permutation", "Sample", "Sparse",
            "Stack", "SumReduce", "Woodbury", "logdet", "slogdet"]
