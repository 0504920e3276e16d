"""``python -m lazylinops demo``: a structured FFT·Diagonal operator vs its dense matrix.

Builds ``A = F · diag(s)`` (a sensitivity-weighted orthonormal 2-D FFT, as in MRI) on a
256×256 image, prints its tree, applies forward/adjoint/normal and compares time and
memory with the dense matrix (built for real at 64×64; at 256×256 it would need 32 GiB).
"""

import time

import torch

from . import FFT, Diagonal, set_densify
from .display import fmt_bytes, weight_bytes


def _time(fn, repeat=5):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _phantom(n):
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    img = ((x / 0.7) ** 2 + (y / 0.9) ** 2 <= 1).float()
    img -= 0.6 * (((x - 0.2) / 0.25) ** 2 + (y / 0.4) ** 2 <= 1).float()
    return img.to(torch.complex64)


def build(n):
    gen = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    sens = torch.exp(-(x**2 + y**2)) * torch.exp(1j * torch.pi * (x + 0.1 * torch.rand(n, n, generator=gen)))
    return FFT((n, n), "HW", oshape="KxKy", centered=True) @ Diagonal(sens.to(torch.complex64), "HW")


def main(n=256, n_dense=64):
    torch.manual_seed(0)
    A = build(n)
    print(f"A = FFT · Diagonal on a {n}×{n} image\n")
    print(A, "\n")
    img = _phantom(n)
    y = A(img)
    back = A.H(y)
    normal = A.N
    print("A.N folds to:", normal, "\n")
    err = (A.N(img) - back).abs().max().item()
    print(f"forward {tuple(img.shape)} → {tuple(y.shape)}; adjoint back; max |A.N x − Aᴴ(A x)| = {err:.2e}\n")
    rows = [("forward A(x)", lambda: A(img)), ("adjoint A.H(y)", lambda: A.H(y)), ("normal A.N(x)", lambda: A.N(img))]
    print(f"{'':18s}{'lazy ' + str(n) + '²':>14s}")
    for name, fn in rows:
        print(f"{name:18s}{_time(fn) * 1e3:11.2f} ms")
    dense_bytes = A.shape[0] * A.shape[1] * A.dtype.itemsize
    print(f"\nmemory: operator weights {fmt_bytes(weight_bytes(A))}, dense matrix would be {fmt_bytes(dense_bytes)}")

    with set_densify("allow"):
        B = build(n_dense)
        xb = _phantom(n_dense)
        D = B.to_dense()
    xv = xb.reshape(-1)
    t_lazy = _time(lambda: B(xb))
    t_dense = _time(lambda: D @ xv)
    match = (B(xb).reshape(-1) - D @ xv).abs().max().item()
    print(
        f"\nat {n_dense}×{n_dense}: dense {D.shape[0]}×{D.shape[1]} matrix {fmt_bytes(D.numel() * D.element_size())} "
        f"vs weights {fmt_bytes(weight_bytes(B))};\n"
        f"  apply lazy {t_lazy * 1e3:.3f} ms vs dense {t_dense * 1e3:.3f} ms "
        f"({t_dense / t_lazy:.0f}× faster), max difference {match:.1e}"
    )


if __name__ == "__main__":
    main()
