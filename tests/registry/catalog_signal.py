"""Registry entries for the signal catalog: convolution, finite differences, NUFFT and
interpolation, matrix-free FromFunction, ToDevice. Complex, non-symmetric examples."""

import torch

import lazylinops as ll
from lazylinops.dtypes import complex_dtype

from . import Entry, randn


# ---------------------------------------------------------------- FromFunction examples
# Module-level (picklable by reference) and registered as safe globals, so that
# torch.load(weights_only=True) can rebuild the operators — what a user does too.
def shear(x):
    """x ↦ cumsum(x) + 2·roll(x, 1): linear, non-symmetric, any dtype, batched."""
    return torch.cumsum(x, -1) + 2 * torch.roll(x, 1, -1)


def tall(x):
    """(…, 4) ↦ (…, 6): a running sum followed by three times the first two samples."""
    return torch.cat([torch.cumsum(x, -1), 3 * x[..., :2]], -1)


def forward_diff(x):
    """(…, 5) ↦ (…, 4): x[i+1] − x[i]."""
    return x[..., 1:] - x[..., :-1]


def forward_diff_adjoint(y):
    """The adjoint of ``forward_diff``: −y[0], y[0] − y[1], …, y[−1]."""
    z = torch.zeros(*y.shape[:-1], 1, dtype=y.dtype, device=y.device)
    return torch.cat([z, y], -1) - torch.cat([y, z], -1)


torch.serialization.add_safe_globals([shear, tall, forward_diff, forward_diff_adjoint])


def _kernel(*shape, dtype, seed, lead=0.0):
    h = randn(*shape, dtype=dtype, seed=seed)
    if lead:
        h = h.clone()
        h.view(-1)[0] += lead  # dominant first tap: lower-triangular and well conditioned
    return h


def _locations(K, size, seed):
    g = torch.Generator().manual_seed(seed)
    n = torch.tensor(size, dtype=torch.float64)
    return (torch.rand(K, len(size), generator=g, dtype=torch.float64) - 0.5) * n


def _grid_points(K, size, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(K, len(size), generator=g, dtype=torch.float64) * (torch.tensor(size, dtype=torch.float64) - 1)


def _nufft(K, size, names, dt, seed, **kw):
    return ll.NUFFT(
        _locations(K, size[-2:] if len(size) > 2 else size, seed), size, names, dtype=complex_dtype(dt), **kw
    )


ENTRIES = [
    # convolution: y[n] = Σ_k h[k] x[n + offset − k]
    Entry(
        "Convolve-1d-causal",
        lambda dt: ll.Convolve(_kernel(3, dtype=dt, seed=50, lead=3.0), (7,), "N"),
        invertible=True,
    ),
    Entry("Convolve-1d-offset", lambda dt: ll.Convolve(_kernel(4, dtype=dt, seed=51), (6,), "N", offset=2)),
    Entry(
        "Convolve-2d-fft-coils",
        lambda dt: ll.Convolve(_kernel(3, 2, dtype=dt, seed=52), (2, 5, 4), "CHW", "HW", offset=(2, 1), method="fft"),
        split_dims=("C",),
    ),
    Entry("Convolve-long-auto-fft", lambda dt: ll.Convolve(_kernel(65, dtype=dt, seed=53), (8,), offset=30)),
    # finite differences (PyLops 2.8 stencils)
    Entry(
        "FirstDerivative-centered-edge",
        lambda dt: ll.FirstDerivative((3, 6), "CN", "N", sampling=0.5, edge=True, dtype=dt),
        split_dims=("C",),
    ),
    Entry("FirstDerivative-order5-edge", lambda dt: ll.FirstDerivative((7,), edge=True, order=5, dtype=dt)),
    Entry("FirstDerivative-forward", lambda dt: ll.FirstDerivative((6,), kind="forward", dtype=dt)),
    Entry(
        "FirstDerivative-backward-dim0",
        lambda dt: ll.FirstDerivative((5, 3), "HW", "H", kind="backward", dtype=dt),
        split_dims=("W",),
    ),
    Entry("SecondDerivative-centered-edge", lambda dt: ll.SecondDerivative((6,), sampling=2.0, edge=True, dtype=dt)),
    Entry(
        "SecondDerivative-forward",
        lambda dt: ll.SecondDerivative((3, 5), "CN", kind="forward", dtype=dt),
        split_dims=("C",),
    ),
    Entry(
        "Laplacian-weighted-edge",
        lambda dt: ll.Laplacian((4, 5), "HW", weights=(1.0, 2.0), sampling=(1.0, 0.5), edge=True, dtype=dt),
    ),
    Entry(
        "Laplacian-backward-2of3",
        lambda dt: ll.Laplacian((2, 4, 3), "CHW", dims="HW", kind="backward", dtype=dt),
        split_dims=("C",),
    ),
    Entry(
        "Gradient-centered-edge",
        lambda dt: ll.Gradient((4, 5), "HW", sampling=(1.0, 2.0), edge=True, dtype=dt),
        split_dims=("G",),
        tags=("tall",),
    ),
    Entry(
        "Gradient-forward-1of2",
        lambda dt: ll.Gradient((3, 4), "CN", dims="N", kind="forward", dtype=dt),
        split_dims=("C", "G"),
    ),
    # non-uniform Fourier (gridded) and interpolation
    Entry(
        "NUFFT-2d",
        lambda dt: _nufft(12, (4, 6), "HW", dt, seed=54, toeplitz=False),
        split_dims=("K",),
        tags=("wide", "complex-only"),
    ),
    Entry(
        "NUFFT-1d-tall",
        lambda dt: _nufft(11, (6,), "N", dt, seed=55, toeplitz=False),
        split_dims=("K",),
        tags=("tall", "complex-only"),
    ),
    # Toeplitz-embedded normal: A.N equals A.H @ A to the NUFFT's accuracy (~1e-5), so single precision only
    Entry(
        "NUFFT-coils-toeplitz",
        lambda dt: _nufft(9, (2, 5, 4), "CHW", dt, seed=56),
        split_dims=("C", "K"),
        dtypes=(torch.complex64,),
        tags=("wide", "complex-only", "approximate-normal"),
    ),
    # the Toeplitz normal itself (hermitian, exact to its own dense matrix in every precision)
    Entry(
        "ToeplitzNormal-2d",
        lambda dt: _nufft(9, (5, 4), "HW", dt, seed=58).N,
        hermitian=True,
        tags=("complex-only",),
    ),
    Entry(
        "Interpolate-linear-2d",
        lambda dt: ll.Interpolate(_grid_points(7, (4, 5), seed=57), (4, 5), "HW", dtype=dt),
        split_dims=("K",),
        tags=("wide",),
    ),
    Entry(
        "Interpolate-kb-periodic-coils",
        lambda dt: ll.Interpolate(
            _grid_points(8, (6,), seed=58) * 1.5, (2, 6), "CN", kind="kb", boundary="periodic", dtype=dt
        ),
        split_dims=("C", "K"),
    ),
    # matrix-free
    Entry("FromFunction-autograd", lambda dt: ll.FromFunction(shear, (5,), (5,), "N", "N", dtype=dt)),
    Entry("FromFunction-autograd-tall", lambda dt: ll.FromFunction(tall, (4,), (6,), dtype=dt), tags=("tall",)),
    Entry(
        "FromFunction-adjoint",
        lambda dt: ll.FromFunction(forward_diff, (5,), (4,), "N", "M", adjoint=forward_diff_adjoint, dtype=dt),
        tags=("wide",),
    ),
    # devices (placement-only checks for other devices live in tests/test_signal.py)
    Entry(
        "ToDevice-cpu",
        lambda dt: ll.ToDevice("cpu", "cpu", (3, 4), "HW", dtype=dt),
        invertible=True,
        hermitian=True,
        pd=True,
        split_dims=("H", "W"),
    ),
]
