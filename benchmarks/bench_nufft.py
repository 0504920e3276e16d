"""NUFFT normal operator: Toeplitz embedding vs gridding there and back, and peer libraries.

Run: ``python benchmarks/bench_nufft.py [--threads N]``. Targets (issue "Structured operator
catalog"): on a 64×64 grid with 4096 points (complex64), ``A.N(x)`` (Toeplitz) at least 14×
faster than ``A.H(A(x))``, and the one-time setup (plan + Toeplitz kernel) ≤ 1 s.
Peers, when installed: torchkbnufft (its own Toeplitz path) and finufft (type 2 then type 1,
with plans made once). Accuracy is reported against the exact non-uniform DFT.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import measure, report, setup  # noqa: E402

import lazylinops as ll  # noqa: E402

N, K = 64, 4096


def exact_normal(loc, x):
    """Aᴴ A x for the exact non-uniform DFT (float64 reference)."""
    n = torch.arange(N, dtype=torch.float64) - N // 2
    E0 = torch.exp(-2j * math.pi * loc[:, :1] * n / N)  # (K, N)
    E1 = torch.exp(-2j * math.pi * loc[:, 1:] * n / N)
    y = torch.einsum("kh,kw,hw->k", E0, E1, x.to(torch.complex128)) / N
    return torch.einsum("kh,kw,k->hw", E0.conj(), E1.conj(), y) / N


def rel(a, b):
    return ((a.to(torch.complex128) - b).norm() / b.norm()).item()


def main(threads=None):
    setup(threads)
    loc = (torch.rand(K, 2, dtype=torch.float64) - 0.5) * N
    x = torch.randn(N, N, dtype=torch.complex64)
    ref = exact_normal(loc, x)

    t0 = time.perf_counter()
    A = ll.NUFFT(loc.float(), (N, N), "HW")
    t1 = time.perf_counter()
    AN = A.N
    t2 = time.perf_counter()
    print(
        f"lazylinops setup: plan {1e3 * (t1 - t0):.1f} ms, Toeplitz kernel {1e3 * (t2 - t1):.1f} ms, "
        f"total {t2 - t0:.3f} s (target ≤ 1 s)"
    )
    T, kern2 = AN.kernel, tuple(AN.kernel.shape)  # the same two FFTs by hand: the floor for A.N
    print(f"accuracy vs exact Aᴴ A x: Toeplitz {rel(AN(x), ref):.2e}, gridded {rel(A.H(A(x)), ref):.2e}")

    fns = {
        "ll: A.H(A(x)) (gridding)": lambda: A.H(A(x)),
        "ll: A.N(x) (Toeplitz)": lambda: AN(x),
        "torch floor: ifft2(T ⊙ fft2(x, s=2N))": lambda: torch.fft.ifft2(torch.fft.fft2(x, s=kern2) * T)[:N, :N],
    }

    try:
        import torchkbnufft as tkbn

        omega = (2 * math.pi * loc.float() / N).T.contiguous()  # (2, K) radians in [-π, π)
        fwd, adj, toep = tkbn.KbNufft(im_size=(N, N)), tkbn.KbNufftAdjoint(im_size=(N, N)), tkbn.ToepNufft()
        t0 = time.perf_counter()
        kern = tkbn.calc_toeplitz_kernel(omega, im_size=(N, N))
        print(f"torchkbnufft Toeplitz kernel setup {1e3 * (time.perf_counter() - t0):.1f} ms")
        xb = x[None, None]
        scale = 1 / N**2  # torchkbnufft is unnormalised: Aᴴ A has an extra ∏N
        print(
            f"torchkbnufft accuracy: Toeplitz {rel(toep(xb, kern)[0, 0] * scale, ref):.2e}, "
            f"gridded {rel(adj(fwd(xb, omega), omega)[0, 0] * scale, ref):.2e}"
        )
        fns["torchkbnufft: adjoint(forward(x))"] = lambda: adj(fwd(xb, omega), omega)
        fns["torchkbnufft: ToepNufft"] = lambda: toep(xb, kern)
    except ImportError:
        print("torchkbnufft not installed: skipped (pip install --no-deps torchkbnufft)")

    try:
        import finufft
        import numpy as np

        pts = [np.ascontiguousarray(2 * np.pi * loc[:, d].numpy() / N, dtype=np.float32) for d in range(2)]
        p2 = finufft.Plan(2, (N, N), eps=1e-5, dtype="complex64", isign=-1)
        p1 = finufft.Plan(1, (N, N), eps=1e-5, dtype="complex64", isign=1)
        p2.setpts(*pts)
        p1.setpts(*pts)
        xn = x.numpy()
        out = torch.from_numpy(p1.execute(p2.execute(xn))) / N**2
        print(f"finufft accuracy (eps 1e-5): {rel(out, ref):.2e}")
        fns["finufft: type1(type2(x))"] = lambda: p1.execute(p2.execute(xn))
    except ImportError:
        print("finufft not installed: skipped (pip install --no-deps finufft)")

    times = measure(fns, min_run_time=2.0, rounds=5)
    ratios = report(
        f"NUFFT normal, {N}×{N} grid, {K} points, complex64, {torch.get_num_threads()} threads",
        times,
        "ll: A.H(A(x)) (gridding)",
    )
    speedup = 1 / ratios["ll: A.N(x) (Toeplitz)"]
    print(f"\nToeplitz speed-up over gridding: {speedup:.1f}× (target ≥ 14×)")
    return speedup


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    main(parser.parse_args().threads)
