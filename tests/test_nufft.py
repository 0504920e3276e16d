"""NUFFT and Interpolate: accuracy against the explicit non-uniform DFT, FFT parity at
integer locations, the Toeplitz normal (counted: no gridding), tiling, gradients."""

import math

import pytest
import torch
from counting import count_calls

import lazylinops as ll
from lazylinops.operators import nufft as nufft_module
from lazylinops.testing import assert_close

C64, C128, F64 = torch.complex64, torch.complex128, torch.float64


def dft_matrix(loc, size):
    """y_k = Σ_n x_n exp(−2πi Σ_d ℓ_kd (n_d − N_d//2)/N_d) / √∏N, written out."""
    grids = torch.meshgrid(*[torch.arange(n, dtype=F64) - n // 2 for n in size], indexing="ij")
    n = torch.stack([g.reshape(-1) for g in grids], -1)  # (∏N, D), row-major
    phase = (loc.to(F64) / torch.tensor(size, dtype=F64)) @ n.T
    return torch.exp(-2j * math.pi * phase) / math.sqrt(math.prod(size))


def random_locations(K, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(K, len(size), generator=g, dtype=F64) - 0.5) * torch.tensor(size, dtype=F64)


@pytest.mark.parametrize("cdtype", [C64, C128])
@pytest.mark.parametrize("size", [(16,), (15,), (8, 10), (7, 9)])
def test_nufft_accuracy_vs_explicit_dft(size, cdtype):
    dtype = cdtype
    loc = random_locations(40, size, seed=len(size))
    A = ll.NUFFT(loc, size, dtype=dtype)
    E = dft_matrix(loc, size)
    assert A.dtype == dtype and A.shape == (40, math.prod(size))
    assert_close(A.to_dense().to(C128), E, 1e-4)
    x = torch.randn(3, *size, dtype=dtype)
    assert_close(A(x).to(C128), x.reshape(3, -1).to(C128) @ E.T, 1e-4)
    y = torch.randn(3, 40, dtype=dtype)
    assert_close(A.H(y).reshape(3, -1).to(C128), y.to(C128) @ E.conj(), 1e-4)


def test_nufft_defaults_vs_cheap_settings():
    size = (12, 12)
    loc = random_locations(60, size, seed=3)
    E = dft_matrix(loc, size)
    assert_close(ll.NUFFT(loc, size, dtype=C128).to_dense(), E, 2e-5)  # oversamp 2, width 6
    with pytest.raises(AssertionError, match="max error"):
        assert_close(ll.NUFFT(loc, size, oversamp=1.25, width=4, dtype=C128).to_dense(), E, 1e-3)


def test_integer_locations_reproduce_centered_ortho_fft():
    size = (8, 6)
    grids = torch.meshgrid(*[torch.arange(n, dtype=F64) - n // 2 for n in size], indexing="ij")
    loc = torch.stack([g.reshape(-1) for g in grids], -1)
    A = ll.NUFFT(loc, size, "HW", dtype=C128)
    F = ll.FFT(size, "HW", centered=True, norm="ortho", dtype=C128)
    x = torch.randn(2, *size, dtype=C128)
    assert_close(A(x), F(x).reshape(2, -1), 1e-4)
    assert_close(A.to_dense(), F.to_dense(), 1e-4)


@pytest.mark.parametrize("cdtype", [C64, C128])
def test_toeplitz_normal_matches_gridded_normal(cdtype):
    dtype = cdtype
    size = (8, 10)
    A = ll.NUFFT(random_locations(70, size, seed=5), (3, *size), "CHW", dtype=dtype)
    N = A.N
    assert type(N) is ll.ToeplitzNormal and N.ishape == N.oshape == ("C", "H", "W")
    assert {"hermitian", "psd"} <= N.tags and N.H is N
    x = torch.randn(2, 3, *size, dtype=dtype)
    assert_close(N(x), A.H(A(x)), 1e-4)
    D = A.to_dense()
    assert_close(N.to_dense(), D.mH @ D, 1e-4)
    # and both approximate the exact normal of the non-uniform DFT
    E = torch.block_diag(*[dft_matrix(A.locations, size)] * 3)
    assert_close(N.to_dense().to(C128), E.mH @ E, 1e-4)


def test_toeplitz_normal_applies_no_gridding(monkeypatch):
    calls = count_calls(monkeypatch, nufft_module, "_interp", "_spread")
    A = ll.NUFFT(random_locations(50, (8, 8), seed=6), (8, 8))
    N = A.N  # one-time setup: one adjoint gridding on the doubled grid
    assert calls == {"_interp": 0, "_spread": 1}
    calls.update(_interp=0, _spread=0)
    x = torch.randn(4, 8, 8, dtype=C64)
    N(x)
    N @ x.reshape(4, 64).T
    assert calls == {"_interp": 0, "_spread": 0}
    A.H(A(x))
    assert calls == {"_interp": 1, "_spread": 1}
    assert A.N is N  # cached


def test_toeplitz_false_uses_gridded_normal():
    A = ll.NUFFT(random_locations(20, (6,), seed=7), (6,), toeplitz=False, dtype=C128)
    D = A.to_dense()
    assert type(A.N) is not ll.ToeplitzNormal
    assert (A.N.to_dense() - D.mH @ D).abs().max() < 1e-12


def test_nufft_batch_and_leading_dims_pass_through():
    loc = random_locations(9, (6, 5), seed=8)
    A = ll.NUFFT(loc, (2, 6, 5), "CHW", dtype=C128)
    assert A.oshape == ("C", "K") and A.osize == (2, 9)
    x = torch.randn(4, 2, 6, 5, dtype=C128)
    y = A(x)
    assert y.shape == (4, 2, 9)
    E = dft_matrix(loc, (6, 5))
    assert_close(y, x.reshape(4, 2, 30) @ E.T, 1e-4)
    assert A(torch.randn(2, 6, 5, dtype=F64)).dtype == C128  # real input promotes


def test_nufft_split_along_points_and_coils():
    A = ll.NUFFT(random_locations(10, (6,), seed=9), (2, 6), "CN", dtype=C128)
    D = A.to_dense()  # rows (C, K) row-major, columns (C, N)
    sub = A._split({"K": slice(3, 7)})
    assert sub.osize == (2, 4)
    rows = [c * 10 + k for c in range(2) for k in range(3, 7)]
    assert (sub.to_dense() - D[rows]).abs().max() < 1e-12
    sub = A._split({"C": slice(1, 2)})
    assert (sub.to_dense() - D[10:, 6:]).abs().max() < 1e-12
    with pytest.raises(ll.ShapeError, match="'N'"):
        A._split({"N": slice(0, 3)})


def test_nufft_gradient_to_locations():
    size = (8,)
    loc0 = random_locations(6, size, seed=10)
    x = torch.randn(8, dtype=C128)
    loc = loc0.clone().requires_grad_()
    ll.NUFFT(loc, size, dtype=C128)(x).abs().pow(2).sum().backward()
    loc_e = loc0.clone().requires_grad_()
    (dft_matrix(loc_e, size) @ x).abs().pow(2).sum().backward()
    assert_close(loc.grad, loc_e.grad, 1e-3)


def test_nufft_validation():
    with pytest.raises(ll.ShapeError, match=r"\(K, D\)"):
        ll.NUFFT(torch.zeros(5), (8,))
    with pytest.raises(ll.ShapeError, match=r"\(K, D\)"):
        ll.NUFFT(torch.zeros(5, 3), (8, 8))
    with pytest.raises(ValueError, match="oversamp"):
        ll.NUFFT(torch.zeros(5, 1), (8,), oversamp=0.5)
    with pytest.raises(ValueError, match="width"):
        ll.NUFFT(torch.zeros(5, 1), (8,), width=1)
    with pytest.raises(ValueError, match="complex"):
        ll.NUFFT(torch.zeros(5, 1), (8,), dtype=torch.float32)
    with pytest.raises(ValueError, match="NaN"):
        ll.NUFFT(torch.tensor([[float("nan")]]), (8,))


def test_nufft_dtype_moves_keep_locations_real():
    A = ll.NUFFT(random_locations(5, (6,), seed=11).float(), (6,))
    assert A.dtype == C64
    B = A.to(C128)
    assert B.dtype == C128 and B.locations.dtype == F64 and B.gridw.dtype == F64 and B.idx.dtype == torch.long


# ------------------------------------------------------------------ Interpolate


def test_interpolate_linear_literal():
    I = ll.Interpolate(torch.tensor([[0.5], [2.25], [3.0]]), (4,), "N", "K", dtype=F64)
    expected = torch.tensor([[0.5, 0.5, 0, 0], [0, 0, 0.75, 0.25], [0, 0, 0, 1.0]], dtype=F64)
    assert (I.to_dense() - expected).abs().max() < 1e-12


def test_interpolate_bilinear_and_boundaries():
    loc = torch.tensor([[0.5, 1.5], [2.0, 3.0], [2.5, 3.5]], dtype=F64)
    img = torch.arange(12, dtype=F64).reshape(3, 4)  # linear in both indices: 4 i + j
    I = ll.Interpolate(loc, (3, 4), "HW", dtype=F64)
    y = I(img)
    assert abs(y[0] - (4 * 0.5 + 1.5)).item() < 1e-12 and abs(y[1] - 11.0).item() < 1e-12
    # (2.5, 3.5): neighbours outside the grid are dropped (zero boundary): only img[2, 3] * 0.25 remains
    assert abs(y[2] - 0.25 * 11.0).item() < 1e-12
    P = ll.Interpolate(loc, (3, 4), "HW", boundary="periodic", dtype=F64)
    assert abs(P(img)[2] - 0.25 * (img[2, 3] + img[0, 3] + img[2, 0] + img[0, 0])).item() < 1e-12
    assert ll.testing.dottest(P)


def test_interpolate_kb_partition_of_unity_and_split():
    g = torch.Generator().manual_seed(12)
    loc = torch.rand(20, 2, generator=g, dtype=F64) * torch.tensor([6.0, 5.0])
    I = ll.Interpolate(loc, (2, 6, 5), "CHW", kind="kb", width=4, boundary="periodic", dtype=F64)
    y = I(torch.ones(2, 6, 5, dtype=F64))
    assert (y - 1).abs().max() < 1e-12
    D = I.to_dense()
    assert (
        I._split({"K": slice(0, 5)}).to_dense() - D[[k for c in range(2) for k in range(c * 20, c * 20 + 5)]]
    ).abs().max() < 1e-12
    with pytest.raises(ll.ShapeError, match="'H'"):
        I._split({"H": slice(0, 2)})


def test_interpolate_validation():
    with pytest.raises(ValueError, match="kind"):
        ll.Interpolate(torch.zeros(3, 1), (4,), kind="cubic")
    with pytest.raises(ValueError, match="boundary"):
        ll.Interpolate(torch.zeros(3, 1), (4,), boundary="reflect")
    with pytest.raises(TypeError, match="real floating"):
        ll.Interpolate(torch.zeros(3, 1, dtype=torch.long), (4,))
