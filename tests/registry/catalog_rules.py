"""Registry entries that exercise the structural rules' edge cases: renamed square operators
(input names ≠ output names), one-sided and negative Pad/Crop windows, and chains whose
factors do not cancel (``Pad(w) @ Crop(w)`` zeroes the border) or start with a Permutation."""

import torch

import lazylinops as ll
from lazylinops.dtypes import complex_dtype

from . import Entry, randn


def _perm(n, seed):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def _renamed(op):
    return op.rename(
        ishape=tuple(f"A{k}" for k in range(len(op.ishape))), oshape=tuple(f"B{k}" for k in range(len(op.oshape)))
    )


ENTRIES = [
    Entry("Pad-one-sided-negative", lambda dt: ll.Pad((4,), {"d0": (1, -1)}, dtype=dt)),
    Entry("Crop-one-sided", lambda dt: ll.Crop((5,), {"d0": (0, 2)}, dtype=dt), tags=("wide",)),
    Entry("Pad-mixed-2d", lambda dt: ll.Pad((3, 4), {"H": (2, -1), "W": (-1, 0)}, "HW", dtype=dt)),
    Entry(
        "Pad-after-Crop", lambda dt: ll.Pad((3,), {"d0": (1, 1)}, dtype=dt) @ ll.Crop((5,), {"d0": (1, 1)}, dtype=dt)
    ),
    Entry(
        "Crop-FFT",
        lambda dt: (
            ll.Crop((6,), {"N": (1, 2)}, "N", dtype=complex_dtype(dt)) @ ll.FFT((6,), "N", dtype=complex_dtype(dt))
        ),
        tags=("wide", "complex-only"),
    ),
    Entry("Identity-renamed", lambda dt: _renamed(ll.Identity((2, 3), "HW", dtype=dt)), invertible=True),
    Entry(
        "Scalar-renamed", lambda dt: _renamed(ll.Scalar(randn((), dtype=dt, seed=60) + 2, (4,), "N")), invertible=True
    ),
    Entry("Diagonal-renamed", lambda dt: _renamed(ll.Diagonal(randn(5, dtype=dt, seed=61) + 3, "N")), invertible=True),
    Entry("Mask-renamed", lambda dt: _renamed(ll.Mask(torch.tensor([True, False, True, True]), "N", dtype=dt))),
    Entry(
        "Convolve-renamed",
        lambda dt: _renamed(ll.Convolve(randn(3, dtype=dt, seed=62), (6,), "N", offset=1)),
    ),
    Entry("Permutation-renamed", lambda dt: _renamed(ll.Permutation(_perm(5, 63), "N", dtype=dt)), invertible=True),
    Entry(
        "Chain-perm-dense",
        lambda dt: (
            ll.Permutation(_perm(4, 64), "N", dtype=dt)
            @ ll.Dense(randn(4, 3, dtype=dt, seed=65), ishape="M", oshape="N")
        ),
        tags=("tall",),
    ),
    Entry(
        "Sum-renamed-diag-dense",
        lambda dt: (
            _renamed(ll.Diagonal(randn(4, dtype=dt, seed=66) + 3, "N"))
            + ll.Dense(randn(4, 4, dtype=dt, seed=67), ishape="A0", oshape="B0")
        ),
    ),
]
