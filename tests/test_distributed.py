"""Sharding tiles over torch.distributed ranks: a real 2-process gloo group on loopback.

The test spawns two copies of this file as workers (``python test_distributed.py RANK
WORLD PORT OUT``), bounded by a timeout; each builds the same operator, shards it, applies
it, solves with CG and counts the collectives per apply; the parent compares with the
single-process results.
"""

import os
import socket
import subprocess
import sys

import pytest
import torch

import lazylinops as ll

TIMEOUT = 60


def build():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(8, 6, generator=g, dtype=torch.float64)
    A = ll.Dense(W, ishape="N", oshape="M")  # split along M: disjoint output blocks (all_gather)
    B = ll.Dense(torch.randn(5, 6, generator=g, dtype=torch.float64), ishape="K", oshape="P") @ ll.Dense(
        torch.randn(6, 6, generator=g, dtype=torch.float64), ishape="N", oshape="K"
    )  # split along K: reduced
    x = torch.randn(3, 6, generator=g, dtype=torch.float64)
    y = torch.randn(3, 8, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    return A, B, x, y, b


def cg(A, b, iters=200, rtol=1e-12):
    """A plain CG (used when ll.solve is not there): same loop on every rank."""
    x = torch.zeros_like(b)
    r = b - A @ x
    p, rr = r.clone(), r @ r
    for _ in range(iters):
        if rr.sqrt() <= rtol * b.norm():
            break
        Ap = A @ p
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr, old = r @ r, rr
        p = r + (rr / old) * p
    return x


def solve(N, b):
    if hasattr(ll, "solve"):
        return ll.solve(N.with_tags(pd=True), b, method="cg", rtol=1e-12)
    return cg(N, b)


def expected_results():
    A, B, x, y, b = build()
    N = A.N + ll.Scalar(torch.tensor(0.5, dtype=torch.float64), (6,), "N")
    return {"Ax": A(x), "AHy": A.H(y), "Bx": B(x), "ANx": A.N(x), "solve": solve(N, b)}


def worker(rank, world, port, out):
    import datetime

    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=TIMEOUT),
    )
    counts = {"all_gather": 0, "all_reduce": 0}
    for name in counts:
        original = getattr(dist, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        setattr(dist, name, counting)

    def counted(fn):
        before = dict(counts)
        value = fn()
        return value, {k: counts[k] - before[k] for k in counts}

    A, B, x, y, b = build()
    SA, SB = ll.shard(A, {"M": 3}), ll.shard(B, ll.BatchSpec({"K": 2}))
    res, per_apply = {}, {}
    res["Ax"], per_apply["Ax"] = counted(lambda: SA(x))
    res["AHy"], per_apply["AHy"] = counted(lambda: SA.H(y))
    res["Bx"], per_apply["Bx"] = counted(lambda: SB(x))
    res["ANx"], per_apply["ANx"] = counted(lambda: SA.N(x))
    N = SA.N + ll.Scalar(torch.tensor(0.5, dtype=torch.float64), (6,), "N")
    res["solve"], per_apply["solve"] = counted(lambda: solve(N, b))
    local = [sum(t is not None for t in S.tiles) for S in (SA, SB)]
    torch.save({"res": res, "per_apply": per_apply, "local": local, "type": type(SA.N).__name__}, out)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)
def test_two_gloo_ranks_match_single_process(tmp_path):
    port, world = free_port(), 2
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(r), str(world), str(port), str(outs[r])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(world)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT)[0].decode(errors="replace"))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"gloo workers did not finish within {TIMEOUT} s")
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]
    results = [torch.load(o) for o in outs]
    expected = expected_results()
    for rank, r in enumerate(results):
        assert r["local"] == [[2, 2], [1, 1]][rank], "3 tiles each: rank 0 keeps tiles 0-1, rank 1 tile 2"
        assert r["type"] == "Sharded", "the normal stays sharded"
        for key in ("Ax", "AHy", "Bx", "ANx"):
            assert torch.allclose(r["res"][key], expected[key], rtol=1e-12, atol=1e-12), key
        sol = r["res"]["solve"]
        sol = sol[0] if isinstance(sol, tuple) else sol
        exp = expected["solve"][0] if isinstance(expected["solve"], tuple) else expected["solve"]
        assert torch.allclose(sol, exp, rtol=1e-9, atol=1e-9)
        # one collective per apply, chosen by the reassembly
        assert r["per_apply"]["Ax"] == {"all_gather": 1, "all_reduce": 0}  # disjoint output blocks
        assert r["per_apply"]["AHy"] == {"all_gather": 0, "all_reduce": 1}  # Aᴴ over row tiles: blocks add up
        assert r["per_apply"]["Bx"] == {"all_gather": 0, "all_reduce": 1}  # reduced dim
        assert r["per_apply"]["ANx"] == {"all_gather": 0, "all_reduce": 1}  # Σₖ Aₖᴴ Aₖ
        assert r["per_apply"]["solve"]["all_gather"] == 0 and r["per_apply"]["solve"]["all_reduce"] >= 1
    r0, r1 = (r["res"] for r in results)
    assert all(
        torch.equal(
            r0[k] if not isinstance(r0[k], tuple) else r0[k][0], r1[k] if not isinstance(r1[k], tuple) else r1[k][0]
        )
        for k in r0
    ), "ranks agree bitwise"


def test_shard_needs_a_process_group():
    A = ll.Dense(torch.randn(4, 3))
    with pytest.raises(RuntimeError, match="init_process_group"):
        ll.shard(A, {"o0": 2})


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
