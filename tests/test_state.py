"""Operator state (DESIGN §3 "Immutable", "No aliasing", "Never stale"; §7 per-thread densify).

- Never stale: operators built once on ``nn.Parameter`` weights, stepped by ``torch.optim``,
  answer solve / ``.N`` / tags / ``.H`` exactly like an operator freshly built from the
  current weight values, after every step.
- No aliasing: writing into a result never changes the caller's tensor or the operator.
- Immutable: every mutation entry point raises ``ll.ImmutableError``, operator unchanged.
- Empty operands give empty results for every registry entry.
- ``ll.set_densify`` is per thread.
"""

import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

import lazylinops as ll


def P(t):
    return nn.Parameter(t.clone())


def _g(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- never stale
def _cases():
    n = 6
    g = _g(0)
    eye = torch.eye(n, dtype=torch.float64)
    return {
        "diagonal": (lambda: [P(torch.rand(n, generator=g, dtype=torch.float64) + 0.5)], lambda d: ll.Diagonal(d, "N")),
        "dense": (lambda: [P(3 * eye + 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64))], ll.Dense),
        "dense_einsum": (
            lambda: [P((3 * eye + 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64)).reshape(2, 3, 2, 3))],
            lambda W: ll.Dense(W, weightshape=("A", "B", "a", "b"), ishape=("a", "b"), oshape=("A", "B")),
        ),
        "woodbury": (
            lambda: [
                P(torch.rand(n, generator=g, dtype=torch.float64) + 1),
                P(0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)),
            ],
            lambda d, U: ll.Diagonal(d) + ll.LowRank(U),
        ),
        "kronecker_dense": (
            lambda: [
                P(2 * torch.eye(2, dtype=torch.float64) + 0.2 * torch.randn(2, 2, generator=g, dtype=torch.float64)),
                P(2 * torch.eye(3, dtype=torch.float64) + 0.2 * torch.randn(3, 3, generator=g, dtype=torch.float64)),
            ],
            lambda a, b: ll.Kronecker(ll.Dense(a), ll.Dense(b)),
        ),
        "fft_diagonal": (
            lambda: [P((torch.rand(n, generator=g, dtype=torch.float64) + 0.5).to(torch.complex128))],
            lambda d: ll.FFT((n,), dtype=torch.complex128) @ ll.Diagonal(d),
        ),
        "sum": (
            lambda: [
                P(torch.rand(n, generator=g, dtype=torch.float64) + 2),
                P(0.3 * torch.randn(n, n, generator=g, dtype=torch.float64)),
            ],
            lambda d, W: ll.Sum(ll.Diagonal(d), ll.Dense(W)),
        ),
    }


CASES = _cases()


def _derived(A, b, y):
    """Everything an operator derives (and may cache) from its weights."""
    return {
        "solve": ll.solve(A, b),
        "N": A.N.to_dense(),
        "tags": A.tags,
        "H": A.H @ y,
        "torch_solve": torch.linalg.solve(A, b),
        "apply": A @ b,
    }


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_never_leave_derived_values_stale(name, optimizer):
    make, build = CASES[name]
    params = make()
    A = build(*params)  # built ONCE; the optimizer writes into its weights in place
    opt = torch.optim.SGD(params, lr=0.05) if optimizer == "sgd" else torch.optim.Adam(params, lr=0.05)
    b = torch.randn(A.shape[0], generator=_g(1), dtype=torch.float64).to(A.dtype)
    y = torch.randn(A.shape[0], generator=_g(2), dtype=torch.float64).to(A.dtype)
    for step in range(3):
        with torch.no_grad():
            _derived(A, b, y)  # fill every cache at the current weights
        target = torch.randn(A.shape[0], generator=_g(10 + step), dtype=torch.float64).to(A.dtype)
        loss = (A @ b - target).abs().pow(2).sum() + (ll.solve(A, b) - target).abs().pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        fresh = build(*[p.detach().clone() for p in params])
        with torch.no_grad():
            got, want = _derived(A, b, y), _derived(fresh, b, y)
        assert got["tags"] == want["tags"], f"{name} step {step}: tags {sorted(got['tags'])} != {sorted(want['tags'])}"
        for key in ("solve", "N", "H", "torch_solve", "apply"):
            torch.testing.assert_close(got[key], want[key], rtol=1e-8, atol=1e-8, msg=f"{name} step {step}: {key}")


def test_value_tags_follow_the_weight_sign():
    w = torch.tensor([1.0, 2.0, 3.0])
    D = ll.Diagonal(w)
    assert "pd" in D.tags and "pd" in D.N.tags
    with torch.no_grad():
        w[1] = -2.0
    assert "pd" not in D.tags and "psd" not in D.tags and "hermitian" in D.tags
    S = ll.Sum(ll.Diagonal(w), ll.Identity((3,)))
    assert "pd" not in S.tags
    with torch.no_grad():
        w[1] = 2.0
    assert "pd" in S.tags and "pd" in D.tags


def _composites(p, q, c):
    """Composites over Diagonal weights ``p``, ``q`` (real) and ``c`` (complex); weights used as given (aliased)."""

    def D(w, n="N"):
        return ll.Diagonal(w, n)

    I4 = ll.Identity((4,), "N", dtype=p.dtype, device=p.device)
    return {
        "kronecker": lambda: ll.Kronecker(D(p), D(q, "M")),
        "block_diagonal": lambda: ll.Concat(D(p), D(q), idim="N", odim="N"),
        "block_diagonal_renamed": lambda: ll.Concat(D(p), D(q), idim="N", odim="N").rename(ishape="A", oshape="B"),
        "stack_diagonal": lambda: ll.Stack(D(p), D(q), idim="S", odim="S"),
        "adjoint": lambda: ll.Adjoint(D(p)),
        "H": lambda: D(c).H,
        "conj": lambda: ll.Conj(D(c)),
        "inverse": lambda: ll.Inverse(D(p)),
        "distribute": lambda: ll.distribute(D(p), ll.BatchSpec({"N": 2})),
        "sum": lambda: ll.Sum(D(p), I4),
        "scaled": lambda: 2.0 * ll.Kronecker(D(p), D(q, "M")),
        "renamed": lambda: D(p).rename(ishape="A", oshape="B"),
        "woodbury": lambda: ll.Woodbury(D(p), ll.LowRank(q.reshape(4, 1), ishape="N", oshape="N")),
    }


COMPOSITES = sorted(_composites(*[torch.ones(4)] * 3))


@pytest.mark.parametrize("name", COMPOSITES)
def test_composite_tags_follow_in_place_weight_changes(name):
    p = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    q, c = p + 1, p.to(torch.complex128)
    build = _composites(p, q, c)[name]
    A = build()
    before = A.tags
    assert "pd" in before or name == "distribute", f"{name}: {sorted(before)}"  # the positive weights are seen
    for sign in (-1, -1):  # negative, then positive again
        with torch.no_grad():
            for w in (p, q, c):
                w.mul_(sign)
        assert A.tags == build().tags, f"{name}: tags {sorted(A.tags)} != fresh {sorted(build().tags)}"
    assert A.tags == before


_READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__}


class _CountReads(TorchFunctionMode):
    """Counts host reads of tensor values (each one a device sync on an accelerator)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _READS:
            self.reads.append(func.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", COMPOSITES)
def test_building_composites_reads_no_weight_values(name):
    p = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    build = _composites(p, p + 1, p.to(torch.complex128))[name]
    with _CountReads() as mode:
        A = build()
    assert mode.reads == [], f"{name}: building read weight values: {mode.reads}"
    with _CountReads() as first:
        A.tags  # noqa: B018 - value tags: computed on request, at most one read per weight …
    with _CountReads() as again:
        A.tags  # noqa: B018 - … and cached
    assert len(first.reads) <= len(A._tree_tensors()) and again.reads == [], f"{name}: {first.reads}, {again.reads}"
    meta = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, device="meta")  # no values at all
    A = _composites(meta, meta.clone(), meta.to(torch.complex128))[name]()
    assert A.device.type == "meta" and "pd" not in A.tags


@pytest.mark.parametrize("kind", ["diagonal", "dense"])
def test_nan_written_into_a_weight_is_seen(kind):
    w = torch.tensor([2.0, 3.0, 4.0]) if kind == "diagonal" else torch.diag(torch.tensor([2.0, 3.0, 4.0]))
    A = ll.Diagonal(w) if kind == "diagonal" else ll.Dense(w)
    b = torch.ones(3)
    torch.testing.assert_close(ll.solve(A, b), b / torch.tensor([2.0, 3.0, 4.0]))  # caches the inverse
    with torch.no_grad():
        w.view(-1)[0] = float("nan")
    assert torch.isnan(A @ b).any()
    with pytest.raises(ValueError):
        ll.solve(A, b)
    with pytest.raises(ValueError):
        torch.linalg.solve(A, b)


def test_version_key_sees_children_weights():
    w = torch.rand(4) + 1
    C = ll.FFT((4,)) @ ll.Diagonal(w.to(torch.complex64))
    inner = C._tree_tensors()
    assert len(inner) == 1
    key = C._version_key()
    with torch.no_grad():
        inner[0].mul_(2)
    assert C._version_key() != key
    assert ll.FFT((4,))._version_key() == ()  # weightless: nothing to compare


# ---------------------------------------------------------------------------- no aliasing
def _shares(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


ALIAS_CASES = {
    "Reshape(x)": (lambda: ll.Reshape((12,), (3, 4)), lambda A, x: A(x), (12,)),
    "Reshape @ x": (lambda: ll.Reshape((12,), (3, 4)), lambda A, x: A @ x, (12,)),
    "Reshape @ X": (lambda: ll.Reshape((12,), (3, 4)), lambda A, x: A @ x, (12, 2)),
    "Identity(x)": (lambda: ll.Identity((3, 4)), lambda A, x: A(x), (3, 4)),
    "Identity(batch)": (lambda: ll.Identity((3, 4)), lambda A, x: A(x), (2, 3, 4)),
    "Identity @ x": (lambda: ll.Identity((3, 4)), lambda A, x: A @ x, (12,)),
    "Identity @ x (1-D)": (lambda: ll.Identity((12,)), lambda A, x: A @ x, (12,)),
    "x @ Identity": (lambda: ll.Identity((3, 4)), lambda A, x: x @ A, (2, 12)),
    "Identity.H @ x": (lambda: ll.Identity((3, 4)), lambda A, x: A.H @ x, (12,)),
    "Identity.T @ x": (lambda: ll.Identity((3, 4)), lambda A, x: A.T @ x, (12,)),
    "torch.matmul(Identity, x)": (lambda: ll.Identity((12,)), lambda A, x: torch.matmul(A, x), (12, 3)),
    "Crop(x)": (lambda: ll.Crop((6,), (1,)), lambda A, x: A(x), (6,)),
    "Pad.H(y)": (lambda: ll.Pad((4,), (1,)), lambda A, x: A.H(x), (6,)),
    "ToDevice cpu→cpu": (lambda: ll.ToDevice("cpu", "cpu", (12,)), lambda A, x: A @ x, (12,)),
    "inv(Reshape) @ x": (lambda: ll.Reshape((12,), (3, 4)), lambda A, x: ll.inv(A) @ x, (12,)),
}


@pytest.mark.parametrize("case", sorted(ALIAS_CASES))
def test_results_never_alias_the_input(case):
    build, call, shape = ALIAS_CASES[case]
    A = build()
    base = torch.randn(4, *shape, generator=_g(3))
    x = base[1]  # a view: the result must not share memory with it nor with its base
    before = base.clone()
    y = call(A, x)
    assert not _shares(y, base), case
    y.view(-1)[0] = 123.0
    assert torch.equal(base, before), f"{case}: writing into the result changed the input"


def test_fresh_intermediate_views_are_not_copied():
    A = ll.Chain(ll.Reshape((12,), (3, 4), ishape="N", oshape="HW"), ll.Diagonal(torch.rand(12) + 1, "N"))
    y = A(torch.randn(12))  # the Reshape views the Diagonal's fresh output: no copy needed
    assert y._base is not None


def test_to_dense_and_densify_never_expose_a_weight():
    W = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
    D = ll.Dense(W)
    before = W.clone()
    dense = D.to_dense()
    assert not _shares(dense, W)
    dense.mul_(0)
    d = ll.Diagonal(torch.tensor([1.0, -2.0]))
    d.diagonal().mul_(0)
    assert torch.equal(d.weight, torch.tensor([1.0, -2.0]))
    with ll.set_densify("allow"):
        out = F.embedding(torch.tensor([0, 1]), D, max_norm=1.0)  # renormalises its weight argument in place
    torch.testing.assert_close(out, F.embedding(torch.tensor([0, 1]), before.clone(), max_norm=1.0))
    assert torch.equal(W, before) and torch.equal(D.weight, before)


# ---------------------------------------------------------------------------- immutable
def _ops():
    return {
        "Dense": ll.Dense(torch.tensor([[1.0, -2.0], [3.0, -4.0]])),
        "Diagonal": ll.Diagonal(torch.tensor([1.0, -2.0])),
    }


def _snapshot(A):
    return [(t.clone(), t._version) for t in A._tree_tensors()]


def _unchanged(A, snap):
    return all(torch.equal(t, c) and t._version == v for t, (c, v) in zip(A._tree_tensors(), snap, strict=True))


def _set_data(A):
    A.data = torch.zeros(2, 2)


def _set_grad(A):
    A.grad = torch.zeros(2, 2)


MUTATIONS = {
    "A.data = t": _set_data,
    "A.grad = t": _set_grad,
    "A.set_(t)": lambda A: A.set_(torch.zeros(2, 2)),
    "A.add_(1)": lambda A: A.add_(1),
    "A += 1": lambda A: A.__iadd__(1),
    "A[0] = 1": lambda A: A.__setitem__(0, 1.0),
    "A.zero_()": lambda A: A.zero_(),
    "torch.add(out=A)": lambda A: torch.add(torch.ones(2, 2), 1, out=A),
    "A.copy_(tensor)": lambda A: A.copy_(torch.zeros(2, 2)),
    **{
        f"nn.init.{name}": (lambda A, name=name, args=args: getattr(nn.init, name)(A, *args))
        for name, args in (
            ("normal_", ()),
            ("uniform_", ()),
            ("constant_", (1.0,)),
            ("zeros_", ()),
            ("ones_", ()),
            ("eye_", ()),
            ("xavier_uniform_", ()),
            ("xavier_normal_", ()),
            ("kaiming_uniform_", ()),
            ("kaiming_normal_", ()),
            ("trunc_normal_", ()),
            ("orthogonal_", ()),
            ("sparse_", (0.5,)),
        )
    },
}


@pytest.mark.parametrize("kind", ["Dense", "Diagonal"])
@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_mutation_entry_points_are_refused(what, kind):
    A = _ops()[kind]
    snap = _snapshot(A)
    with ll.set_densify("allow"), pytest.raises(ll.ImmutableError) as info:
        MUTATIONS[what](A)
    assert "immutable" in str(info.value)
    assert _unchanged(A, snap), f"{what} changed the operator"


INPLACE_FORMS = {
    "relu": lambda A: F.relu(A, inplace=True),
    "relu (positional)": lambda A: F.relu(A, True),
    "relu_": lambda A: F.relu_(A),
    "leaky_relu": lambda A: F.leaky_relu(A, inplace=True),
    "elu": lambda A: F.elu(A, inplace=True),
    "selu": lambda A: F.selu(A, inplace=True),
    "celu": lambda A: F.celu(A, inplace=True),
    "hardtanh": lambda A: F.hardtanh(A, inplace=True),
    "relu6": lambda A: F.relu6(A, inplace=True),
    "threshold": lambda A: F.threshold(A, 0.0, 1.0, inplace=True),
    "silu": lambda A: F.silu(A, inplace=True),
    "mish": lambda A: F.mish(A, inplace=True),
    "hardswish": lambda A: F.hardswish(A, inplace=True),
    "hardsigmoid": lambda A: F.hardsigmoid(A, inplace=True),
    "rrelu": lambda A: F.rrelu(A, inplace=True),
    "dropout": lambda A: F.dropout(A, 0.5, True, inplace=True),
    "alpha_dropout": lambda A: F.alpha_dropout(A, 0.5, True, inplace=True),
    "feature_alpha_dropout": lambda A: F.feature_alpha_dropout(A, 0.5, True, inplace=True),
}


@pytest.mark.parametrize("form", sorted(INPLACE_FORMS))
def test_inplace_functional_forms_leave_the_operator_unchanged(form):
    A = _ops()["Dense"]
    snap = _snapshot(A)
    with ll.set_densify("allow"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ll.ImmutableError, match="immutable"):
            INPLACE_FORMS[form](A)
    assert _unchanged(A, snap), f"F.{form}(inplace=True) changed the operator"


def test_copy_from_identical_structure_still_loads():
    A = ll.Diagonal(torch.tensor([1.0, 2.0]))
    B = ll.Diagonal(torch.tensor([3.0, 4.0]))
    assert "pd" in A.tags and torch.equal(A.N.to_dense(), torch.diag(torch.tensor([1.0, 4.0])))
    A.copy_(B)
    assert torch.equal(A @ torch.ones(2), torch.tensor([3.0, 4.0]))
    assert torch.equal(A.N.to_dense(), torch.diag(torch.tensor([9.0, 16.0])))


# ---------------------------------------------------------------------------- empty operands
def test_empty_operands_give_empty_results(entry):
    dtype = entry.dtypes[0]
    A = entry.build(dtype)
    M, N = A.shape
    want = torch.promote_types(A.dtype, dtype)
    cases = {
        "A @ zeros(N, 0)": (lambda: A @ torch.zeros(N, 0, dtype=dtype), (M, 0)),
        "A @ zeros(0, N, 2)": (lambda: A @ torch.zeros(0, N, 2, dtype=dtype), (0, M, 2)),
        "A(zeros(0, *isize))": (lambda: A(torch.zeros(0, *A.isize, dtype=dtype)), (0, *A.osize)),
        "zeros(0, M) @ A": (lambda: torch.zeros(0, M, dtype=dtype) @ A, (0, N)),
        "zeros(3, 0, M) @ A": (lambda: torch.zeros(3, 0, M, dtype=dtype) @ A, (3, 0, N)),
        "A.H @ zeros(M, 0)": (lambda: A.H @ torch.zeros(M, 0, dtype=dtype), (N, 0)),
    }
    for what, (call, shape) in cases.items():
        y = call()
        assert tuple(y.shape) == shape and y.dtype == want, f"{entry.name} {what}: {tuple(y.shape)} {y.dtype}"


def test_empty_input_keeps_the_graph():
    x = torch.zeros(4, 0, requires_grad=True)
    y = ll.Diagonal(torch.rand(4)) @ x
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == (4, 0)


def test_operator_with_a_size_zero_dim():
    Z = ll.Dense(torch.zeros(3, 0))
    torch.testing.assert_close(Z @ torch.zeros(0), torch.zeros(3))
    torch.testing.assert_close(Z(torch.zeros(0)), torch.zeros(3))
    assert (torch.ones(3) @ Z).shape == (0,)


# ---------------------------------------------------------------------------- threads
def test_fixture_densify_mode_reaches_the_test():
    assert ll.get_densify()[0] == "error"  # the conftest fixture runs in the test's context


def test_set_densify_is_per_thread():
    barrier = threading.Barrier(2, timeout=30)
    seen, errors = {}, []

    def worker(name, mode):
        try:
            seen[name, "start"] = ll.get_densify()[0]
            barrier.wait()  # both threads enter their with-blocks here
            with ll.set_densify(mode, limit_bytes=1000 if mode == "error" else None):
                barrier.wait()  # both blocks are active now
                seen[name, "inside"] = ll.get_densify()
                barrier.wait()  # the other thread has read its own mode too
            seen[name, "after"] = ll.get_densify()[0]
            barrier.wait()
        except Exception as exc:  # noqa: BLE001  reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(n, m)) for n, m in (("a", "error"), ("b", "allow"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen["a", "inside"] == ("error", 1000)
    assert seen["b", "inside"][0] == "allow" and seen["b", "inside"][1] == 2 * 1024**3
    assert seen["a", "start"] == seen["b", "start"] == "warn"  # new threads start from the default
    assert seen["a", "after"] == seen["b", "after"] == "warn"
    assert ll.get_densify()[0] == "error"  # the main thread's (fixture) mode never moved


def test_densify_mode_of_one_thread_does_not_leak_into_another():
    A = ll.Dense(torch.eye(3))
    started, release = threading.Event(), threading.Event()
    result = {}

    def allowing():
        with ll.set_densify("allow"):
            started.set()
            release.wait(timeout=30)

    t = threading.Thread(target=allowing)
    t.start()
    started.wait(timeout=30)
    try:
        with pytest.raises(ll.DensifyError):  # this thread is still in "error" mode
            torch.exp(A)
        result["mode"] = ll.get_densify()[0]
    finally:
        release.set()
        t.join()
    assert result["mode"] == "error"
