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
from .operators.dense import Dense
from .operators.diagonal import Diagonal
from .operators.fft import FFT
from .operators.reshape import Reshape
from .operators.conv import Convolve
from .operators.derivative import FirstDerivative, Gradient, Laplacian, SecondDerivative
from .operators.device import ToDevice
from .operators.function import FromFunction
from .operators.nufft import NUFFT, Interpolate, ToeplitzNormal
from .rules import torch_functions as _torch_functions  # registers the torch rules
from . import tiling
from .tiling import BatchSpec, Tiled, distribute, materialize, split
from .tiling.distributed import Sharded, shard

__all__ = ["BatchSpec", "Sharded", "Tiled", "distribute", "materialize", "shard", "split", "tiling"]  # extended below

__version__ = "0.1.0"

__all__ = __all__ + [
    "Adjoint", "Chain", "Conj", "ConvergenceError", "Dense", "DensifyError", "DensifyWarning", "DeviceError",
    "Diagonal", "Dim", "Diverged", "DtypeError", "FFT", "Identity", "ImmutableError", "LinearOperator",
    "NotConverged", "RealPart", "Reshape", "Scalar", "ShapeError", "Sum", "Zero", "get_densify", "set_densify",
    "testing",
    "Convolve", "FirstDerivative", "FromFunction", "Gradient", "Interpolate", "Laplacian", "NUFFT",
    "SecondDerivative", "ToDevice", "ToeplitzNormal",
]
