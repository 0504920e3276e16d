"""Soundness of every structural rule, by exhaustive sweep over the registry.

For every pair ``(L, R)`` of registry entries whose flat sizes meet, ``L @ R`` (and
``L + R``, ``L - R`` for equal shapes) is simplified by the rules; its dense matrix must
equal the same expression on the dense matrices (value, dtype, shape). Every entry, its
renamed variant and every composed result then goes through the unary rules: ``.H``,
``.T``, ``.conj()``, ``.N``, scalings, ``diagonal``, ``trace``, the ``_inverse`` hook,
``slogdet`` and slicing. A rule that is wrong for any operator it fires on fails here.

Run with ``-s`` to print the counts of checks per operation.
"""

import collections
import itertools

import pytest
import torch
from registry import REGISTRY

import lazylinops as ll
from lazylinops.dtypes import promote
from lazylinops.testing import assert_close, default_rtol

PAIR_DTYPES = (torch.float64, torch.complex128)

MAX_SIDE = 64  # skip pair products with a bigger dense side (keeps the sweep fast)
MIN_PAIRS = 1500  # composed pairs per run: the sweep may not silently shrink
RTOL = 20  # × default_rtol: each rule is checked after a chain of structured steps

COUNTS = collections.Counter()


@pytest.fixture(autouse=True)
def _one_thread():
    """Small dense products: one thread is fastest and leaves the other core free."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with ll.set_names("allow"):  # the sweep pairs differently named operators on purpose
        yield
    torch.set_num_threads(n)


def _collect(failures, what, check, *args):
    """Run one check, recording any failure (the sweep reports all of them at once)."""
    try:
        check(*args)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, with its expression
        failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:300]}")


def _report(failures):
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def _rtol(factor, *dense):
    """``factor · RTOL · default_rtol`` of the least precise operand (its rounding carries into a promoted result)."""
    single = any(d.dtype in (torch.float32, torch.complex64) for d in dense)
    return factor * RTOL * default_rtol(torch.float32 if single else torch.float64)


def _dense(A):
    with ll.set_densify("allow"):
        return A.to_dense()


def _rename(A):
    """``A`` with fresh names on both sides (a square operator then has different in/out names)."""
    return A.rename(
        ishape=tuple(f"In{k}" for k in range(len(A.ishape))), oshape=tuple(f"Out{k}" for k in range(len(A.oshape)))
    )


def _singular(D):
    if D.shape[0] != D.shape[1] or D.shape[0] == 0:
        return True
    s = torch.linalg.svdvals(D.to(torch.complex128 if D.is_complex() else torch.float64))
    return bool(s[-1] <= 1e-10 * max(s[0].item(), 1.0))


def check_unary(A, D, what, rtol, full=True):
    """Every unary structural rule on ``A`` against the dense ``D`` (to ``rtol``, see ``_rtol``)."""
    with ll.set_densify("allow"):
        H = A.H
        assert_close(_dense(H), D.mH, rtol, f"{what}.H")
        assert (H.ishape, H.oshape, H.isize, H.osize) == (A.oshape, A.ishape, A.osize, A.isize), f"{what}.H names"
        T = A.T
        assert_close(_dense(T), D.mT, rtol, f"{what}.T")
        assert (T.ishape, T.oshape, T.isize, T.osize) == (A.oshape, A.ishape, A.osize, A.isize), f"{what}.T names"
        C = A.conj()
        assert_close(_dense(C), D.conj(), rtol, f"{what}.conj")
        assert (C.ishape, C.oshape) == (A.ishape, A.oshape), f"{what}.conj names"
        Nm = A.N
        assert_close(_dense(Nm), D.mH @ D, rtol, f"{what}.N")
        assert Nm.ishape == Nm.oshape == A.ishape, f"{what}.N names"
        COUNTS["H/T/conj/N"] += 1
        scalars = (2, -0.5, 0, 1j) if D.is_complex() else (2, -0.5, 0)
        for c in scalars if full else (-0.5, 0):
            assert_close(_dense(c * A), c * D, rtol, f"{c} * {what}")
            COUNTS["scale"] += 1
        if full:
            assert_close(_dense(A / 2), D / 2, rtol, f"{what} / 2")
            assert_close(_dense(-A), -D, rtol, f"-{what}")
            COUNTS["div/neg"] += 1
        if D.shape[0] == D.shape[1]:
            d = A._diagonal()
            if d is not None:
                assert_close(d.reshape(-1).to(D.dtype), D.diagonal(), rtol, f"{what}._diagonal()")
                COUNTS["_diagonal hook"] += 1
            assert_close(torch.trace(A), D.trace(), rtol, f"trace {what}")
            COUNTS["trace"] += 1
        assert_close(torch.diagonal(A), D.diagonal(), rtol, f"diagonal {what}")
        COUNTS["diagonal"] += 1
        if full:
            _check_inverse(A, D, what, rtol)
            _check_slogdet(A, D, what, rtol)
            _check_slices(A, D, what, rtol)


def _check_inverse(A, D, what, rtol):
    if D.shape[0] != D.shape[1]:
        return
    try:
        inv = A._inverse()
    except (ll.SingularError, ValueError, RuntimeError):
        inv = None
        if not _singular(D):
            raise
    if inv is None:
        return
    if _singular(D):  # a structural inverse of a singular matrix must carry its zero pivots (∞/NaN)
        assert not torch.isfinite(_dense(inv)).all(), f"{what}._inverse() is finite for a singular matrix"
        COUNTS["_inverse hook (singular)"] += 1
        return
    ref = torch.linalg.inv(D)
    assert_close(_dense(inv), ref, rtol * max(1.0, torch.linalg.cond(D).item()), f"{what}._inverse()")
    COUNTS["_inverse hook"] += 1


def _check_slogdet(A, D, what, rtol):
    if D.shape[0] != D.shape[1]:
        return
    try:
        sign, logabs = ll.slogdet(A)
    except ValueError:  # no structured determinant: refused clearly
        return
    ref = torch.linalg.slogdet(D)
    assert sign.dtype == ref.sign.dtype and logabs.dtype == ref.logabsdet.dtype, f"slogdet {what} dtype"
    if ref.sign.abs().item() == 0:
        assert sign.abs().item() == 0 or logabs.item() < -20, f"slogdet {what}: singular matrix, got {sign}, {logabs}"
    else:
        assert_close(sign, ref.sign, rtol * 1e3, f"slogdet {what} sign")
        assert_close(logabs, ref.logabsdet, rtol * 1e3, f"slogdet {what} logabsdet")
    COUNTS["slogdet"] += 1


def _check_slices(A, D, what, rtol):
    M, N = D.shape
    for rows, cols in (
        (slice(1, M), slice(0, N - 1)),
        (slice(0, M // 2), slice(N // 2, N)),
        (slice(0, M), slice(1, 2)),
    ):
        assert_close(_dense(A[rows, cols]), D[rows, cols], rtol, f"{what}[{rows}, {cols}]")
        COUNTS["slice"] += 1


def _pool(dtypes, failures):
    """``(name, entry, operator, dense)`` for every entry in every dtype it supports."""
    out = []
    for e in REGISTRY:
        for dt in dtypes:
            if dt not in e.dtypes and not (dt.is_complex and any(d.is_complex for d in e.dtypes)):
                continue
            name = f"{e.name}[{dt}]".replace("torch.", "")
            try:
                A = e.build(dt if dt in e.dtypes else next(d for d in e.dtypes if d.is_complex))
                out.append((name, e, A, _dense(A)))
            except Exception as exc:  # noqa: BLE001 - reported with the other failures
                failures.append(f"{name}: build/densify: {type(exc).__name__}: {exc}")
    return out


def _entry_unary(e, dtype):
    A = e.build(dtype)
    D = _dense(A)
    rtol = _rtol(e.rtol, D)
    check_unary(A, D, e.name, rtol)
    _self_pairs(A, D, e.name, rtol)


def _self_pairs(A, D, name, rtol):
    R = _rename(A)
    check_unary(R, D, f"{name}.rename", rtol, full=False)
    cases = [(A.H @ A, D.mH @ D, "H@A"), (A @ A.H, D @ D.mH, "A@H"), (R.H @ A, D.mH @ D, "Rh@A")]
    for B, ref, how in cases:
        assert_close(_dense(B), ref, rtol, f"{name} {how}")
        COUNTS["self-adjoint pairs"] += 1


def test_unary_rules_on_every_entry(dtype):  # dtype: every one of the 4 (conftest)
    failures = []
    for e in REGISTRY:
        if dtype not in e.dtypes:
            continue
        _collect(failures, e.name, _entry_unary, e, dtype)
    _report(failures)


def _pair(L, R, DL, DR, what, rtol):
    dt = promote(DL.dtype, DR.dtype)
    rtol = _rtol(rtol, DL, DR)
    ref = DL.to(dt) @ DR.to(dt)
    with ll.set_densify("allow"):
        P = L @ R
        assert_close(_dense(P), ref, rtol, what)
        x = torch.randn(ref.shape[1], 2, dtype=dt, generator=torch.Generator().manual_seed(0))
        assert_close(P @ x, ref @ x, rtol, f"({what}) @ x")
    check_unary(P, ref, what, rtol, full=False)


def _sum(L, R, DL, DR, what, rtol):
    dt = promote(DL.dtype, DR.dtype)
    rtol = _rtol(rtol, DL, DR)
    assert_close(_dense(L + R), DL.to(dt) + DR.to(dt), rtol, f"{what} +")
    assert_close(_dense(L - R), DL.to(dt) - DR.to(dt), rtol, f"{what} -")


def test_every_pair_of_entries():
    failures, pairs, sums = [], 0, 0
    pool = _pool(PAIR_DTYPES, failures)
    by_rows = collections.defaultdict(list)
    pool = [item for item in pool if "iterative" not in item[1].tags]  # solves per apply: unary sweep only
    for item in pool:
        by_rows[item[2].shape[0]].append(item)
    for lname, le, L, DL in pool:
        for rname, re_, R, DR in by_rows[L.shape[1]]:
            if max(L.shape[0], R.shape[1]) > MAX_SIDE:
                continue
            what = f"{lname} @ {rname}"
            _collect(failures, what, _pair, L, R, DL, DR, what, le.rtol * re_.rtol)
            pairs += 1
    for (lname, le, L, DL), (rname, re_, R, DR) in itertools.product(pool, pool):
        if L.shape == R.shape and L.shape[0] <= MAX_SIDE:
            what = f"{lname} ± {rname}"
            _collect(failures, what, _sum, L, R, DL, DR, what, le.rtol * re_.rtol)
            sums += 1
    COUNTS["pairs L @ R"] += pairs
    COUNTS["pairs L ± R"] += sums
    print("\nrule soundness sweep:", dict(sorted(COUNTS.items())))
    _report(failures)
    assert pairs >= MIN_PAIRS, f"only {pairs} composed pairs checked"


def test_inverse_hooks_swap_names():
    """``A⁻¹`` maps ``A``'s output names back to its input names, also for renamed square operators."""
    checked = 0
    for e in REGISTRY:
        if e.invertible:
            A0 = e.build(torch.float64)
            A = _rename(A0)
            assert A.tags == A0.tags, f"{e.name}: rename dropped tags {sorted(A0.tags - A.tags)}"
            inv = A._inverse()
            if inv is not None:
                assert (inv.ishape, inv.oshape) == (A.oshape, A.ishape), e.name
                with ll.set_densify("allow"):
                    P = _dense(inv @ A)
                    assert_close(P, torch.eye(A.shape[1], dtype=P.dtype), _rtol(1e3, P), f"{e.name}: A⁻¹ A")
                checked += 1
    assert checked >= 5, f"only {checked} renamed structural inverses checked"


# ---------------------------------------------------------------- regressions (issue 8)
def test_pad_after_crop_is_not_identity():
    P, C = ll.Pad((3,), {"d0": (1, 1)}), ll.Crop((5,), {"d0": (1, 1)})
    for A in (P @ C, C.H @ C, P.H.H @ P.H):
        assert_close(_dense(A), torch.diag(torch.tensor([0.0, 1, 1, 1, 0])), _rtol(1, A), "Pad @ Crop")
    assert_close(_dense(C @ P), torch.eye(3), _rtol(1, C), "Crop @ Pad")  # crop after pad does cancel
    assert type(C @ P).__name__ == "Identity"


def test_cropped_fft_normal_and_regularized_solve():
    C = ll.Crop((8,), {"N": (1, 2)}, "N", dtype=torch.complex128)
    A = C @ ll.FFT((8,), "N", dtype=torch.complex128)
    D = _dense(A)
    assert_close(_dense(A.N), D.mH @ D, _rtol(1, D), "(Crop F).N")
    assert_close(_dense(A.H @ A), D.mH @ D, _rtol(1, D), "(Crop F)ᴴ (Crop F)")
    lam = 0.1
    b = torch.randn(8, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    x = torch.linalg.solve(A.N + lam * ll.Identity((8,), "N", dtype=torch.complex128), b)
    ref = torch.linalg.solve(D.mH @ D + lam * torch.eye(8, dtype=torch.complex128), b)
    assert_close(x, ref, _rtol(1e3, ref), "solve AᴴA + λI")


def test_pad_diagonal_with_negative_widths():
    P = ll.Pad((4,), {"d0": (1, -1)})
    assert_close(torch.diagonal(P), _dense(P).diagonal(), _rtol(1, P), "Pad(1, -1).diagonal()")
    assert P._diagonal().abs().sum() == 0
    Q = ll.Pad((3, 4), {"H": (0, 0), "W": (0, 0)}, "HW")
    assert_close(Q._diagonal(), torch.ones(12), _rtol(1, Q), "Pad(0).diagonal()")


@pytest.mark.parametrize("kind", ["Diagonal", "Convolve", "Mask", "Scalar", "Identity", "Permutation"])
def test_renamed_square_adjoint_swaps_names(kind):
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.complex128)
    A = {
        "Diagonal": lambda: ll.Diagonal(w, "N"),
        "Convolve": lambda: ll.Convolve(w[:3], (4,), "N", offset=1),
        "Mask": lambda: ll.Mask(torch.tensor([True, False, True, True]), "N", dtype=torch.complex128),
        "Scalar": lambda: ll.Scalar(w[1] * 1j, (4,), "N"),
        "Identity": lambda: ll.Identity((4,), "N", dtype=torch.complex128),
        "Permutation": lambda: ll.Permutation(torch.tensor([2, 0, 3, 1]), "N", dtype=torch.complex128),
    }[kind]().rename(ishape="A", oshape="B")
    assert (A.ishape, A.oshape) == (("A",), ("B",))
    for B in (A.H, A.T):
        assert (B.ishape, B.oshape) == (("B",), ("A",)), kind
    assert (A.conj().ishape, A.conj().oshape) == (("A",), ("B",))
    assert A.N.ishape == A.N.oshape == ("A",)
    D = _dense(A)
    assert_close(_dense(A.H @ A), D.mH @ D, _rtol(1, D), f"{kind} renamed Aᴴ A")


def test_lsqr_on_concat_of_renamed_blocks():
    g = torch.Generator().manual_seed(2)
    D1 = ll.Diagonal(torch.rand(4, generator=g, dtype=torch.float64) + 1, "N").rename(ishape="X", oshape="Y")
    D2 = ll.Convolve(torch.tensor([1.0, -1.0], dtype=torch.float64), (4,), "N").rename(ishape="X", oshape="Y")
    A = ll.Concat(D1, D2, odim="Y")
    b = torch.randn(8, generator=g, dtype=torch.float64)
    x, _ = ll.lsqr(A, b.reshape(A.osize), rtol=1e-12, maxiter=200)
    x = x.reshape(-1)
    ref = torch.linalg.lstsq(_dense(A), b[:, None]).solution[:, 0]
    assert_close(x, ref, _rtol(1e3, ref), "lsqr on Concat of renamed blocks")


def test_composites_densify_exactly_with_nan():
    """Composites densify from their children: a NaN entry stays where dense torch puts it."""
    W = torch.tensor([[1.0, float("nan")], [2.0, 3.0]], dtype=torch.float64)
    A, B = ll.Dense(W), ll.Dense(torch.eye(2, dtype=torch.float64) * 2)
    cases = [
        (2 * A, 2 * W),
        (A + B, W + 2 * torch.eye(2, dtype=torch.float64)),
        (A.H, W.mH),
        (A.conj(), W),
        (torch.cat([A, B], dim=0), torch.cat([W, 2 * torch.eye(2, dtype=torch.float64)], 0)),
        (torch.kron(A, B), torch.kron(W, 2 * torch.eye(2, dtype=torch.float64))),
        (ll.Chain(A, B), W @ (2 * torch.eye(2, dtype=torch.float64))),
    ]
    for op, ref in cases:
        got = _dense(op)
        assert torch.equal(got.isnan(), ref.isnan()), f"{type(op).__name__}: NaN at {got.isnan().tolist()}"
        assert_close(torch.nan_to_num(got), torch.nan_to_num(ref), _rtol(1, got), type(op).__name__)
