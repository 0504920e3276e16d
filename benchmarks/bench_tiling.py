"""Tiling overhead: a distributed operator of 4 tiles on one device vs the untiled operator.

Run: ``python benchmarks/bench_tiling.py [cpu|cuda]``. Target (issue "Device tiling"):
≤ 1.1× the untiled operator on large inputs, for a Dense matrix on a batch of vectors and
for Diagonal·FFT on a batch of images (forward, adjoint and normal).
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import measure, report, setup  # noqa: E402

import lazylinops as ll  # noqa: E402


def _sync(device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def dense(device):
    n, batch = 4096, 256
    A = ll.Dense(torch.randn(n, n, device=device), ishape="N", oshape="M")
    T = ll.distribute(A, ll.BatchSpec({"M": n // 4}))
    x = torch.randn(batch, n, device=device)
    sync = _sync(device)
    times = measure(
        {
            "untiled: A(x)": lambda: (A(x), sync()),
            "4 tiles (rows): T(x)": lambda: (T(x), sync()),
            "untiled: A.H(y)": lambda: (A.H(x), sync()),
            "4 tiles: T.H(y)": lambda: (T.H(x), sync()),
        }
    )
    return report(
        f"Dense {n}×{n} float32, batch {batch}, {device}", times, "untiled: A(x)", {"4 tiles (rows): T(x)": 1.1}
    )


def diag_fft(device):
    images, n = 32, 256
    c64 = torch.complex64
    d = torch.randn(images, n, n, dtype=c64, device=device)
    A = ll.FFT((images, n, n), "NHW", dim="HW") @ ll.Diagonal(d, "NHW")
    T = ll.distribute(A, ll.BatchSpec({"N": images // 4}))
    AN, TN = A.N, T.N
    x = torch.randn(images, n, n, dtype=c64, device=device)
    sync = _sync(device)
    times = measure(
        {
            "untiled: A(x)": lambda: (A(x), sync()),
            "4 tiles (images): T(x)": lambda: (T(x), sync()),
            "untiled: A.H(y)": lambda: (A.H(x), sync()),
            "4 tiles: T.H(y)": lambda: (T.H(x), sync()),
            "untiled: A.N(x)": lambda: (AN(x), sync()),
            "4 tiles: T.N(x)": lambda: (TN(x), sync()),
        }
    )
    ratios = report(
        f"Diagonal·FFT on {images}×{n}×{n} complex64 images, {device}",
        times,
        "untiled: A(x)",
        {"4 tiles (images): T(x)": 1.1},
    )
    print(
        f"  adjoint ratio {times['4 tiles: T.H(y)'] / times['untiled: A.H(y)']:.2f}×, "
        f"normal ratio {times['4 tiles: T.N(x)'] / times['untiled: A.N(x)']:.2f}×"
    )
    return ratios


if __name__ == "__main__":
    setup()
    device = torch.device(sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu"))
    dense(device)
    diag_fft(device)
