"""Registry entries for the structured catalog: Concat/Stack, Kronecker, LowRank and
Woodbury, Permutation, Pad/Crop/Mask/Sample, SumReduce/Broadcast, Sparse, and the torch
functions that build them (cat, kron, block_diag, slicing). Complex, non-symmetric."""

import torch

import lazylinops as ll
from lazylinops.dtypes import complex_dtype

from . import Entry, randn


def _wc(n, dt, seed):
    """A well-conditioned non-symmetric square matrix."""
    return randn(n, n, dtype=dt, seed=seed) / n**0.5 + 2 * torch.eye(n, dtype=dt)


def _pos(*size, dtype, seed):
    return (randn(*size, dtype=dtype, seed=seed).abs() + 1.0).to(dtype)


def _dense(m, n, dt, seed, ishape="N", oshape="M"):
    return ll.Dense(randn(m, n, dtype=dt, seed=seed), ishape=ishape, oshape=oshape)


def _sparse(m, n, dt, seed, layout="coo"):
    W = randn(m, n, dtype=dt, seed=seed)
    W = W * (randn(m, n, dtype=torch.float64, seed=seed + 100).abs() > 0.6)
    return W.to_sparse() if layout == "coo" else W.to_sparse_csr()


def _diag_lowrank(dt, seed=0, hermitian=False):
    U = randn(6, 2, dtype=dt, seed=seed) / 2
    if hermitian:
        return ll.Scalar(torch.tensor(2.0, dtype=dt), (6,)) + ll.LowRank(U)
    return ll.Diagonal(randn(6, dtype=dt, seed=seed + 1) + 3) + ll.LowRank(U, randn(6, 2, dtype=dt, seed=seed + 2) / 2)


def _perm(n, seed):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


ENTRIES = [
    # ------------------------------------------------------------ Concat / Stack
    Entry(
        "Concat-rows",
        lambda dt: ll.Concat(_dense(3, 4, dt, 1), _dense(2, 4, dt, 2), odim="M"),
        split_dims=("M", "N"),
        tags=("tall",),
    ),
    Entry(
        "Concat-cols",
        lambda dt: ll.Concat(_dense(3, 2, dt, 3), _dense(3, 4, dt, 4), idim="N"),
        split_dims=("M", "N"),
        tags=("wide",),
    ),
    Entry(
        "Concat-blockdiag",
        lambda dt: ll.Concat(
            ll.Diagonal(randn(2, dtype=dt, seed=5) + 3, "N"),
            ll.Dense(_wc(3, dt, 6), ishape="N", oshape="N"),
            idim="N",
            odim="N",
        ),
        invertible=True,
    ),
    Entry(
        "Concat-blockdiag-rect",
        lambda dt: ll.Concat(_dense(3, 2, dt, 7), _dense(2, 4, dt, 8), idim="N", odim="M"),
        split_dims=("M", "N"),
        tags=("wide",),
    ),
    Entry(
        "Concat-blockdiag-inner-dim",
        lambda dt: ll.Concat(
            ll.Diagonal(randn(2, 3, dtype=dt, seed=9) + 3, "CN"),
            ll.Diagonal(randn(2, 2, dtype=dt, seed=10) + 3, "CN"),
            idim="N",
            odim="N",
        ),
        invertible=True,
        split_dims=("C", "N"),
    ),
    Entry(
        "Stack-outputs",
        lambda dt: ll.Stack(_dense(3, 4, dt, 11), _dense(3, 4, dt, 12), odim="B"),
        split_dims=("B", "N"),
        tags=("tall",),
    ),
    Entry(
        "Stack-blockdiag",
        lambda dt: ll.Stack(ll.Dense(_wc(3, dt, 13)), ll.Dense(_wc(3, dt, 14)), idim="B", odim="B"),
        invertible=True,
        split_dims=("B",),
    ),
    # ------------------------------------------------------------ Kronecker
    Entry(
        "Kronecker-rect",
        lambda dt: ll.Kronecker(_dense(3, 2, dt, 15, "P", "Q"), _dense(4, 5, dt, 16)),
        split_dims=("P", "Q", "M", "N"),
    ),
    Entry(
        "Kronecker-3-square",
        lambda dt: ll.Kronecker(
            ll.Dense(_wc(2, dt, 17)), ll.Diagonal(randn(3, dtype=dt, seed=18) + 3), ll.Dense(_wc(2, dt, 19))
        ),
        invertible=True,
    ),
    Entry(
        "Kronecker-fft-dense",
        lambda dt: ll.Kronecker(ll.FFT((4,), "K", dtype=complex_dtype(dt)), ll.Dense(_wc(3, dt, 20))),
        invertible=True,
        tags=("complex-only",),
    ),
    Entry(
        "Kronecker-product-folded",
        lambda dt: (
            ll.Kronecker(_dense(3, 2, dt, 21, "A", "B"), _dense(2, 2, dt, 22))
            @ ll.Kronecker(_dense(2, 3, dt, 23, "C", "A"), _dense(2, 4, dt, 24, "P", "N"))
        ),
    ),
    Entry(
        "Kronecker-product-default-names",  # rectangular factors of matching sizes, names differ: multiplies
        lambda dt: (
            ll.Kronecker(ll.Dense(randn(3, 4, dtype=dt, seed=60)), ll.Dense(randn(2, 3, dtype=dt, seed=61)))
            @ ll.Kronecker(ll.Dense(randn(4, 2, dtype=dt, seed=62)), ll.Dense(randn(3, 2, dtype=dt, seed=63)))
        ),
        tags=("tall",),
    ),
    Entry(
        "Kronecker-rectangular",  # diag(A ⊗ B) from the factors' entries
        lambda dt: ll.Kronecker(ll.Dense(randn(2, 3, dtype=dt, seed=64)), ll.LowRank(randn(3, 2, dtype=dt, seed=65))),
        tags=("wide",),
    ),
    Entry("Dense-scaled", lambda dt: -2.5 * ll.Dense(randn(4, 3, dtype=dt, seed=66)), tags=("tall",)),
    # ------------------------------------------------------------ LowRank / Woodbury
    Entry(
        "LowRank",
        lambda dt: ll.LowRank(randn(5, 2, dtype=dt, seed=25), randn(4, 2, dtype=dt, seed=26)),
        split_dims=("o0", "i0"),
        tags=("tall",),
    ),
    Entry("LowRank-hermitian", lambda dt: ll.LowRank(randn(5, 2, dtype=dt, seed=27)), hermitian=True),
    Entry(
        "LowRank-named",
        lambda dt: ll.LowRank(
            randn(2, 3, 2, dtype=dt, seed=28), randn(4, 2, dtype=dt, seed=29), ishape="N", oshape="HW"
        ),
        split_dims=("H", "N"),
        tags=("tall",),
    ),
    Entry("Diagonal+LowRank", lambda dt: _diag_lowrank(dt, 30), invertible=True),
    Entry("Woodbury", lambda dt: _diag_lowrank(dt, 33)._inverse(), invertible=True),
    Entry(
        "Woodbury-hermitian-pd",
        lambda dt: _diag_lowrank(dt, 36, hermitian=True)._inverse(),
        invertible=True,
        hermitian=True,
        pd=True,
    ),
    # ------------------------------------------------------------ Permutation
    Entry("Permutation", lambda dt: ll.Permutation(_perm(5, 37), dtype=dt), invertible=True),
    Entry(
        "Permutation-dim",
        lambda dt: ll.Permutation(_perm(3, 38), "CN", dim="C", size=(3, 4), dtype=dt),
        invertible=True,
        split_dims=("N",),
    ),
    Entry(
        "Permutation-product",
        lambda dt: (
            ll.Permutation(_perm(5, 39), dtype=dt)
            @ ll.Diagonal(randn(5, dtype=dt, seed=40) + 3)
            @ ll.Permutation(_perm(5, 41), dtype=dt)
        ),
        invertible=True,
    ),
    # ------------------------------------------------------------ Pad / Crop / Mask / Sample
    Entry("Pad", lambda dt: ll.Pad((3, 4), {"W": (1, 2)}, "HW", dtype=dt), split_dims=("H",), tags=("tall",)),
    Entry("Crop", lambda dt: ll.Crop((4, 6), {"H": 1, "W": (0, 2)}, "HW", dtype=dt), split_dims=(), tags=("wide",)),
    Entry(
        "Crop-Dense-Pad",
        lambda dt: (
            ll.Crop((6,), 1, "N", dtype=dt)
            @ ll.Dense(_wc(6, dt, 42), ishape="N", oshape="N")
            @ ll.Pad((4,), 1, "N", dtype=dt)
        ),
    ),
    Entry(
        "Mask",
        lambda dt: ll.Mask(randn(3, 4, dtype=torch.float64, seed=43) > 0, "HW", dtype=dt),
        hermitian=True,
        split_dims=("H", "W"),
    ),
    Entry(
        "Sample",
        lambda dt: ll.Sample(torch.tensor([[0, 1], [2, 3], [0, 1], [1, 0]]), (3, 4), "HW", dtype=dt),
        split_dims=("K",),
        tags=("wide",),
    ),
    Entry(
        "Sample-dims",
        lambda dt: (
            ll.Sample(torch.tensor([[0, 1], [2, 2], [1, 0]]), (2, 3, 4), "CHW", dims="HW", dtype=dt)
            @ ll.Diagonal(randn(2, 3, 4, dtype=dt, seed=44), "CHW")
        ),
        tags=("wide",),
    ),
    Entry(
        "SumReduce", lambda dt: ll.SumReduce((2, 3), "CN", dims="C", dtype=dt), split_dims=("C", "N"), tags=("wide",)
    ),
    Entry(
        "Broadcast",
        lambda dt: ll.Broadcast((2, 3), "CN", dims="C", dtype=dt) @ ll.Dense(_wc(3, dt, 45), ishape="N", oshape="N"),
        tags=("tall",),
    ),
    # ------------------------------------------------------------ Sparse
    Entry("Sparse-coo", lambda dt: ll.Sparse(_sparse(5, 4, dt, 46)), split_dims=("o0", "i0"), tags=("tall",)),
    Entry(
        "Sparse-csr-named",
        lambda dt: ll.Sparse(
            _sparse(6, 6, dt, 47, "csr") + 3 * torch.eye(6, dtype=dt).to_sparse_csr(), "N", "HW", osize=(2, 3)
        ),
        invertible=True,
        split_dims=("H",),
    ),
    # ------------------------------------------------------------ torch functions
    Entry(
        "torch.cat-rows",
        lambda dt: torch.cat(
            [ll.Dense(randn(2, 4, dtype=dt, seed=48)), ll.Diagonal(randn(2, 2, dtype=dt, seed=49), "HW")]
        ),
        tags=("tall",),
    ),
    Entry(
        "torch.cat-cols",
        lambda dt: torch.cat([ll.Dense(randn(3, 2, dtype=dt, seed=50)), ll.FFT((3,), dtype=complex_dtype(dt))], dim=1),
        tags=("wide", "complex-only"),
    ),
    Entry(
        "torch.block_diag",
        lambda dt: torch.block_diag(ll.Dense(_wc(2, dt, 51)), ll.Diagonal(randn(3, dtype=dt, seed=52) + 3)),
        invertible=True,
    ),
    Entry(
        "torch.kron",
        lambda dt: torch.kron(ll.Dense(randn(2, 3, dtype=dt, seed=53)), ll.Dense(randn(3, 2, dtype=dt, seed=54))),
    ),
    Entry("Submatrix-window", lambda dt: ll.Dense(randn(6, 7, dtype=dt, seed=55))[1:4, 2:6]),
    Entry("Submatrix-split", lambda dt: ll.Kronecker(_dense(3, 2, dt, 56, "P", "Q"), _dense(4, 5, dt, 57))[4:12, 5:10]),
]
