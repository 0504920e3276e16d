"""Shared timing helper: side-by-side measurements in one run, reported as ratios."""

import torch
import torch.utils.benchmark as tb


def measure(fns, min_run_time=0.5, rounds=3):
    """Median time (s) of each callable; rounds interleave the candidates to share machine noise."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()  # warm-up
            m = tb.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time / rounds)
            times[name].append(m.median)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def report(title, times, baseline, targets=None):
    """Print a table of times and ratios against ``baseline``; returns the ratios."""
    base = times[baseline]
    print(f"\n{title}")
    print(f"{'candidate':44s}{'time':>12s}{'ratio':>9s}{'target':>9s}")
    ratios = {}
    for name, t in times.items():
        ratios[name] = t / base
        target = "" if not targets or name not in targets else f"≤{targets[name]:.2f}"
        unit = f"{t * 1e6:9.2f} µs" if t < 1e-3 else f"{t * 1e3:9.3f} ms"
        print(f"{name:44s}{unit:>12s}{ratios[name]:8.2f}×{target:>9s}")
    return ratios


def setup(threads=None):
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
