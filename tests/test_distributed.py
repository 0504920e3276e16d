"""Sharding tiles over torch.distributed ranks: real 2-process gloo groups on loopback.

Each test spawns two copies of this file as workers (``python test_distributed.py SCENARIO
RANK WORLD PORT OUTDIR``), bounded by a hard timeout (killed past it). Scenario "match":
each rank builds the same operator, shards it, applies it, solves with CG and counts the
collectives per apply; the parent compares with the single-process results. Scenario
"faults": one rank fails (bad input, an error inside its tile), the ranks disagree on
dtype or batch shape, or one rank never calls the apply; every rank must raise promptly.
"""

import os
import socket
import subprocess
import sys
import time

import pytest
import torch

import lazylinops as ll
from lazylinops.errors import DistributedError

TIMEOUT = 60  # the process group's and the sharded operators' timeout (s); also the hard bound per spawn
SHORT = 2.0  # the timeout of the operator that one rank never applies (s)

needs_gloo = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)


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


class Flaky(ll.LinearOperator):
    """``2·x`` along "M"; its apply raises when ``broken`` (one rank's tile failing mid-apply)."""

    def __init__(self, n, broken):
        super().__init__(ishape="M", oshape="M", isize=(n,), osize=(n,), dtype=torch.float64)
        self.broken = broken

    def _apply(self, x):
        if self.broken:
            raise RuntimeError("flaky tile: out of memory on this rank")
        return 2 * x

    _apply_adjoint = _apply

    def _split(self, tile):
        return Flaky(len(range(self.isize[0])[tile.get("M", slice(None))]), self.broken)


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


# ---------------------------------------------------------------------- workers
def init(rank, world, port):
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

    return dist, counted


def match(rank, world, port, outdir):
    dist, counted = init(rank, world, port)
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
    out = {"res": res, "per_apply": per_apply, "local": local, "type": type(SA.N).__name__}
    torch.save(out, os.path.join(outdir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def faults(rank, world, port, outdir):
    dist, counted = init(rank, world, port)
    A, B, x, y, _ = build()
    SA, SB = ll.shard(A, {"M": 3}, timeout=TIMEOUT), ll.shard(B, {"K": 2}, timeout=TIMEOUT)
    SF = ll.shard(Flaky(6, broken=rank == 1), {"M": 2}, timeout=TIMEOUT)
    res = {}

    def attempt(name, fn):
        start = time.perf_counter()
        try:
            (value, counts), error = counted(fn), None
        except Exception as exc:  # recorded for the parent to check
            value, counts, error = None, None, exc
        res[name] = {
            "seconds": time.perf_counter() - start,
            "error": None if error is None else type(error).__name__,
            "message": "" if error is None else str(error),
            "ranks": getattr(error, "ranks", None),
            "is_ll": isinstance(error, ll.LazyLinopsError),
            "value": value,
            "counts": counts,
        }

    one = rank == 1
    attempt("shape", lambda: SB(x[..., :5] if one else x))  # rank 1: ShapeError before any tile runs
    attempt("matmul", lambda: SA @ (torch.ones(5, dtype=torch.float64) if one else torch.ones(6, dtype=torch.float64)))
    attempt("inside", lambda: SF(x))  # rank 1's tile raises inside the apply
    attempt("after", lambda: SA(x))  # the group is still in step
    attempt("complex", lambda: SA(x.to(torch.complex128) if one else x))
    attempt("float32", lambda: SA(x.float() if one else x))
    attempt("batch", lambda: SA(x[:2] if one else x))
    attempt("reduce_batch", lambda: SB(x[:2] if one else x))
    attempt("adjoint", lambda: SA.H(y) if one else SA(x))
    attempt("after2", lambda: SB(x))
    # last: rank 1 never applies; rank 0 must give up after SHORT s (the group is out of step then)
    short = ll.shard(A, {"M": 3}, timeout=SHORT)
    if rank == 0:
        attempt("skipped", lambda: short(x))
    torch.save(res, os.path.join(outdir, f"rank{rank}.tmp"))
    os.replace(os.path.join(outdir, f"rank{rank}.tmp"), os.path.join(outdir, f"rank{rank}.pt"))
    if rank == 1:  # stay alive (a dead peer fails fast) until rank 0 has given up and saved
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(os.path.join(outdir, "rank0.pt")) and time.monotonic() < deadline:
            time.sleep(0.05)
    os._exit(0)  # no teardown: rank 0 still has the skipped collective pending


SCENARIOS = {"match": match, "faults": faults}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(scenario, outdir, world=2):
    """Run ``scenario`` on ``world`` gloo ranks; every worker is killed past ``TIMEOUT`` seconds."""
    port = free_port()
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, scenario, str(r), str(world), str(port), str(outdir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(world)
    ]
    logs, deadline = [], time.monotonic() + TIMEOUT
    try:
        for p in procs:
            logs.append(p.communicate(timeout=max(deadline - time.monotonic(), 1))[0].decode(errors="replace"))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.wait()
        pytest.fail(f"gloo workers ({scenario}) did not finish within {TIMEOUT} s")
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]
    return [torch.load(outdir / f"rank{r}.pt") for r in range(world)]


# ---------------------------------------------------------------------- tests
@needs_gloo
def test_two_gloo_ranks_match_single_process(tmp_path):
    results = spawn("match", tmp_path)
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
        # per apply: one small agreement all_gather, then one data collective chosen by the reassembly
        assert r["per_apply"]["Ax"] == {"all_gather": 2, "all_reduce": 0}  # disjoint output blocks
        assert r["per_apply"]["AHy"] == {"all_gather": 1, "all_reduce": 1}  # Aᴴ over row tiles: blocks add up
        assert r["per_apply"]["Bx"] == {"all_gather": 1, "all_reduce": 1}  # reduced dim
        assert r["per_apply"]["ANx"] == {"all_gather": 1, "all_reduce": 1}  # Σₖ Aₖᴴ Aₖ
        solve_counts = r["per_apply"]["solve"]
        assert solve_counts["all_reduce"] >= 1 and solve_counts["all_gather"] == solve_counts["all_reduce"]
    r0, r1 = (r["res"] for r in results)
    assert all(
        torch.equal(
            r0[k] if not isinstance(r0[k], tuple) else r0[k][0], r1[k] if not isinstance(r1[k], tuple) else r1[k][0]
        )
        for k in r0
    ), "ranks agree bitwise"


@pytest.fixture(scope="module")
def fault_results(tmp_path_factory):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    return spawn("faults", tmp_path_factory.mktemp("faults"))


def prompt(r):
    """An error that came well inside the operators' timeout: nobody waited for the failed rank."""
    assert r["seconds"] < TIMEOUT / 6, r


def test_rank_that_raises_fails_every_rank_promptly(fault_results):
    r0, r1 = fault_results
    # rank 1's input has the wrong shape: it raises its own ShapeError, rank 0 a DistributedError naming it
    assert r1["shape"]["error"] == "ShapeError" and "expected input of shape" in r1["shape"]["message"]
    assert r0["shape"]["error"] == "DistributedError" and r0["shape"]["is_ll"]
    assert r0["shape"]["ranks"] == (1,) and "ShapeError" in r0["shape"]["message"]
    assert r0["shape"]["message"].count("rank 1") >= 1 and "expected input of shape" in r0["shape"]["message"]
    # the same through A @ x with a vector of the wrong length
    assert r1["matmul"]["error"] == "ShapeError" and r0["matmul"]["error"] == "DistributedError"
    assert r0["matmul"]["ranks"] == (1,)
    for r in (r0, r1):
        prompt(r["shape"])
        prompt(r["matmul"])


def test_error_inside_a_tile_fails_every_rank(fault_results):
    r0, r1 = fault_results
    assert r1["inside"]["error"] == "RuntimeError" and "flaky tile" in r1["inside"]["message"]
    assert r0["inside"]["error"] == "DistributedError" and r0["inside"]["ranks"] == (1,)
    assert "RuntimeError: flaky tile: out of memory on this rank" in r0["inside"]["message"]
    prompt(r0["inside"])
    prompt(r1["inside"])


def test_group_stays_usable_after_a_failed_apply(fault_results):
    A, B, x, _, _ = build()
    for r in fault_results:
        assert r["after"]["error"] is None and torch.allclose(r["after"]["value"], A(x), rtol=1e-12, atol=1e-12)
        assert r["after2"]["error"] is None and torch.allclose(r["after2"]["value"], B(x), rtol=1e-12, atol=1e-12)
        assert r["after"]["counts"] == {"all_gather": 2, "all_reduce": 0}


@pytest.mark.parametrize("case, dtypes", [("complex", ("float64", "complex128")), ("float32", ("float64", "float32"))])
def test_dtype_mismatch_fails_every_rank(fault_results, case, dtypes):
    for r in fault_results:
        got = r[case]
        assert got["error"] == "DistributedError", got
        assert f"rank 0: apply of a torch.{dtypes[0]} input" in got["message"]
        assert f"rank 1: apply of a torch.{dtypes[1]} input" in got["message"]
        assert got["counts"] is None and 1 in got["ranks"]
        prompt(got)


@pytest.mark.parametrize("case", ["batch", "reduce_batch"])
def test_batch_mismatch_fails_every_rank(fault_results, case):
    for r in fault_results:
        got = r[case]
        assert got["error"] == "DistributedError", got
        assert "rank 0: apply of a torch.float64 input with batch shape (3,)" in got["message"]
        assert "rank 1: apply of a torch.float64 input with batch shape (2,)" in got["message"]
        prompt(got)


def test_apply_and_adjoint_on_different_ranks_fail(fault_results):
    for r in fault_results:
        got = r["adjoint"]
        assert got["error"] == "DistributedError" and "different sharded operators" in got["message"]
        assert "rank 0: apply of a torch.float64 input with batch shape (3,)" in got["message"]  # A x
        assert "rank 1: apply of a torch.float64 input with batch shape (3,)" in got["message"]  # (Aᴴ) y
        prompt(got)


def test_rank_that_never_applies_times_out(fault_results):
    got = fault_results[0]["skipped"]
    assert got["error"] == "DistributedError" and f"within {SHORT:g} s" in got["message"]
    assert SHORT * 0.9 <= got["seconds"] < SHORT + 15, got["seconds"]  # the operator's timeout, not the group's
    assert "skipped" not in fault_results[1]


def test_shard_needs_a_process_group():
    A = ll.Dense(torch.randn(4, 3))
    with pytest.raises(RuntimeError, match="init_process_group"):
        ll.shard(A, {"o0": 2})


@pytest.mark.parametrize("bad", [0, -1.0, "60", True])
def test_shard_timeout_must_be_positive_seconds(bad):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        ll.shard(ll.Dense(torch.randn(4, 3)), {"o0": 2}, timeout=bad)


def test_distributed_error_is_a_lazylinops_runtime_error():
    assert issubclass(DistributedError, ll.LazyLinopsError) and issubclass(DistributedError, RuntimeError)
    assert DistributedError("x", ranks=[1]).ranks == (1,)


if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
