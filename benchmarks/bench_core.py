"""Foundation overhead: lazylinops vs hand-written torch, measured side by side.

Run: ``python benchmarks/bench_core.py``. Targets (issue "Foundation"): Diagonal n=8
``A @ x`` ≤ 1.3× ``w * x``; Diagonal→FFT→Diagonal on 1×256×256 complex64 forward,
adjoint and normal ≤ 1.05× the hand-written torch code.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import measure, report, setup  # noqa: E402

import lazylinops as ll  # noqa: E402


def small_diagonal():
    w, x = torch.randn(8), torch.randn(8)
    D = ll.Diagonal(w)
    times = measure({"torch: w * x": lambda: w * x, "ll: D @ x": lambda: D @ x, "ll: D(x)": lambda: D(x)})
    return report("Diagonal n=8, float32", times, "torch: w * x", {"ll: D @ x": 1.3})


def fft_chain():
    n = 256
    c64 = torch.complex64
    d1 = torch.randn(n, n, dtype=c64)
    d2 = torch.randn(n, n, dtype=c64)
    A = ll.Diagonal(d2, "HW") @ ll.FFT((n, n), "HW") @ ll.Diagonal(d1, "HW")
    AH, AN = A.H, A.N
    x = torch.randn(1, n, n, dtype=c64)
    y = A(x)
    d1c, d2c, d2abs = d1.conj(), d2.conj(), (d2.abs() ** 2).to(c64)

    def fwd(x):
        return d2 * torch.fft.fft2(d1 * x, norm="ortho")

    def adj(y):
        return d1c * torch.fft.ifft2(d2c * y, norm="ortho")

    ratios = {}
    for title, fns, base, ll_name in (
        (
            "forward",
            {"torch: d2·fft2(d1·x)": lambda: fwd(x), "ll: A(x)": lambda: A(x)},
            "torch: d2·fft2(d1·x)",
            "ll: A(x)",
        ),
        (
            "adjoint",
            {"torch: d̄1·ifft2(d̄2·y)": lambda: adj(y), "ll: A.H(y)": lambda: AH(y)},
            "torch: d̄1·ifft2(d̄2·y)",
            "ll: A.H(y)",
        ),
        (
            "normal",
            {
                "torch: adj(fwd(x))": lambda: adj(fwd(x)),
                "torch: d̄1·ifft2(|d2|²·fft2(d1·x))": lambda: (
                    d1c * torch.fft.ifft2(d2abs * torch.fft.fft2(d1 * x, norm="ortho"), norm="ortho")
                ),
                "ll: A.N(x)": lambda: AN(x),
            },
            "torch: d̄1·ifft2(|d2|²·fft2(d1·x))",
            "ll: A.N(x)",
        ),
    ):
        times = measure(fns)
        r = report(f"Diagonal→FFT→Diagonal 1×{n}×{n} complex64: {title}", times, base, {ll_name: 1.05})
        ratios[title] = r[ll_name]
    return ratios


if __name__ == "__main__":
    setup(threads=int(sys.argv[1]) if len(sys.argv) > 1 else None)
    small_diagonal()
    fft_chain()
