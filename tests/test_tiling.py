"""Tiling and devices (DESIGN §6): split, BatchSpec, distribute, materialize."""

import io
import math
import pickle

import numpy as np
import pytest
import torch
from registry import REGISTRY, randn

import lazylinops as ll
from lazylinops.core.tiles import named_sizes
from lazylinops.testing import assert_close

SPLITTABLE = [e for e in REGISTRY if e.split_dims]
CUDA = torch.cuda.is_available()


def halves(A, dims):
    sizes = named_sizes(A)
    return {d: max(1, math.ceil(sizes[d] / 2)) for d in dims}


@pytest.fixture(params=SPLITTABLE, ids=str)
def splittable(request):
    return request.param


def _cases(entry):
    return [(d,) for d in entry.split_dims] + ([tuple(entry.split_dims)] if len(entry.split_dims) > 1 else [])


def test_distribute_equals_original(splittable, dtype):
    entry = splittable
    if dtype not in entry.dtypes:
        pytest.skip(f"{entry.name} does not support {dtype}")
    A = entry.build(dtype)
    D = A.to_dense()
    M, N = A.shape
    for dims in _cases(entry):
        T = ll.distribute(A, ll.BatchSpec(halves(A, dims), device_matrix=["cpu", "cpu"]))
        what = f"{entry.name} split {dims}"
        rtol = 1e-5 if dtype in (torch.float32, torch.complex64) else 1e-12  # tiles recombine exact blocks
        assert isinstance(T, ll.Tiled) and T.shape == A.shape and T.dtype == A.dtype
        x, X = randn(N, dtype=dtype, seed=1), randn(2, *A.isize, dtype=dtype, seed=2)
        Y = randn(2, *A.osize, dtype=dtype, seed=3)
        assert_close(T @ x, A @ x, rtol, what + " T @ x")
        assert_close(T(X), A(X), rtol, what + " T(X) batched")
        assert_close(T.H(Y), A.H(Y), rtol, what + " T.H(Y)")
        assert_close(T.N(X), A.N(X), rtol, what + " T.N(X)")
        assert_close(T.to_dense(), D, rtol, what + " to_dense")
        assert_close(T.H.to_dense(), D.mH, rtol, what + " T.H.to_dense")
        assert isinstance(T.H, ll.Tiled), "the adjoint stays distributed"
        TN = T.N
        assert isinstance(TN, ll.Tiled) or all(isinstance(op, ll.Tiled) for op in TN.ops), "the normal stays tiled"


def test_distribute_solve(splittable):
    entry, dtype = splittable, torch.float64
    if not hasattr(ll, "solve"):
        pytest.skip("ll.solve is not available yet (the solvers are being written)")
    if not entry.invertible or dtype not in entry.dtypes:
        pytest.skip(f"{entry.name} is not invertible in float64")
    A = entry.build(dtype)
    T = ll.distribute(A, ll.BatchSpec(halves(A, entry.split_dims[:1]), device_matrix=["cpu", "cpu"]))
    b = randn(A.shape[0], dtype=A.dtype, seed=4)
    x = torch.linalg.solve(T, b)
    expected = torch.linalg.solve(A.to_dense(), b)
    assert (x - expected).abs().max().item() <= 1e-8 * max(expected.abs().max().item(), 1.0)


def test_split_slices_and_grid():
    A = ll.Dense(randn(6, 5, dtype=torch.float64), ishape="N", oshape="M")
    tiles, ins, outs = ll.split(A, {"M": 4, "N": 2})
    assert tiles.shape == ins.shape == outs.shape == (2, 3)
    assert ins[1, 2] == [slice(4, 5)] and outs[1, 2] == [slice(4, 6)]
    D = A.to_dense()
    for idx in np.ndindex(tiles.shape):
        assert torch.equal(tiles[idx].to_dense(), D[outs[idx][0], ins[idx][0]])
    B = ll.Diagonal(randn(3, 4, dtype=torch.float64), "CN")
    tiles, ins, outs = ll.split(B, {"C": 2})
    assert ins[0] == outs[0] == [slice(0, 2), slice(None)]


def test_split_reduced_dim_adds_up():
    # a dim between two factors of a chain is reduced: Σₛ A[:, s] B[s, :] = A B
    A = ll.Dense(randn(4, 6, dtype=torch.float64), ishape="K", oshape="M")
    B = ll.Dense(randn(6, 3, dtype=torch.float64), ishape="N", oshape="K")
    C = ll.Chain(A, B)
    tiles, ins, outs = ll.split(C, {"K": 4})
    assert tiles.shape == (2,) and ins[0] == ins[1] == [slice(None)]
    T = ll.distribute(C, ll.BatchSpec({"K": 4}, device_matrix=["cpu", "cpu"]))
    assert_close(T.to_dense(), C.to_dense(), 1e-12, "reduced dim")
    x = randn(5, 3, dtype=torch.float64)
    assert_close(T(x), C(x), 1e-12, "reduced apply")
    assert_close(T.N(x), C.N(x), 1e-12, "reduced normal")


def test_split_refusals_name_the_dim():
    F = ll.FFT((4, 6), "CN", dim="N")
    with pytest.raises(ll.ShapeError, match="'N'.*transformed"):
        ll.split(F, {"N": 2})
    with pytest.raises(ll.ShapeError, match="no dim 'Q'"):
        ll.split(F, {"Q": 2})
    with pytest.raises(ValueError, match="positive int"):
        ll.split(F, {"C": 0})
    with pytest.raises(ll.ShapeError, match="not elementwise"):
        ll.split(ll.Dense(torch.randn(3, 3), ishape="N", oshape="N"), {"N": 2})
    with pytest.raises(ll.ShapeError, match="1:1"):
        ll.split(ll.Reshape((2, 6), (3, 4), "AB", "CD"), {"A": 1})
    R = ll.Reshape((2, 3, 4), (2, 12), "BHW", "BN")
    assert_close(ll.distribute(R, ll.BatchSpec({"B": 1})).to_dense(), R.to_dense(), 1e-5, "reshape 1:1")
    with pytest.raises(TypeError, match="BatchSpec"):
        ll.distribute(F, {"C": 2})


def test_sum_refuses_internal_dim_missing_from_a_term():
    A = ll.Dense(torch.randn(4, 6), ishape="K", oshape="M") @ ll.Dense(torch.randn(6, 3), ishape="N", oshape="K")
    S = ll.Sum(A, ll.Dense(torch.randn(4, 3), ishape="N", oshape="M"))
    with pytest.raises(ll.ShapeError, match="counted once per tile"):
        ll.split(S, {"K": 2})


def test_batchspec_fuzzy_broadcast():
    spec = ll.BatchSpec({"C": 1}, device_matrix=["cpu", "meta"])
    assert [d.type for d in spec.devices((3,), "cpu")] == ["cpu", "meta", "cpu"]
    assert [d.type for d in ll.BatchSpec({"C": 1}, ["meta", "cpu", "meta"]).devices((2,), "cpu")] == ["meta", "cpu"]
    grid = ll.BatchSpec({"C": 1, "N": 1}, [["cpu", "meta"]]).devices((2, 3), "cpu")
    assert [[d.type for d in row] for row in grid] == [["cpu", "meta", "cpu"]] * 2
    assert all(d.type == "cpu" for d in ll.BatchSpec({"C": 1}).devices((4,), "cpu"))
    with pytest.raises(ll.DeviceError):
        ll.BatchSpec({"C": 1}, device_matrix=["gpu-one"])
    with pytest.raises(AttributeError):
        spec.batch_sizes = {}


def test_meta_placement_and_repr():
    A = ll.FFT((4, 8), "CN", dim="N") @ ll.Diagonal(torch.rand(4, 8), "CN")
    T = ll.distribute(A, ll.BatchSpec({"C": 1}, device_matrix=["cpu", "meta"]))
    assert [d.type for d in T.devices] == ["cpu", "meta", "cpu", "meta"] and T.device.type == "cpu"
    for tile, mi, mo in zip(T.tiles, T.moves_in, T.moves_out):
        on_meta = tile.device.type == "meta"
        assert (mi is not None) == on_meta and (mo is not None) == on_meta
        assert all(w.device == tile.device for op in [tile, *tile.children()] for w in op.weights().values())
        if on_meta:
            assert isinstance(mi, ll.ToDevice) and mi.odevice.type == "meta" and mo.odevice.type == "cpu"
    text = repr(T)
    assert "tile 1 C[1:2] on meta" in text and "moved cpu⇄meta" in text and "Tiled" in text


def _count_moves(monkeypatch, device="meta"):
    calls = []
    original = torch.Tensor.to

    def counting(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if out.device.type == device and self.device.type != device:
            calls.append(self.shape)
        return out

    monkeypatch.setattr(torch.Tensor, "to", counting)
    return calls


def test_shared_weight_moved_once_per_device(monkeypatch):
    w = torch.rand(5)
    A = ll.Diagonal(w, "CN", size=(4, 5))  # the weight broadcasts over C: every C tile shares it
    calls = _count_moves(monkeypatch)
    T = ll.distribute(A, ll.BatchSpec({"C": 1}, device_matrix=["meta"], base_device="cpu"))
    assert len(T.tiles) == 4 and len(calls) == 1
    assert len({id(t.weight) for t in T.tiles}) == 1, "the four tiles hold one moved tensor"
    calls.clear()
    S = ll.Sum(ll.Dense(torch.rand(5, 5), ishape="N", oshape="M"), ll.Dense(torch.rand(5, 5), ishape="N", oshape="M"))
    shared = ll.Chain(S.ops[0], ll.Diagonal(w, "N"))
    both = ll.Sum(shared, ll.Chain(S.ops[1], ll.Diagonal(w, "N")))
    T = ll.distribute(both, ll.BatchSpec({"M": 3}, device_matrix=["meta"]))
    # 2 row tiles × 2 Dense views, and the Diagonal weight shared by both terms and both tiles: once
    assert len(calls) == 5


def test_scalar_and_row_views_moved_once(monkeypatch):
    A = ll.Dense(torch.rand(8, 3), ishape="N", oshape="M")
    calls = _count_moves(monkeypatch)
    T = ll.distribute(A, ll.BatchSpec({"M": 2}, device_matrix=["meta"]))
    assert len(calls) == 4 and sum(c.numel() for c in calls) == A.weight.numel()  # each row block once, nothing twice
    assert all(t.weight.device.type == "meta" for t in T.tiles)


def test_nested_specs_and_materialize(monkeypatch):
    A = ll.Dense(randn(3, 4, 5, dtype=torch.float64), "CHW", "HW", "CHW")
    specs = [ll.BatchSpec({"H": 2}, device_matrix=["cpu", "cpu"]), ll.BatchSpec({"W": 2})]
    T = ll.distribute(A, specs)
    assert all(isinstance(t, ll.Tiled) for t in T.tiles)
    x = randn(2, 4, 5, dtype=torch.float64)
    assert_close(T(x), A(x), 1e-12, "nested apply")
    import lazylinops.core.base as dispatch  # where to_dense and densify look the guard up

    expected = A.to_dense()
    checked = []
    original = dispatch.check_densify_limit
    monkeypatch.setattr(
        dispatch, "check_densify_limit", lambda op, what: (checked.append(op.shape), original(op, what))
    )
    dense = ll.materialize(A, specs)
    assert_close(dense, expected, 1e-12, "materialize")
    # only the result itself is as large as A; every other dense block is at most one (outer) tile
    outer_max = max(t.shape.numel() for t in T.tiles)
    inner_max = max(t.shape.numel() for outer in T.tiles for t in outer.tiles)
    assert [s for s in checked if s.numel() > outer_max] == [A.shape]
    assert sum(s.numel() > inner_max for s in checked) == 1 + len(T.tiles)  # the result, each outer tile's gather


def test_moves_and_casts_keep_or_gather_devices():
    A = ll.Diagonal(torch.rand(4, 3), "CN")
    T = ll.distribute(A, ll.BatchSpec({"C": 2}, device_matrix=["cpu", "meta"]))
    T64 = T.to(torch.float64)
    assert T64.dtype == torch.float64 and [d.type for d in T64.devices] == ["cpu", "meta"]
    G = T.to("meta")
    assert G.device.type == "meta" and all(d.type == "meta" for d in G.devices)
    assert all(m is None for m in G.moves_in)


def test_serialization_roundtrip():
    A = ll.FFT((4, 6), "CN", dim="N") @ ll.Diagonal(torch.rand(4, 6), "CN")
    T = ll.distribute(A, ll.BatchSpec({"C": 2}, device_matrix=["cpu"]))
    buf = io.BytesIO()
    torch.save(T, buf)
    buf.seek(0)
    for B in (pickle.loads(pickle.dumps(T)), torch.load(buf)):
        assert type(B) is ll.Tiled
        assert_close(B.to_dense(), A.to_dense(), 1e-5, "roundtrip")


def test_gradients_reach_the_original_weights():
    w = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    A = ll.Dense(w, ishape="N", oshape="M")
    T = ll.distribute(A, ll.BatchSpec({"M": 1, "N": 2}))
    x = torch.rand(3, dtype=torch.float64)
    (T @ x).sum().backward()
    expected = torch.ones(4, 1, dtype=torch.float64) * x  # d/dW Σ W x = 1 xᵀ
    assert torch.allclose(w.grad, expected)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("base", ["cpu", "cuda:0"])
def test_cuda_placement_and_streams(base):
    from lazylinops.tiling.execute import _STREAMS

    A = ll.FFT((8, 16), "CN", dim="N") @ ll.Diagonal(torch.rand(8, 16), "CN")
    T = ll.distribute(A, ll.BatchSpec({"C": 2}, device_matrix=["cuda:0", "cpu"], base_device=base))
    assert [d.type for d in T.devices] == ["cuda", "cpu", "cuda", "cpu"] and T.device == torch.device(base)
    x = torch.randn(3, 8, 16, dtype=torch.complex64)
    expected = A(x)
    got = T(x.to(base))
    if base == "cpu":
        assert torch.device("cuda:0") in _STREAMS, "remote CUDA tiles run on their device's streams"
    assert_close(got.cpu(), expected, 1e-5, "cuda apply")
    assert_close(T.H(got).cpu(), A.H(expected), 1e-5, "cuda adjoint")
    assert_close(T.to_dense().cpu(), A.to_dense(), 1e-5, "cuda to_dense")


def test_split_of_a_kronecker_with_a_concat_factor_along_the_other_factor():
    """A tile naming none of a Concat's dims leaves every block uncut (blocks such as FFT refuse any cut)."""
    C = torch.cat([ll.FFT((4,), "X"), ll.Dense(randn(3, 4, dtype=torch.complex128, seed=5), "YX", "X", "Y")])
    K = ll.Kronecker(C, ll.Diagonal(randn(6, dtype=torch.float64, seed=6), "Z"))
    T = ll.distribute(K, ll.BatchSpec({"Z": 2}))
    x = randn(*K.isize, dtype=torch.complex128, seed=7)
    assert_close(T(x), K(x), rtol=1e-12, what="split Kronecker(Concat, Diagonal)")


def test_split_of_a_renamed_permutation_refuses_the_renamed_dim():
    P = ll.Permutation(torch.tensor([2, 0, 1, 4, 3])).rename("A", "B")
    with pytest.raises(ll.ShapeError, match="position"):
        ll.split(P, {"B": 2})
    P2 = ll.Permutation(torch.tensor([1, 0]), "CH", dim="H", size=(3, 2))
    T = ll.distribute(P2, ll.BatchSpec({"C": 2}))
    x = randn(3, 2, dtype=torch.float64, seed=8)
    assert_close(T(x), P2(x), rtol=1e-12, what="split permutation along a batch-like dim")
