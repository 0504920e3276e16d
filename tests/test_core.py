"""Foundation behaviours beyond the contract: names, errors, densify, counting, dtypes."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

import lazylinops as ll
from lazylinops.core.base import LinearOperator


# ---------------------------------------------------------------- named dims
def test_dim_parsing():
    assert ll.Dim("HW") == ("H", "W")
    assert ll.Dim("KxKy") == ("Kx", "Ky")
    assert ll.Dim("H W") == ("H", "W")
    assert ll.Dim("") == ()
    assert ll.Dim("xy") == ("xy",)
    assert ll.Dim(("a", "b")) == ("a", "b")
    assert ll.Dim("C Kx Ky") == ("C", "Kx", "Ky")


def test_dim_rejects_bad_specs():
    with pytest.raises(ll.ShapeError, match="non-empty strings"):
        ll.Dim(("a", 3))
    with pytest.raises(ll.ShapeError, match="string or a tuple"):
        ll.Dim(5)
    with pytest.raises(ll.ShapeError, match="repeats"):
        ll.Identity((2, 2), "HH")
    with pytest.raises(ll.ShapeError, match="names"):
        ll.Identity((2, 2), "H")


def test_default_names_square_share_names():
    A, B = ll.Dense(torch.randn(3, 3)), ll.Diagonal(torch.randn(3))
    assert A.ishape == A.oshape == B.ishape
    C = A + B
    assert type(C) is ll.Sum
    assert (A @ B).ishape == B.ishape


def test_rename_keeps_class_and_values():
    A = ll.FFT((4, 4), "HW")
    B = A.rename(ishape="XY", oshape="KxKy")
    assert type(B) is ll.FFT and B.ishape == ("X", "Y") and B.oshape == ("Kx", "Ky")
    assert torch.equal(B.to_dense(), A.to_dense())
    C = (ll.Diagonal(torch.rand(4, 4), "HW") @ A).rename(ishape="XY")
    assert C.ishape == ("X", "Y") and C.H.oshape == ("X", "Y")


# ---------------------------------------------------------------- bad input
def test_apply_size_mismatch_names_both_shapes():
    A = ll.Diagonal(torch.rand(4, 5), "HW")
    with pytest.raises(ll.ShapeError, match=r"⟨H:4 W:5⟩.*got \(4, 6\)"):
        A(torch.rand(4, 6))
    with pytest.raises(ll.ShapeError, match=r"20×20 matrix.*got x of shape \(21,\)"):
        A @ torch.rand(21)
    with pytest.raises(ll.ShapeError, match=r"x @ A"):
        torch.rand(3, 19) @ A


def test_compose_mismatch_names_both_shapes_and_fix():
    A = ll.Dense(torch.rand(6, 20), oshape="M", ishape="Q")
    B = ll.Diagonal(torch.rand(3), "Q")
    with pytest.raises(ll.ShapeError, match=r"Dense ⟨M:6⟩←⟨Q:20⟩ after Diagonal ⟨Q:3⟩←⟨Q:3⟩.*ll.Reshape"):
        A @ B
    with pytest.raises(ll.ShapeError, match=r"must equal the output"):
        ll.Chain(ll.Diagonal(torch.rand(2, 3), "HW"), ll.Diagonal(torch.rand(6), "N"))


def test_compose_with_different_names_joins_with_visible_reshape():
    A = ll.Dense(torch.rand(3, 6))
    B = ll.Diagonal(torch.rand(2, 3), "HW")
    C = A @ B
    assert any(type(op) is ll.Reshape for op in C.ops)
    assert "Reshape" in repr(C)
    torch.testing.assert_close(C.to_dense(), A.to_dense() @ B.to_dense())


def test_integer_and_bool_inputs_are_refused():
    A = ll.Diagonal(torch.rand(3))
    for x in (torch.arange(3), torch.ones(3, dtype=torch.bool)):
        with pytest.raises(ll.DtypeError, match="not a floating or complex dtype"):
            A(x)
        with pytest.raises(ll.DtypeError):
            A @ x
    with pytest.raises(ll.DtypeError):
        ll.Diagonal(torch.arange(3))
    with pytest.raises(ll.DtypeError):
        A.to(torch.int64)


def test_wrong_device_string_is_clear():
    with pytest.raises(ll.DeviceError, match="'gpu0' is not a device"):
        ll.Identity((3,), device="gpu0")
    with pytest.raises(ll.DeviceError):
        ll.Diagonal(torch.rand(3)).to("nonsense")


def test_operator_and_input_on_different_devices():
    A = ll.Identity((3,), device="meta")
    B = ll.FFT((3,), device="cpu")
    with pytest.raises(ll.DeviceError, match="operator is on cpu, input on meta"):
        B(torch.empty(3, dtype=torch.complex64, device="meta"))
    assert A.device.type == "meta"


def test_in_place_and_out_are_refused():
    A = ll.Diagonal(torch.rand(3))
    B = ll.Identity((3,))
    with pytest.raises(ll.ImmutableError, match="immutable"):
        A.add_(B)
    with pytest.raises(ll.ImmutableError):
        A.mul_(2)
    with pytest.raises(ll.ImmutableError):
        A += B
    with pytest.raises(ll.ImmutableError):
        A[0, 0] = 1.0
    with pytest.raises(ll.ImmutableError, match="out="):
        torch.matmul(A, torch.rand(3), out=torch.empty(3))
    with pytest.raises(ll.ImmutableError):
        A.zero_()


def test_custom_operator_must_call_super_init():
    class Bad(LinearOperator):
        def __init__(self):
            pass

    with pytest.raises(TypeError, match=r"must call super\(\).__init__"):
        Bad()


def test_aten_is_never_reached_silently():
    A = ll.Diagonal(torch.rand(3))
    with pytest.raises(RuntimeError, match="ATen op"):
        with torch._C.DisableTorchFunctionSubclass():
            torch.add(A, A)


def test_caller_tensors_are_never_mutated():
    w = torch.rand(3, 4)
    w0 = w.clone()
    x = torch.rand(3, 4)
    x0 = x.clone()
    A = ll.Diagonal(w, "HW")
    A(x), A.H(x), A.N(x), (2 * A)(x), (A + A)(x), A.to_dense()
    y = ll.Identity((3, 4), "HW")(x)
    assert y is not x
    B = ll.Diagonal(torch.zeros(3, 4), "HW")
    B.copy_(A)  # what load_state_dict does
    assert torch.equal(B.weight, w) and B.weight is not w
    assert torch.equal(w, w0) and torch.equal(x, x0)


# ---------------------------------------------------------------- densify
def test_densify_warns_names_function_and_operator():
    A = ll.Diagonal(torch.rand(3))
    with ll.set_densify("warn"):
        with pytest.warns(ll.DensifyWarning, match=r"exp.*Diagonal \(3, 3\)"):
            out = torch.exp(A)
    torch.testing.assert_close(out, torch.exp(A.to_dense()))


def test_densify_error_and_allow_modes():
    A = ll.Diagonal(torch.rand(3))
    with ll.set_densify("error"):
        with pytest.raises(ll.DensifyError, match="no structured rule"):
            A.exp()
    with ll.set_densify("allow"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            torch.testing.assert_close(A * A, A.to_dense() * A.to_dense())  # Hadamard, as dense torch
    assert ll.get_densify()[0] == "error"  # the context managers restored the setting


def test_set_densify_validates():
    with pytest.raises(ValueError, match="mode must be one of"):
        ll.set_densify("sometimes")
    with pytest.raises(ValueError, match="limit_bytes"):
        ll.set_densify("warn", limit_bytes=-1)


def test_huge_densify_is_refused_not_attempted():
    n = 10**6
    A = ll.Diagonal(torch.rand(n))
    with ll.set_densify("allow"):
        with pytest.raises(ll.DensifyError, match=r"over the densify limit"):
            A.exp()
        with pytest.raises(ll.DensifyError):
            A.to_dense()
    with ll.set_densify("allow", limit_bytes=1024):
        with pytest.raises(ll.DensifyError, match="1.0 KiB"):
            ll.Identity((100,)).to_dense()


def test_huge_operator_costs_no_memory_and_repr_is_data_free():
    tracemalloc.start()
    A = ll.Identity((10**6,)) @ ll.FFT((10**6,))
    r = repr(A)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert A.shape == torch.Size([10**6, 10**6]) and "FFT" in r and peak < 10**6
    M = ll.Diagonal(torch.empty(5, 6, device="meta"), "HW") @ ll.FFT((5, 6), "HW", device="meta")
    assert "Diagonal" in repr(M) and "meta" in repr(M)  # meta weights cannot be read: repr never does
    assert "<details" in M._repr_html_()


# ---------------------------------------------------------------- structure is counted, not timed
def test_normal_of_fft_diagonal_applies_no_fft(monkeypatch):
    F = ll.FFT((8, 8), "HW")
    D = ll.Diagonal(torch.rand(8, 8) + 1j * torch.rand(8, 8), "HW")
    calls = []
    for name in ("fftn", "ifftn"):
        real = getattr(torch.fft, name)
        monkeypatch.setattr(torch.fft, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    N = (F @ D).N
    assert type(N) is ll.Diagonal
    x = torch.rand(8, 8, dtype=torch.complex64)
    y = N(x)
    assert calls == []
    torch.testing.assert_close(y, D.H(F.H(F(D(x)))))
    assert len(calls) == 2
    assert type(F.N) is ll.Identity and type(D.N) is ll.Diagonal


def test_normal_folding_rules():
    F = ll.FFT((4,), "N")
    D1, D2 = ll.Diagonal(torch.rand(4) + 1, "N"), ll.Diagonal(torch.rand(4) + 1, "N")
    assert type(ll.Dense(torch.rand(5, 3)).N) is ll.Dense
    assert [type(o) for o in (D1 @ F @ D2).N.ops] == [ll.Diagonal, ll.FFT, ll.Diagonal, ll.FFT, ll.Diagonal]
    assert type((3 * D1).N) is ll.Diagonal
    assert type(F.H @ F) is ll.Identity and type(F @ F.H) is ll.Identity
    assert type(D1 @ D2) is ll.Diagonal and type(ll.Scalar(2.0, (4,), "N") @ D1) is ll.Diagonal
    assert type(ll.Identity((4,), "N") @ D1) is ll.Diagonal
    assert type(ll.Zero((4,), (4,), "N", "N") @ F) is ll.Zero
    assert type(D1 + D2) is ll.Diagonal and type(ll.Identity((4,), "N") + D1) is ll.Diagonal
    norm = ll.FFT((4,), "N", norm="backward")
    assert type(norm.N) is ll.Scalar
    torch.testing.assert_close(norm.N.to_dense(), norm.to_dense().mH @ norm.to_dense())


def test_structured_calls_do_not_densify():
    A = ll.FFT((4, 4), "HW") @ ll.Diagonal(torch.rand(4, 4), "HW")
    D = A.to_dense()
    with ll.set_densify("error"):
        torch.testing.assert_close(A.sum(), D.sum())
        torch.testing.assert_close(A.sum(0), D.sum(0))
        torch.testing.assert_close(torch.sum(A, dim=1, keepdim=True), D.sum(1, keepdim=True))
        B = ll.Diagonal(torch.rand(3)) + ll.Scalar(2.0, (3,))
        torch.testing.assert_close(B.diagonal(), B.to_dense().diagonal())
        torch.testing.assert_close(torch.trace(B), torch.trace(B.to_dense()))
        W = torch.rand(3, 3)
        torch.testing.assert_close(ll.Dense(W).diagonal(), W.diagonal())
        assert torch.zeros_like(A).shape == A.shape and torch.empty_like(A).dtype == A.dtype
        assert A.new_zeros(2).dtype == A.dtype


# ---------------------------------------------------------------- dtypes (DESIGN §3)
def test_dtype_promotion_follows_torch():
    F = ll.FFT((4,), "N")  # complex64
    D = ll.Diagonal(torch.rand(4, dtype=torch.float64), "N")
    assert (F @ D).dtype == torch.complex128
    assert (F @ D).to_dense().dtype == torch.complex128
    x = torch.rand(4, dtype=torch.complex128)
    assert D(x).dtype == torch.complex128 and (D @ x).dtype == torch.complex128
    f32 = ll.Diagonal(torch.rand(4), "N")
    assert (f32 @ torch.rand(4, dtype=torch.float64)).dtype == torch.float64
    assert (2j * f32).dtype == torch.complex64
    assert (2.0 * f32).dtype == torch.float32 and (f32 / 2).dtype == torch.float32
    assert (torch.tensor(2.0, dtype=torch.float64) * f32).dtype == torch.float32  # 0-d does not promote
    assert (f32 + D).dtype == torch.float64
    assert ll.Scalar(1j, (2,)).dtype == torch.complex64 and ll.Scalar(1.0, (2,)).dtype == torch.float32


def test_weightless_operators_compute_in_composite_dtype():
    F = ll.FFT((16,), "N")  # complex64 by default
    D = ll.Diagonal(torch.rand(16, dtype=torch.complex128), "N")
    x = torch.rand(16, dtype=torch.complex128)
    ref = torch.fft.fft(D.weight * x, norm="ortho")
    assert ((F @ D)(x) - ref).abs().max() < 1e-14


def test_scalar_with_grad_and_requires_grad_reporting():
    c = torch.tensor(2.0, requires_grad=True)
    w = torch.rand(3, requires_grad=True)
    A = c * ll.Diagonal(w)
    assert A.requires_grad
    A(torch.ones(3)).sum().backward()
    torch.testing.assert_close(c.grad, w.detach().sum())
    assert not A.detach().requires_grad


def test_nn_module_parameters_drive_operator():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(4))

        def forward(self, x):
            return (ll.FFT((4,), "N") @ ll.Diagonal(self.w, "N"))(x).abs().sum()

    m = Model()
    m(torch.rand(4)).backward()
    assert m.w.grad is not None and m.w.grad.abs().sum() > 0


def test_tensor_flatten_round_trip():
    A = ll.FFT((4,), "N") @ ll.Diagonal(torch.rand(4), "N")
    names, ctx = A.__tensor_flatten__()
    inner = {n: getattr(A, n) for n in names}
    B = type(A).__tensor_unflatten__(inner, ctx, A.shape, A.stride())
    assert type(B) is type(A)
    torch.testing.assert_close(B.to_dense(), A.to_dense())


def test_pickle_preserves_tags_and_structure():
    A = (ll.FFT((4,), "N") @ ll.Diagonal(torch.rand(4), "N")).N
    B = pickle.loads(pickle.dumps(A))
    assert B.tags == A.tags and type(B) is type(A)


def test_metadata_calls_do_not_densify():
    A = ll.Diagonal(torch.rand(3))
    assert A.stride() == (3, 1) and A.is_contiguous() and A.element_size() == 4
    assert A.is_leaf and A.grad_fn is None and A.grad is None and A.layout == torch.strided
    assert len(A) == 3 and A.data_ptr() == 0 and A.nbytes == 36
    assert A.untyped_storage().nbytes() == 36  # the wrapper's placeholder: never sum these for memory


# ---------------------------------------------------------------- testing helpers
class _WrongAdjoint(LinearOperator):
    def __init__(self, n):
        super().__init__(ishape="N", oshape="N", isize=(n,), osize=(n,))

    def _apply(self, x):
        return torch.cumsum(x, -1)

    def _apply_adjoint(self, y):
        return torch.cumsum(y, -1)  # wrong: the adjoint of cumsum is a reversed cumsum


def test_testing_helpers_catch_a_wrong_adjoint():
    A = _WrongAdjoint(5)
    assert ll.testing.dottest(A, raise_error=False) is False
    with pytest.raises(AssertionError, match="dot test failed"):
        ll.testing.check_operator(A)


def test_check_operator_passes_on_composites():
    A = ll.FFT((4,), "N", norm="forward") @ ll.Diagonal(torch.rand(4, dtype=torch.float64) + 1, "N")
    assert ll.testing.check_operator(A)
    assert ll.testing.check_operator(ll.Dense(torch.randn(3, 5, dtype=torch.complex128)))


def test_torch_compile_with_operator_passed_in():
    A = ll.FFT((8,), "N") @ ll.Diagonal(torch.rand(8), "N")
    x = torch.rand(8)

    def f(A, x):
        return A(x).abs().sum()

    torch._dynamo.reset()
    out = torch.compile(f, backend="aot_eager")(A, x)
    torch.testing.assert_close(out, f(A, x))


def test_chain_joins_devices_through_todevice():
    T = ll.ToDevice("cpu", "meta", (3,), "N")
    C = ll.Chain(T, ll.Diagonal(torch.rand(3), "N"))
    assert C.device.type == "cpu" and C.odevice.type == "meta" and C.H.device.type == "meta"
    assert C(torch.ones(3)).device.type == "meta"
    with pytest.raises(ll.DeviceError, match="takes inputs on cpu"):
        ll.Chain(ll.Diagonal(torch.rand(3), "N"), ll.ToDevice("cpu", "cuda", (3,), "N"))  # no CUDA needed
    assert ll.Dense(torch.rand(3, 3)).rename(ishape="X", oshape="Y").plain


def test_sum_of_nonsquare_operators_with_different_names():
    A = ll.Dense(torch.rand(6, 4), ishape="N", oshape="M")
    B = ll.Dense(torch.rand(6, 4))
    torch.testing.assert_close((A + B).to_dense(), A.to_dense() + B.to_dense())
    C = A.N + ll.Scalar(0.5, (4,))  # c·I takes the other term's names: no reshape, tags kept
    assert type(C) is ll.Sum and "pd" in C.tags and C.ishape == ("N",)


def test_dense_normal_of_a_normal_uses_fresh_einsum_labels():
    W = torch.randn(4, 4, dtype=torch.complex128)
    A = ll.Dense(W, ishape="N", oshape="N").conj().N.H  # einsum labels already carry primes
    D = A.to_dense()
    torch.testing.assert_close(A.N.to_dense(), D.mH @ D)
    torch.testing.assert_close(A.N.N.to_dense(), (D.mH @ D).mH @ (D.mH @ D))


def test_attributes_that_shadow_tensor_members_are_refused():
    class Shadowing(LinearOperator):
        def __init__(self):
            super().__init__(ishape="N", oshape="N", isize=(2,), osize=(2,))
            self.norm = "ortho"  # would hide Tensor.norm()

    with pytest.raises(TypeError, match=r"\['norm'\].*rename them"):
        Shadowing()


def test_adjoint_round_trip_is_identity_even_when_children_are_shared():
    D = ll.FirstDerivative((4,), "N", kind="forward", dtype=torch.complex64)
    X = D.conj().H  # Conj(D) pairs with Conj(D.H) first …
    A = D.T  # … then Adjoint(Conj(D)), whose adjoint is that same Conj(D)
    assert A.H.H is A and X.H.H is X
    torch.testing.assert_close(A.H.to_dense(), A.to_dense().mH)


def test_building_operators_reads_no_weight_values(monkeypatch):
    """Value-derived tags (w > 0 ⇒ pd) are computed when a solver asks, not at construction:
    on CUDA each read would be a host sync inside the user's forward pass."""
    from lazylinops.core import basic

    reads = []
    real = basic.value_tags
    monkeypatch.setattr(basic, "value_tags", lambda w: reads.append(1) or real(w))
    F = ll.FFT((8,), "N")
    D = ll.Diagonal(torch.rand(8) + 1, "N")
    A = (2.0 * (F @ D)).N + 0.5 * ll.Identity((8,), "N")
    repr(A), A.H, D @ D, D.N, A @ torch.ones(8)
    assert reads == []
    assert "pd" in A.tags  # asked for: computed now (diagonal |2d|² + ½ > 0)
    assert reads


# ---------------------------------------------------------------- torch semantics found by the op sweep
@pytest.mark.parametrize("c", [2, 2.5, 2j, np.float64(2.0), np.int64(3), torch.tensor(2.0)], ids=repr)
def test_subtracting_a_scalar_is_elementwise_like_dense(c):
    t = torch.randn(3, 4)
    A = ll.Dense(t)
    with ll.set_densify("allow"):
        for got, want in ((A - c, t - c), (c - A, c - t), (torch.sub(A, c), torch.sub(t, c))):
            assert got.dtype == want.dtype
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    "call",
    [
        lambda A: A.sum(dim=2),
        lambda A: A.sum(dim=(0, -3)),
        lambda A: A.transpose(0, 3),
        lambda A: torch.transpose(A, 2, 0),
        lambda A: A.permute(1, 2),
        lambda A: torch.linalg.matrix_norm(A, 2, dim=(0, 3)),
        lambda A: A.diagonal(dim1=0, dim2=2),
    ],
)
def test_out_of_range_dims_raise_index_error_like_dense(call):
    t = torch.randn(3, 4)
    with pytest.raises(IndexError):
        call(t)
    with pytest.raises(IndexError, match="out of range"):
        call(ll.Dense(t))


def test_sum_dim_empty_and_dtype_like_dense():
    t = torch.randn(3, 4)
    A = ll.Dense(t)
    torch.testing.assert_close(A.sum(dim=()), t.sum(dim=()))
    s = A.sum(dtype=torch.float64)
    assert s.dtype == torch.float64
    torch.testing.assert_close(s, t.double().sum())  # accumulated in float64, not cast afterwards
    torch.testing.assert_close(A.sum(1, True), t.sum(1, True))


def test_keyword_forms_of_torch_functions():
    t, b, x = torch.randn(3, 3), torch.randn(3, 3), torch.randn(3)
    A, B = ll.Dense(t), ll.Dense(b)
    with ll.set_densify("allow"):
        pairs = [
            (torch.matmul(A, other=x), t @ x),
            (torch.mm(A, mat2=B), t @ b),
            (torch.mv(A, vec=x), t @ x),
            (torch.add(A, other=B), t + b),
            (torch.mul(A, other=2), 2 * t),
            (torch.kron(A, other=B), torch.kron(t, b)),
            (torch.sum(input=A), t.sum()),
            (torch.trace(input=A), t.trace()),
            (torch.diag(A, diagonal=1), torch.diag(t, 1)),
            (torch.div(A, 2.0, rounding_mode="floor"), torch.div(t, 2.0, rounding_mode="floor")),
        ]
    for got, want in pairs:
        got = got.to_dense() if isinstance(got, LinearOperator) else got
        assert got.dtype == want.dtype and got.shape == want.shape
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("cast", ["half", "bfloat16"])
def test_16_bit_cast_of_complex_operator_is_real_part_in_that_dtype(cast):
    t = torch.randn(2, 3, dtype=torch.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch and lazylinops both warn: the imaginary part is dropped
        got, want = getattr(ll.Dense(t), cast)(), getattr(t, cast)()
    assert got.dtype == want.dtype
    assert torch.equal(got.to_dense(), want)


def test_to_with_copy_and_tensor_to_operator():
    A = ll.Dense(torch.randn(2, 3))
    assert A.to(torch.float64, copy=True).dtype == torch.float64
    assert torch.zeros(2).to(A.to(torch.float64)).dtype == torch.float64  # the operator as a template


def test_copy_an_operator_into_a_dense_buffer():
    A = ll.Dense(torch.randn(3, 3)) + ll.Identity((3,))
    buf = torch.zeros(3, 3)
    with ll.set_densify("allow"):
        out = buf.copy_(A)
    assert out is buf and torch.equal(buf, A.to_dense())


def test_cat_and_block_diag_with_multi_dim_names_and_permutation_chains():
    D = ll.Diagonal(torch.randn(2, 3), "HW")
    B = ll.Dense(torch.randn(6, 6))
    P = ll.Chain(ll.Permutation(torch.tensor([2, 0, 1, 5, 3, 4])), ll.Dense(torch.randn(6, 6)))
    for ops in ((D, B), (B, D), (P, B), (B, P), (D, P)):
        dense = [op.to_dense() for op in ops]
        for got, want in (
            (torch.cat(ops, 0), torch.cat(dense, 0)),
            (torch.cat(ops, 1), torch.cat(dense, 1)),
            (torch.block_diag(*ops), torch.block_diag(*dense)),
        ):
            assert isinstance(got, LinearOperator)
            torch.testing.assert_close(got.to_dense(), want)


@pytest.mark.parametrize("factory", [torch.zeros_like, torch.ones_like, torch.empty_like, torch.rand_like])
def test_like_factories_respect_the_densify_limit(factory):
    big = ll.Identity((10**6,))
    with ll.set_densify("allow"), pytest.raises(ll.DensifyError, match="densify limit"):
        factory(big)
    small = ll.Identity((3,), dtype=torch.float64)
    out = factory(small)
    assert out.shape == (3, 3) and out.dtype == torch.float64 and type(out) is torch.Tensor


def test_empty_operators_give_empty_results():
    for shape in ((0, 3), (3, 0)):
        t = torch.randn(*shape)
        A = ll.Dense(t)
        assert A.T.to_dense().shape == shape[::-1]
        assert torch.equal(A @ torch.zeros(shape[1], 0), t @ torch.zeros(shape[1], 0))
        torch.testing.assert_close(A.sum(0), t.sum(0))
