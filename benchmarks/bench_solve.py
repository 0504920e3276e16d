"""Solver overhead against hand-written torch, measured side by side (torch.utils.benchmark).

1. CG on ``A.N + λI`` for a 256×256 complex64 image, ``A = F·D`` (the normal operator folds
   to a Diagonal) and ``A = D·F`` (a Chain with two FFTs per matvec), a fixed number of
   iterations with a convergence check each (rtol=0, on_failure="ignore"), against a
   hand-written torch CG loop doing the same maths. Target ratio ≤ 1.05.
2. ``ll.solve(Dense(W), b)`` against ``torch.linalg.solve(W, b)``: a fresh operator each call
   (LU every time) and a reused one (LU cached in the operator). Target ratio ≤ 1.1.

Run: ``python benchmarks/bench_solve.py``.
"""

import torch
from torch.utils.benchmark import Timer

import lazylinops as ll

ITERS = 30


def torch_cg(apply, b, iters):
    """Textbook CG in plain torch, checking ‖r‖ every iteration (one sync), as users write it."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = torch.vdot(r, r).real
    for _ in range(iters):
        Ap = apply(p)
        alpha = rs / torch.vdot(p, Ap).real
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = torch.vdot(r, r).real
        if rs_new.sqrt().item() <= 0.0:
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def ours(N, b):
    return ll.solve(N, b, method="cg", rtol=0.0, maxiter=ITERS, on_failure="ignore")


def measure(stmt, env, min_run_time=1.0):
    return Timer(stmt, globals=env).blocked_autorange(min_run_time=min_run_time).median


def cg_cases():
    torch.manual_seed(0)
    n = 256
    lam = 0.1
    d = (torch.rand(n, n) + 0.1).to(torch.complex64)
    F = ll.FFT((n, n), "HW", dtype=torch.complex64)
    D = ll.Diagonal(d, "HW")
    I = ll.Identity((n, n), "HW", dtype=torch.complex64)
    b = torch.randn(n * n, dtype=torch.complex64)
    w = (d.conj() * d).reshape(-1) + lam
    rows = []
    NFD = (F @ D).N + lam * I  # folds to Diagonal(|d|² + λ)
    rows.append(
        (
            "CG (F·D).N+λI, Diagonal",
            measure("ours(N, b)", {"ours": ours, "N": NFD, "b": b}),
            measure("torch_cg(f, b, k)", {"torch_cg": torch_cg, "f": lambda x: x * w, "b": b, "k": ITERS}),
        )
    )
    NDF = (D @ F).N + lam * I  # Fᴴ |d|² F + λI: two FFTs per matvec
    dd = d.conj() * d

    def hand(x):
        X = x.reshape(n, n)
        return (torch.fft.ifft2(torch.fft.fft2(X, norm="ortho") * dd, norm="ortho") + lam * X).reshape(-1)

    rows.append(
        (
            "CG (D·F).N+λI, 2 FFTs",
            measure("ours(N, b)", {"ours": ours, "N": NDF, "b": b}),
            measure("torch_cg(f, b, k)", {"torch_cg": torch_cg, "f": hand, "b": b, "k": ITERS}),
        )
    )
    x1, x2 = ours(NDF, b), torch_cg(hand, b, ITERS)
    assert (x1 - x2).abs().max() <= 1e-3 * x2.abs().max(), "benchmark: the two CG loops disagree"
    return rows


def dense_cases():
    torch.manual_seed(1)
    rows = []
    for n, k in ((256, 1), (512, 8)):
        W = torch.randn(n, n, dtype=torch.float64) + n**0.5 * torch.eye(n, dtype=torch.float64)
        b = torch.randn(n, k, dtype=torch.float64)
        env = {"ll": ll, "torch": torch, "W": W, "b": b, "A": ll.Dense(W)}
        ref = measure("torch.linalg.solve(W, b)", env)
        rows.append((f"Dense {n}×{n}, K={k}, fresh operator", measure("ll.solve(ll.Dense(W), b)", env), ref))
        rows.append((f"Dense {n}×{n}, K={k}, cached LU", measure("ll.solve(A, b)", env), ref))
    return rows


def main():
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CG: {ITERS} iterations")
    print(f"{'case':44s} {'lazylinops':>12s} {'torch':>12s} {'ratio':>7s}")
    for name, a, t in cg_cases() + dense_cases():
        print(f"{name:44s} {a * 1e3:10.3f}ms {t * 1e3:10.3f}ms {a / t:7.3f}")


if __name__ == "__main__":
    main()
