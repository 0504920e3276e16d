"""Registry entries for the foundation operators and composites."""

import torch

import lazylinops as ll
from lazylinops.dtypes import complex_dtype

from . import Entry, randn


class WeightedCumsum(ll.LinearOperator):
    """A user-style operator with only ``_apply``/``_apply_adjoint``: y = cumsum(w ⊙ x)."""

    def __init__(self, w):
        super().__init__(ishape="N", oshape="N", isize=w.shape, osize=w.shape, dtype=w.dtype, device=w.device)
        self.w = w

    def _apply(self, x):
        return torch.cumsum(x * self.w, dim=-1)

    def _apply_adjoint(self, y):
        return torch.flip(torch.cumsum(torch.flip(y, (-1,)), dim=-1), (-1,)) * self.w.conj()


def _pos(*size, dtype, seed=0):
    return (randn(*size, dtype=dtype, seed=seed).abs() + 0.5).to(dtype)


def _well_conditioned(n, dtype, seed=0):
    return randn(n, n, dtype=dtype, seed=seed) / n**0.5 + 2 * torch.eye(n, dtype=dtype)


def _fft(size, names, dtype, **kw):
    return ll.FFT(size, names, dtype=complex_dtype(dtype), **kw)


ENTRIES = [
    Entry(
        "Identity",
        lambda dt: ll.Identity((3, 4), "HW", dtype=dt),
        invertible=True,
        hermitian=True,
        pd=True,
        split_dims=("H", "W"),
    ),
    Entry("Zero", lambda dt: ll.Zero((4,), (3,), "N", "M", dtype=dt), split_dims=("N", "M"), tags=("wide",)),
    Entry("Scalar", lambda dt: ll.Scalar(randn((), dtype=dt, seed=3) + 2, (5,), "N"), invertible=True),
    Entry(
        "Diagonal",
        lambda dt: ll.Diagonal(randn(3, 4, dtype=dt, seed=1) + 3, "HW"),
        invertible=True,
        split_dims=("H", "W"),
    ),
    Entry(
        "Diagonal-broadcast",
        lambda dt: ll.Diagonal(_pos(4, dtype=dt, seed=2), "CN", size=(2, 4)),
        invertible=True,
        pd=True,
        hermitian=True,
        split_dims=("C", "N"),
    ),
    Entry("Dense", lambda dt: ll.Dense(_well_conditioned(5, dt, seed=4)), invertible=True),
    Entry("Dense-tall", lambda dt: ll.Dense(randn(6, 4, dtype=dt, seed=5)), tags=("tall",)),
    Entry(
        "Dense-einsum-coils",
        lambda dt: ll.Dense(randn(3, 4, 5, dtype=dt, seed=6), "CHW", "HW", "CHW"),
        split_dims=("H", "W"),
        tags=("tall",),
    ),
    Entry(
        "Dense-einsum-contract",
        lambda dt: ll.Dense(randn(2, 3, 4, dtype=dt, seed=7), "BQR", "BR", "BQ"),
        split_dims=("B",),
    ),
    Entry("Dense-named-matrix", lambda dt: ll.Dense(randn(2, 3, 4, dtype=dt, seed=8), ishape="R", oshape="PQ")),
    Entry("FFT-ortho", lambda dt: _fft((4, 6), "HW", dt), invertible=True, tags=("complex-only",)),
    Entry(
        "FFT-centered-1dim",
        lambda dt: _fft((3, 5), "CN", dt, dim="N", centered=True, oshape="CK"),
        invertible=True,
        split_dims=("C",),
        tags=("complex-only",),
    ),
    Entry("FFT-backward", lambda dt: _fft((6,), "N", dt, norm="backward"), invertible=True),
    Entry("FFT-forward-odd", lambda dt: _fft((5,), "N", dt, norm="forward", centered=True), invertible=True),
    Entry("Reshape", lambda dt: ll.Reshape((2, 6), (3, 4), "AB", "CD", dtype=dt), invertible=True),
    Entry(
        "Chain-F-D",
        lambda dt: _fft((4, 4), "HW", dt) @ ll.Diagonal(randn(4, 4, dtype=dt, seed=9) + 2, "HW"),
        invertible=True,
    ),
    Entry(
        "Chain-D-F-D",
        lambda dt: (
            ll.Diagonal(randn(4, 4, dtype=dt, seed=10) + 2, "HW")
            @ _fft((4, 4), "HW", dt)
            @ ll.Diagonal(randn(4, 4, dtype=dt, seed=11) + 2, "HW")
        ),
        invertible=True,
    ),
    Entry(
        "Chain-dense-diag",
        lambda dt: (
            ll.Dense(randn(3, 5, dtype=dt, seed=12))
            @ ll.Diagonal(randn(5, dtype=dt, seed=13), ll.Dense(randn(3, 5, dtype=dt)).ishape)
        ),
        tags=("wide",),
    ),
    Entry(
        "Chain-reshape-join",
        lambda dt: ll.Dense(randn(3, 6, dtype=dt, seed=14)) @ ll.Diagonal(randn(2, 3, dtype=dt, seed=15), "HW"),
        tags=("wide",),
    ),
    Entry(
        "Sum-dense-diag",
        lambda dt: ll.Dense(_well_conditioned(4, dt, seed=16)) + ll.Diagonal(_pos(4, dtype=dt, seed=17)),
        invertible=True,
    ),
    Entry(
        "Sum-normal-plus-lambda",
        lambda dt: (ll.Dense(randn(6, 4, dtype=dt, seed=18))).N + ll.Scalar(torch.tensor(0.5, dtype=dt), (4,)),
        invertible=True,
        hermitian=True,
        pd=True,
    ),
    Entry("Scaled-complex", lambda dt: (2 - 1j) * ll.Dense(_well_conditioned(3, dt, seed=19)), invertible=True),
    Entry("Custom-cumsum", lambda dt: WeightedCumsum(randn(5, dtype=dt, seed=20) + 2), invertible=True),
    Entry(
        "Custom-adjoint-chain",
        lambda dt: WeightedCumsum(randn(5, dtype=dt, seed=21) + 2).H @ ll.Dense(randn(5, 3, dtype=dt, seed=23)),
        tags=("tall",),
    ),
    Entry(
        "RealPart-of-chain",
        lambda dt: ll.RealPart(
            _fft((5,), "N", dt, centered=True) @ ll.Diagonal(randn(5, dtype=complex_dtype(dt), seed=24) + 2, "N"),
            dtype=dt,
        ),
    ),
    Entry(
        "Difference",
        lambda dt: ll.Dense(_well_conditioned(4, dt, seed=22)) - ll.Identity((4,), dtype=dt) * 0.5,
        invertible=True,
    ),
    Entry("Conj-of-custom", lambda dt: WeightedCumsum(randn(5, dtype=complex_dtype(dt), seed=25) + 2).conj()),
]
