"""Registry entries for lazy inverses (applying them solves)."""

import torch

import lazylinops as ll
from lazylinops.dtypes import real_dtype

from . import Entry, randn
from .core import WeightedCumsum


def _tight(dtype):
    """A solve tolerance tight enough for gradcheck's finite differences (eps 1e-6) in double."""
    return 1e-14 if dtype in (torch.float64, torch.complex128) else None


ENTRIES = [
    Entry(
        "Inverse-dense-LU",
        lambda dt: ll.inv(ll.Dense(randn(4, 4, dtype=dt, seed=60) + 3 * torch.eye(4, dtype=dt))),
        invertible=True,
    ),
    Entry(
        "Inverse-of-chain",
        lambda dt: ll.inv(
            ll.Diagonal(randn(4, dtype=dt, seed=61) + 3, "N")
            @ ll.Dense(randn(4, 4, dtype=dt, seed=62) + 3 * torch.eye(4, dtype=dt), ishape="N", oshape="N")
        ),
        invertible=True,
    ),
    # the normal's weights stay the operator's own (no precomputed Gram), so perturbing them in
    # gradcheck keeps the system Hermitian, as CG requires
    Entry(
        "Inverse-cg-normal",
        lambda dt: ll.inv(
            WeightedCumsum(randn(5, dtype=dt, seed=63) + 2).N
            + ll.Scalar(torch.tensor(1.0, dtype=real_dtype(dt)), (5,)),
            method="cg",
            rtol=_tight(dt),
        ),
        invertible=True,
        tags=("iterative",),
        hermitian=True,
        pd=True,
        rtol=10.0,
    ),
    Entry(
        "Inverse-gmres-custom",
        lambda dt: ll.inv(WeightedCumsum(randn(5, dtype=dt, seed=64) + 3), method="gmres", rtol=_tight(dt)),
        invertible=True,
        rtol=10.0,
        tags=("iterative",),
    ),
]
