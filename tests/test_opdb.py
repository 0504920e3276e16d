"""Sweep of torch's OpInfo database: every torch op on an operator equals the op on its dense matrix.

The way PyTorch verifies DTensor (``test/distributed/tensor/test_dtensor_ops.py``): for each
``OpInfo`` and dtype, take the samples that hold a 2-D tensor, replace it by operators whose
dense matrix equals it (several structures) and call the op in every form (function, method,
operator, in-place, keyword). Each call must give the dense call's value, dtype and shape, or
raise where dense raises (same builtin family), or — in-place / ``out=`` on an operator —
raise ``ll.ImmutableError`` leaving it unchanged. Densifying is allowed but counted against the
``KNOWN_DENSIFY`` ratchet.
"""

import collections
import inspect
import os
import traceback
import warnings

import numpy as np
import pytest
import torch

import lazylinops as ll

opinfo = pytest.importorskip(
    "torch.testing._internal.common_methods_invocations", reason="torch's OpInfo database needs `expecttest`"
)
from torch.overrides import get_testing_overrides  # noqa: E402

DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
MAX_SAMPLES = 2  # matrix samples per op and dtype (the first ones: deterministic)
SKIP = {  # op name prefix → why its results cannot be compared with a dense call
    "rand": "random values",
    "normal": "random values",
    "bernoulli": "random values",
    "multinomial": "random values",
    "nn.functional.dropout": "random values",
    "nn.functional.alpha_dropout": "random values",
    "nn.functional.feature_alpha_dropout": "random values",
    "nn.functional.rrelu": "random values",
    "uniform": "random values",
    "exponential": "random values",
    "geometric": "random values",
    "cauchy": "random values",
    "log_normal": "random values",
    "empty": "uninitialised values",
    "new_empty": "uninitialised values",
    "as_strided": "depends on the input's strides (an operator has none)",
    "item": "not tensor-valued: a 1×1 sample only",
    "data_ptr": "memory address",
    "storage_offset": "memory layout",
    "resize_": "in-place storage resize",
    "resize_as_": "in-place storage resize",
    "svd_lowrank": "randomized algorithm",
    "pca_lowrank": "randomized algorithm",
}
XFAIL = {}  # op name → reason a mismatch is out of scope (keep it tiny)
# Ops that still densify on some sample (elementwise maths, decompositions …): a ratchet. An op
# densifying that is not listed fails the sweep (add a structured rule, or list it with care); a
# listed op that no longer densifies fails too, so the list only shrinks.
KNOWN_DENSIFY = frozenset(
    """
    __radd__ __rdiv__ __rmod__ __rmul__ __rpow__ __rsub__ _batch_norm_with_update _chunk_cat
    _native_batch_norm_legit _softmax_backward_data _unsafe_masked_index _unsafe_masked_index_put_accumulate abs
    add addbmm addcdiv addcmul addmm addmv addr all amax amin angle any argmax argmin argwhere asin asinh atan
    atan2 atanh atleast_1d atleast_2d atleast_3d bool broadcast_tensors broadcast_to bucketize byte cdist ceil
    chalf char cholesky cholesky_inverse cholesky_solve clamp clamp_max clamp_min column_stack complex
    constant_pad_nd copysign corrcoef count_nonzero cov cross cumulative_trapezoid deg2rad diag diag_embed
    diagflat diagonal diagonal_copy diagonal_scatter diff dist div dstack einsum eq equal erf erfinv expand
    expand_as expand_copy expm1 fft.fft2 fft.fftn fft.fftshift fft.hfft2 fft.hfftn fft.ifft2 fft.ifftn
    fft.ifftshift fft.ihfft fft.ihfft2 fft.ihfftn fft.irfft fft.irfft2 fft.irfftn fft.rfft2 fft.rfftn flatten
    float_power floor floor_divide fmax fmin fmod frac gather ge geqrf gradient gt hash_tensor heaviside
    histogramdd hstack hypot igamma igammac index_add index_copy index_fill index_put index_reduce index_select
    inner int isclose isinf isnan isneginf isposinf istft ldexp le lerp linalg.cholesky linalg.cholesky_ex
    linalg.cond linalg.cross linalg.det linalg.diagonal linalg.eig linalg.eigh linalg.eigvals linalg.eigvalsh
    linalg.householder_product linalg.inv_ex linalg.ldl_factor linalg.ldl_factor_ex linalg.ldl_solve linalg.lu
    linalg.lu_factor linalg.lu_factor_ex linalg.lu_solve linalg.matrix_norm linalg.matrix_power
    linalg.matrix_rank linalg.multi_dot linalg.pinv linalg.qr linalg.slogdet linalg.solve_ex
    linalg.solve_triangular linalg.svd linalg.svdvals linalg.tensorsolve linalg.vander linalg.vecdot log1p
    log_softmax logaddexp logaddexp2 logdet logical_and logical_or logical_xor logsumexp long lt lu lu_solve
    lu_unpack masked.amax masked.amin masked.argmax masked.argmin masked.cumprod masked.cumsum
    masked.log_softmax masked.logaddexp masked.logsumexp masked.mean masked.median masked.norm masked.normalize
    masked.prod masked.softmax masked.softmin masked.sum masked_fill masked_scatter masked_select matrix_exp max
    maximum mean median min minimum mul mvlgamma nanmean nanmedian nanquantile nansum native_batch_norm
    native_group_norm native_layer_norm ne nextafter nn.functional.adaptive_avg_pool1d
    nn.functional.adaptive_max_pool1d nn.functional.batch_norm nn.functional.bilinear
    nn.functional.binary_cross_entropy nn.functional.binary_cross_entropy_with_logits nn.functional.conv1d
    nn.functional.conv_transpose1d nn.functional.cosine_embedding_loss nn.functional.cosine_similarity
    nn.functional.cross_entropy nn.functional.embedding nn.functional.embedding_bag nn.functional.gelu
    nn.functional.glu nn.functional.group_norm nn.functional.hardshrink nn.functional.hardswish
    nn.functional.hardtanh nn.functional.hinge_embedding_loss nn.functional.huber_loss nn.functional.kl_div
    nn.functional.l1_loss nn.functional.layer_norm nn.functional.leaky_relu nn.functional.linear
    nn.functional.linear_cross_entropy nn.functional.margin_ranking_loss nn.functional.mse_loss
    nn.functional.multi_head_attention_forward nn.functional.multi_margin_loss
    nn.functional.multilabel_margin_loss nn.functional.multilabel_soft_margin_loss nn.functional.nll_loss
    nn.functional.pad nn.functional.pairwise_distance nn.functional.pdist nn.functional.prelu nn.functional.relu
    nn.functional.rms_norm nn.functional.smooth_l1_loss nn.functional.soft_margin_loss nn.functional.softmin
    nn.functional.softshrink nn.functional.threshold nn.functional.triplet_margin_loss
    nn.functional.triplet_margin_with_distance_loss nonzero nonzero_static norm ormqr pinverse polar polygamma
    positive pow put qr quantile rad2deg remainder repeat repeat_interleave reshape reshape_as round rsub
    scatter scatter_add scatter_reduce select select_scatter sgn short sign signbit sin sinh softmax sparse.mm
    sparse.sampled_addmm special.chebyshev_polynomial_t special.chebyshev_polynomial_u
    special.chebyshev_polynomial_v special.chebyshev_polynomial_w special.hermite_polynomial_h
    special.hermite_polynomial_he special.laguerre_polynomial_l special.legendre_polynomial_p special.polygamma
    special.shifted_chebyshev_polynomial_t special.shifted_chebyshev_polynomial_u
    special.shifted_chebyshev_polynomial_v special.shifted_chebyshev_polynomial_w special.xlog1py special.zeta
    sqrt stack std std_mean stft sub sum_to_size svd t_copy take take_along_dim tan tanh tile to_sparse
    torch.ops.aten._safe_softmax.default trace transpose_copy trapezoid trapz triangular_solve tril triu
    true_divide trunc unbind unbind_copy unflatten unfold unfold_copy var var_mean view view_as view_as_complex
    view_as_real view_copy vsplit vstack where xlogy
    """.split()
)

_OVERRIDES = get_testing_overrides()
_FAMILIES = (IndexError, TypeError, NotImplementedError, ValueError, RuntimeError)


def _skipped(name):
    return next((why for prefix, why in SKIP.items() if name.startswith(prefix)), None)


# ---------------------------------------------------------------- operators equal to a tensor
def _builds(t):
    """Operators whose dense matrix equals ``t`` exactly, with different structures."""
    M, N = t.shape
    D = ll.Dense(t)
    yield "Dense", D
    yield "Sum", ll.Sum(ll.Dense(t / 2), ll.Dense(t / 2))  # t/2 + t/2 == t exactly
    if M >= 2:
        perm = torch.arange(M - 1, -1, -1)
        inv = torch.argsort(perm)
        Q = ll.Dense(t[inv])
        yield "PermChain", ll.Chain(ll.Permutation(perm, Q.oshape, dtype=t.dtype), Q)  # (P Q)[i] = Q[perm[i]] = t[i]
        k = M // 2
        A, B = ll.Dense(t[:k]), ll.Dense(t[k:])
        yield "Concat", ll.Concat(A, B.rename(ishape=A.ishape, oshape=A.oshape), odim=A.oshape[0])


def _is_matrix(x):
    return (
        type(x) is torch.Tensor
        and x.dim() == 2
        and x.layout == torch.strided
        and (x.is_floating_point() or x.is_complex())
        and x.dtype in DTYPES
    )


def _locate(sample):
    """Where the sample holds its 2-D tensor: ("input",), ("input", i) or ("arg", i); None if nowhere."""
    if _is_matrix(sample.input):
        return ("input",)
    if isinstance(sample.input, (list, tuple)):
        for i, x in enumerate(sample.input):
            if _is_matrix(x):
                return ("input", i)
    for i, x in enumerate(sample.args):
        if _is_matrix(x):
            return ("arg", i)
    return None


def _clone(x):
    if type(x) is torch.Tensor:
        return x.clone()
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x)
    return x


def _substitute(sample, where, value):
    """``(input, args, kwargs)`` of the sample with the located 2-D tensor replaced by ``value``."""
    inp, args = _clone(sample.input), list(_clone(tuple(sample.args)))
    if where == ("input",):
        inp = value
    elif where[0] == "input":
        inp = type(inp)(value if i == where[1] else x for i, x in enumerate(inp))
    else:
        args[where[1]] = value
    return inp, tuple(args), dict(sample.kwargs)


# ---------------------------------------------------------------- calling and comparing
def _call(fn, inp, args, kwargs):
    try:
        return fn(inp, *args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 — the comparison is the point
        return None, exc


def _canon(x):
    if isinstance(x, ll.LinearOperator):
        return x.to_dense()
    if isinstance(x, torch.Tensor) and x.layout != torch.strided:
        return x.to_dense()
    if isinstance(x, (list, tuple)):
        return tuple(_canon(v) for v in x)
    return x


def _same(got, want, where):
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{where}: got {type(got).__name__}, dense gives a tensor"
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype}, dense gives {want.dtype}"
        assert got.shape == want.shape, f"{where}: shape {tuple(got.shape)}, dense gives {tuple(want.shape)}"
        if want.dtype == torch.bool or not (want.is_floating_point() or want.is_complex()):
            assert torch.equal(got, want), f"{where}: values differ"
            return
        tol = 1e-9 if want.dtype in (torch.float64, torch.complex128) else 2e-4
        scale = want.abs().nan_to_num(0, 0, 0).amax().item() if want.numel() else 1.0
        torch.testing.assert_close(
            got, want, rtol=tol, atol=tol * max(scale, 1.0), equal_nan=True, msg=lambda m: f"{where}: {m}"
        )
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{where}: got {got!r}, dense gives {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and want != want:
        assert got != got, f"{where}: got {got!r}, dense gives nan"
    else:
        assert got == want and type(got) is type(want), f"{where}: got {got!r}, dense gives {want!r}"


def _family(exc):
    return next((f for f in _FAMILIES if isinstance(exc, f)), Exception)


class Tally:
    def __init__(self):
        self.counts = collections.Counter()
        self.densified = set()
        self.failures = []

    def check(self, label, name, fn, sample, where, op, inplace=False):
        """One call of ``fn`` with ``op`` in place of the sample's matrix, compared with the call on
        ``op.to_dense()`` (which equals the sample's matrix up to the NaNs a product makes of infinities)."""
        d_inp, d_args, d_kw = _substitute(sample, where, op.to_dense())
        o_inp, o_args, o_kw = _substitute(sample, where, op)
        want, d_exc = _call(fn, d_inp, d_args, d_kw)
        before = op.to_dense()
        with ll.set_densify("warn"), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got, o_exc = _call(fn, o_inp, o_args, o_kw)
        if any(issubclass(w.category, ll.DensifyWarning) for w in caught):
            self.densified.add(name)
            self.counts["densified"] += 1
        try:
            if inplace and where == ("input",):
                assert isinstance(o_exc, ll.ImmutableError), f"{label}: in-place on an operator gave {o_exc!r}"
                assert torch.equal(op.to_dense().nan_to_num(), before.nan_to_num()), f"{label}: the operator changed"
                self.counts["immutable"] += 1
            elif d_exc is not None:
                assert o_exc is not None, f"{label}: dense raises {d_exc!r}, the operator gave a result"
                family = _family(d_exc)
                if family is RuntimeError and isinstance(o_exc, ll.ShapeError):
                    family = (
                        ll.ShapeError
                    )  # DESIGN §7: shape mismatches are ShapeError (a ValueError) naming both shapes
                assert isinstance(o_exc, family), f"{label}: raised {o_exc!r}, dense raises {d_exc!r}"
                self.counts["raised as dense"] += 1
            else:
                if o_exc is not None:
                    raise AssertionError(f"{label}: raised {o_exc!r}, dense gives a result") from o_exc
                _same(_canon(got), _canon(want), label)
                if inplace:  # the dense input was mutated: so must the plain tensor input be
                    _same(_canon(o_inp), _canon(d_inp), label + " (mutated input)")
                self.counts["passed"] += 1
        except AssertionError as exc:
            if name in XFAIL:
                self.counts["xfail"] += 1
                return
            self.failures.append(" ".join(str(exc).split())[:600])


def _keyword_form(fn):
    """``fn`` called with its positional parameters passed by keyword (torch's testing signatures)."""
    sig = _OVERRIDES.get(fn)
    if sig is None:
        return None
    names = [
        p.name
        for p in inspect.signature(sig).parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in ("self", "out")
    ]

    def call(inp, *args, **kwargs):
        if len(args) + 1 > len(names):
            raise _NoKeywordForm
        return fn(**dict(zip(names, (inp, *args))), **kwargs)

    return call


class _NoKeywordForm(TypeError):
    pass


def _variants(op):
    forms = [("fn", op.op, False)]
    if op.method_variant is not None:
        forms.append(("method", op.method_variant, False))
    if getattr(op, "operator_variant", None) is not None:
        forms.append(("operator", op.operator_variant, False))
    if op.inplace_variant is not None:
        forms.append(("inplace", op.inplace_variant, True))
    kw = _keyword_form(op.op)
    if kw is not None:
        forms.append(("keyword", kw, False))
    return forms


class _Sample:
    """A sample added where the OpInfo has none (scalars on either side, edge sizes)."""

    def __init__(self, input, *args, **kwargs):
        self.input, self.args, self.kwargs = input, args, kwargs


SCALARS = (2, 2.5, 2j, np.float64(2.0), np.int64(3), torch.tensor(2.0, dtype=torch.float64), torch.tensor(3))
EDGE_SIZES = ((0, 3), (3, 0), (1, 1), (1, 4))
SCAN = 24  # samples looked at per op and dtype (ops whose samples are all N-D stop early)


def _matrix(sample, where):
    if where == ("input",):
        return sample.input
    return sample.input[where[1]] if where[0] == "input" else sample.args[where[1]]


def _extra_samples(op, first, dtype):
    """Scalars on both sides for binary ufuncs; edge sizes for ops on one matrix."""
    t = first.input
    if not isinstance(t, torch.Tensor) or any(
        isinstance(a, torch.Tensor) for a in (*first.args, *first.kwargs.values())
    ):
        return  # other tensors are sized to the sample's matrix
    if type(op).__name__ == "BinaryUfuncInfo" and dtype in (torch.float32, torch.complex128):
        for c in SCALARS:
            yield _Sample(t, c, **first.kwargs)
            yield _Sample(c, t, **first.kwargs)
    if dtype == torch.complex64:
        for shape in EDGE_SIZES:
            yield _Sample(
                torch.testing.make_tensor(shape, dtype=dtype, device="cpu", low=-3, high=3), *first.args, **first.kwargs
            )


def _run(op, sample, dtype, builds, tally, forms):
    where = _locate(sample)
    t = _matrix(sample, where).detach()
    if not torch.isfinite(t).all():
        builds = 1  # a composite's dense matrix is a product: 0·inf makes NaNs where t has none
    for bname, A in list(_builds(t))[:builds]:
        for form, fn, inplace in forms:
            label = f"{op.name}/{form} {dtype} {bname}{tuple(t.shape)} args={_short(sample)}"
            if form == "keyword":
                _, exc = _call(fn, *_substitute(sample, where, t.clone()))
                if isinstance(exc, TypeError):
                    continue  # no keyword form for this call in torch itself
            tally.check(label, op.name, fn, sample, where, A, inplace)


def _sweep_op(op, tally):
    forms = _variants(op)
    for dtype in DTYPES:
        if dtype not in op.supported_dtypes("cpu"):
            continue
        taken = []
        for i, sample in enumerate(op.sample_inputs("cpu", dtype, requires_grad=False)):
            if i >= SCAN or len(taken) >= MAX_SAMPLES:
                break
            if _locate(sample) is not None:
                taken.append(sample)
        if not taken:
            break  # no matrix samples: other dtypes have none either
        for k, sample in enumerate(taken):
            _run(op, sample, dtype, 4 if k == 0 else 1, tally, forms)
        for sample in _extra_samples(op, taken[0], dtype):
            _run(op, sample, dtype, 2, tally, forms)


def _short(sample):
    def s(x):
        return f"T{tuple(x.shape)}" if isinstance(x, torch.Tensor) else repr(x)[:30]

    return f"({', '.join(s(a) for a in sample.args)}) { ({k: s(v) for k, v in sample.kwargs.items()}) }"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_opdb_sweep():
    torch.manual_seed(0)
    tally = Tally()
    only = os.environ.get("LL_OPDB_OPS")  # comma-separated op names, to rerun a few while debugging
    for op in opinfo.op_db:
        if _skipped(op.name) is None and (not only or op.name in only.split(",")):
            try:
                _sweep_op(op, tally)
            except Exception as exc:  # noqa: BLE001 — a crash of the harness itself is a failure too
                at = traceback.extract_tb(exc.__traceback__)[-1]
                tally.failures.append(f"{op.name}: sweep crashed with {exc!r} at {at.filename}:{at.lineno}"[:600])
    print(dict(tally.counts), "densified ops:", len(tally.densified))
    assert not tally.failures, f"{len(tally.failures)} mismatches:\n" + "\n".join(tally.failures)
    new = sorted(tally.densified - KNOWN_DENSIFY)
    assert not new, f"ops that densify but are not in KNOWN_DENSIFY (add a structured rule): {new}"
    if not only:
        gone = sorted(KNOWN_DENSIFY - tally.densified)
        assert not gone, f"ops in KNOWN_DENSIFY that no longer densify: remove them from the list: {gone}"


def test_registry_operators_with_empty_operands(entry):
    """Every registry operator: products with size-0 operands are empty (or zero) as on the dense matrix."""
    dtype = torch.float64 if torch.float64 in entry.dtypes else entry.dtypes[0]
    A = entry.build(dtype)
    M, N = A.shape
    with ll.set_densify("allow"):
        dense = A.to_dense()
    for x in (torch.zeros(N, 0, dtype=A.dtype), torch.zeros(2, N, 0, dtype=A.dtype)):
        _same(A @ x, dense @ x, f"{entry.name} @ zeros{tuple(x.shape)}")
    for x in (torch.zeros(0, M, dtype=A.dtype), torch.zeros(2, 0, M, dtype=A.dtype)):
        _same(x @ A, x @ dense, f"zeros{tuple(x.shape)} @ {entry.name}")
