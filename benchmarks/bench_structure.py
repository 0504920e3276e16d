"""Structured catalog benchmarks: Kronecker matvec and diagonal + low-rank (Woodbury) solve.

Ratios against hand-written torch (the two-GEMM identity ``(A ⊗ B) vec X = vec(A X Bᵀ)``;
a hand-written Woodbury solve) and dense torch, plus GPyTorch's ``linear_operator`` and
``torch-named-linops`` when importable, all measured in the same run.

    python benchmarks/bench_structure.py [--device cuda] [--dtype float64]
"""

import argparse
import statistics
import time

import torch

import lazylinops as ll


def bench(fn, device, repeat=7, min_time=0.2):
    """Median seconds per call over ``repeat`` rounds of enough calls to last ``min_time``."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    n, t = 1, 0.0
    while t < min_time / 4:
        n *= 2
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        t = time.perf_counter() - t0
    n = max(1, int(n * (min_time / 4) / max(t, 1e-9)) * 2)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def table(title, rows, ref):
    print(f"\n{title}")
    print(f"  {'method':<44}{'time':>12}{'ratio':>9}")
    base = dict(rows)[ref]
    for name, t in rows:
        shown = "n/a" if t is None else f"{t * 1e6:10.1f}µs"
        ratio = "" if t is None else f"{t / base:8.2f}×"
        print(f"  {name:<44}{shown:>12}{ratio:>9}")


def peers():
    out = {}
    try:
        import linear_operator  # noqa: F401

        out["linear_operator"] = linear_operator
    except Exception as exc:  # noqa: BLE001 - report any import failure
        print(f"linear_operator not importable: {exc}")
    try:
        import torchlinops  # noqa: F401

        out["torchlinops"] = torchlinops
    except Exception as exc:  # noqa: BLE001
        print(f"torch-named-linops not importable: {exc}")
    return out


def kron_bench(device, dtype, libs, n=64):
    g = torch.Generator(device="cpu").manual_seed(0)
    A = torch.randn(n, n, generator=g, dtype=dtype).to(device)
    B = torch.randn(n, n, generator=g, dtype=dtype).to(device)
    K = ll.Kronecker(ll.Dense(A), ll.Dense(B))
    for k in (1, 32):
        x = torch.randn(n * n, k, generator=g, dtype=dtype).to(device)
        xv = x[:, 0].contiguous()
        if k == 1:
            lazy = lambda: K @ xv  # noqa: E731
            gemm = lambda: (A @ xv.reshape(n, n) @ B.T).reshape(-1)  # noqa: E731
        else:
            lazy = lambda: K @ x  # noqa: E731
            gemm = lambda: torch.matmul(A, torch.matmul(x.T.reshape(k, n, n), B.T)).reshape(k, -1).T  # noqa: E731
        ref = gemm()
        err = ((lazy() if k > 1 else lazy()) - ref).abs().max().item() / ref.abs().max().item()
        assert err < 1e-5, err
        rows = [
            ("two-GEMM identity vec(A X Bᵀ)", bench(gemm, device)),
            ("lazylinops Kronecker @ x", bench(lazy, device)),
        ]
        if k == 1:
            KH = K.H
            rows.append(("lazylinops Kronecker.H @ y (same cost)", bench(lambda: KH @ xv, device)))
        dense = torch.kron(A, B)
        rows.append(("dense kron(A, B) @ x (prebuilt)", bench(lambda: dense @ (xv if k == 1 else x), device)))
        lo = libs.get("linear_operator")
        if lo is not None:
            from linear_operator.operators import DenseLinearOperator, KroneckerProductLinearOperator

            KL = KroneckerProductLinearOperator(DenseLinearOperator(A), DenseLinearOperator(B))
            xm = xv[:, None] if k == 1 else x
            rows.append(("linear_operator KroneckerProduct @ x", bench(lambda: KL @ xm, device)))
        tl = libs.get("torchlinops")
        if tl is not None:
            # named-dim chain: B along the fast dim, then A along the slow dim
            KA = tl.Dense(A, ("P", "I"), ("I", "J"), ("P", "J"))
            KB = tl.Dense(B, ("Q", "J"), ("P", "J"), ("P", "Q"))
            KT = tl.Chain(KA, KB)  # torchlinops chains apply left to right
            Xn = xv.reshape(n, n) if k == 1 else x.T.reshape(k, n, n)
            try:
                yt = KT(Xn)
                ok = (
                    yt.reshape(-1) - ref.reshape(-1) if k == 1 else yt.reshape(k, -1).T - ref
                ).abs().max().item() / ref.abs().max().item() < 1e-5
            except Exception as exc:  # noqa: BLE001
                ok, yt = False, exc
            rows.append(("torch-named-linops Chain(Dense, Dense)", bench(lambda: KT(Xn), device) if ok else None))
            if not ok:
                print(f"  (torch-named-linops Kronecker chain did not reproduce the result: {yt!r:.80})")
        table(
            f"Kronecker {n}⊗{n} matvec, {k} right-hand side(s), {dtype}, {device}",
            rows,
            "two-GEMM identity vec(A X Bᵀ)",
        )


def woodbury_bench(device, dtype, libs, n=4096, r=20):
    g = torch.Generator(device="cpu").manual_seed(1)
    C = torch.randn(n, r, generator=g, dtype=dtype).to(device) / r**0.5
    d = (torch.rand(n, generator=g, dtype=dtype) + 0.5).to(device)
    b = torch.randn(n, generator=g, dtype=dtype).to(device)
    Aop = ll.LowRank(C) + ll.Diagonal(d)
    W = Aop._inverse()
    assert type(W) is ll.Woodbury

    def hand_factor():
        DC = C / d[:, None]
        K = torch.eye(r, dtype=dtype, device=device) + C.T @ DC
        return DC, torch.linalg.cholesky(K)

    DC, L = hand_factor()

    def hand_apply():
        z = b / d
        return z - DC @ torch.cholesky_solve((C.T @ z)[:, None], L)[:, 0]

    def hand_full():
        DC, L = hand_factor()
        z = b / d
        return z - DC @ torch.cholesky_solve((C.T @ z)[:, None], L)[:, 0]

    Ad = C @ C.T + torch.diag(d)
    ref = torch.linalg.solve(Ad, b)
    for f in (hand_apply, hand_full, lambda: W @ b):
        assert (f() - ref).abs().max().item() < 1e-6 * ref.abs().max().item() * (1e4 if dtype == torch.float32 else 1)
    rows = [
        ("hand-written Woodbury (factored once)", bench(hand_apply, device)),
        ("lazylinops Woodbury W @ b (factored once)", bench(lambda: W @ b, device)),
        ("hand-written Woodbury (factor + solve)", bench(hand_full, device)),
        (
            "lazylinops (LowRank + Diagonal)._inverse() @ b",
            bench(lambda: (ll.LowRank(C) + ll.Diagonal(d))._inverse() @ b, device),
        ),
    ]
    if hasattr(ll, "solve"):
        rows.append(
            (
                "lazylinops torch.linalg.solve(A, b) (fresh A)",
                bench(lambda: torch.linalg.solve(ll.LowRank(C) + ll.Diagonal(d), b), device),
            )
        )
    rows.append(("dense torch.linalg.solve (prebuilt A)", bench(lambda: torch.linalg.solve(Ad, b), device, repeat=3)))
    lo = libs.get("linear_operator")
    if lo is not None:
        from linear_operator.operators import DiagLinearOperator, LowRankRootLinearOperator

        def lo_solve():
            return (LowRankRootLinearOperator(C) + DiagLinearOperator(d)).solve(b[:, None])

        err = (lo_solve()[:, 0] - ref).abs().max().item() / ref.abs().max().item()
        rows.append(
            ("linear_operator LowRankRootAddedDiag.solve (fresh)", bench(lo_solve, device) if err < 1e-4 else None)
        )
    rows.append(("torch-named-linops (no Woodbury solve)", None))
    table(f"(C Cᵀ + diag d) solve, C {n}×{r}, {dtype}, {device}", rows, "hand-written Woodbury (factored once)")
    t_hand, t_lazy = rows[0][1], rows[1][1]
    t_hand_full, t_lazy_full = rows[2][1], rows[3][1]
    print(
        f"  lazylinops / hand-written: factored {t_lazy / t_hand:.2f}× (target ≤ 1.3×), "
        f"factor + solve {t_lazy_full / t_hand_full:.2f}×"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1, help="CPU threads (1: stable timings on a shared machine)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    libs = peers()
    with ll.set_densify("error"):
        kron_bench(device, dtype, libs)
        woodbury_bench(device, dtype, libs)


if __name__ == "__main__":
    main()
