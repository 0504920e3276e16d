"""The operator contract: every registry entry × dtype × check of ``ll.testing`` (each reports separately).

A combination a check cannot run on is skipped with the check's reason (``CheckSkipped``; a hook the
class does not define is ``CheckNotApplicable``); ``test_hook_checks_run`` counts them so that no
hook check passes by skipping everything. Known operator bugs the checks found are strict xfails in
``KNOWN_BUGS`` (xfail while they fail; a fix makes the test fail until the entry is removed).
"""

import pickle
import warnings
from collections import Counter

import pytest
import torch
from registry import REGISTRY

import lazylinops as ll
from lazylinops.errors import ShapeError
from lazylinops.testing import CHECKS, CheckNotApplicable, CheckSkipped

KNOWN_BUGS = {}  # (entry, check) → what is wrong; every dtype fails alike (strict: a fix must remove its entry)
HOOK_CHECKS = ("diagonal", "inverse", "normal", "slogdet", "split")


@pytest.mark.parametrize("name", list(CHECKS))
def test_contract(op, entry, dtype, name):
    if name == "gradcheck" and dtype not in (torch.float64, torch.complex128):
        pytest.skip("gradcheck runs in double precision (the float64/complex128 builds)")
    bug = KNOWN_BUGS.get((entry.name, name))
    try:
        CHECKS[name](op, rtol=ll.testing.default_rtol(op.dtype) * entry.rtol)
    except AssertionError:
        if not bug:
            raise
        pytest.xfail(bug)
    except CheckSkipped as e:
        if not bug:
            pytest.skip(f"{type(e).__name__}: {e}")
    if bug:
        pytest.fail(f"KNOWN_BUGS[{entry.name!r}, {name!r}] no longer fails: remove the entry (it said: {bug})")


def test_known_bugs_name_real_combinations():
    names = {e.name for e in REGISTRY}
    stale = [k for k in KNOWN_BUGS if k[0] not in names or k[1] not in CHECKS]
    assert not stale, f"KNOWN_BUGS entries naming no registry entry or check: {stale}"


def test_hook_checks_run():
    """Each hook check runs (passes, not skipped) on registry operators whose class defines the hook; every
    skip is counted with its kind. The float64 builds; the sweep above covers every dtype."""
    counts = {name: Counter() for name in HOOK_CHECKS}
    for entry in REGISTRY:
        if torch.float64 not in entry.dtypes:
            continue
        A = entry.build(torch.float64)
        for name in HOOK_CHECKS:
            if (entry.name, name) in KNOWN_BUGS:
                counts[name]["known bug"] += 1
                continue
            try:
                CHECKS[name](A, rtol=ll.testing.default_rtol(A.dtype) * entry.rtol)
                counts[name]["ran"] += 1
            except CheckNotApplicable:
                counts[name]["not applicable"] += 1
            except CheckSkipped:
                counts[name]["skipped"] += 1
    print({name: dict(c) for name, c in counts.items()})
    floor = {"diagonal": 25, "inverse": 30, "normal": 60, "slogdet": 10, "split": 45}  # ran on 28, 34, 67, 13, 49
    low = {name: dict(c) for name, c in counts.items() if c["ran"] < floor[name]}
    assert not low, f"hook checks that ran on too few registry operators (floor {floor}): {low}"


# ------------------------------------------------------------------ the contract catches broken operators
class Scale(ll.LinearOperator):
    """``y = c x`` on ``n`` elements (no structural hooks)."""

    def __init__(self, c, n=4, dtype=torch.float64):
        super().__init__(ishape="N", oshape="N", isize=(n,), osize=(n,), dtype=dtype)
        self.c = torch.as_tensor(c, dtype=dtype)

    def _apply(self, x):
        return self.c * x

    def _apply_adjoint(self, y):
        return self.c.conj() * y


class FullScale(Scale):
    """``Scale`` with every structural hook, each right; the subclasses below break one each."""

    def _like(self, c, n=None):
        return type(self)(c, self.shape[0] if n is None else n, self.dtype)

    def _adjoint(self):
        return self._like(self.c.conj())

    def _conj(self):
        return self._like(self.c.conj())

    def _normal(self):
        return self._like(self.c.abs() ** 2)

    def _diagonal(self):
        return self.c.expand(self.shape[0])

    def _inverse(self):
        return self._like(1 / self.c)

    def _slogdet(self):
        n, c = self.shape[0], self.c
        if c == 0:
            return torch.zeros((), dtype=self.dtype), torch.tensor(-torch.inf, dtype=c.abs().dtype)
        return (c / c.abs()) ** n, n * c.abs().log()  # det cI = cⁿ

    def _split(self, tile):
        s = tile.get("N")
        return self if s is None else self._like(self.c, s.stop - s.start)


class WrongDiagonal(FullScale):
    def _diagonal(self):
        return 2 * self.c.expand(self.shape[0])  # should be c, not 2c


class WrongInverse(FullScale):
    def _inverse(self):
        return self._like(self.c)  # should be 1/c


class WrongNormal(FullScale):
    def _normal(self):
        return self._like(self.c.abs())  # should be |c|²


class WrongNormalDims(FullScale):
    def _normal(self):
        return super()._normal().rename("M", "M")  # right values, but not on A's input dims


class WrongSlogdetSign(FullScale):
    def _slogdet(self):
        return torch.ones((), dtype=self.dtype), super()._slogdet()[1]  # sign of cⁿ dropped


class WrongLogabsdet(FullScale):
    def _slogdet(self):
        sign, logabs = super()._slogdet()
        return sign, 2 * logabs  # log|det| of c²ⁿ


class WrongSlogdetDtype(FullScale):
    def _slogdet(self):
        sign, logabs = super()._slogdet()
        return sign, logabs.to(self.dtype)  # log|det| must be real


class SplitIgnoresTile(FullScale):
    def _split(self, tile):
        return self  # should be the block


class WrongSplitBlock(FullScale):
    def _split(self, tile):
        s = tile.get("N")
        return self if s is None else self._like(2 * self.c, s.stop - s.start)  # block of 2cI


class AllOnes(Scale):
    """``y = c·(Σ x)·1``: not elementwise along ``N``, so ``_split`` on ``N`` (named on both sides) must refuse."""

    def _apply(self, x):
        return self.c * x.sum(-1, keepdim=True).expand(x.shape)

    def _apply_adjoint(self, y):
        return self.c.conj() * y.sum(-1, keepdim=True).expand(y.shape)

    def _split(self, tile):
        s = tile.get("N")
        return self if s is None else AllOnes(self.c, s.stop - s.start, self.dtype)  # the block is right


class SplitRefusesAll(FullScale):
    def _split(self, tile):
        raise ShapeError("never split")  # also refuses names it does not have, which it must ignore


class WrongAdjoint(FullScale):
    def _adjoint(self):
        return self._like(2 * self.c.conj())


class WrongAdjointDims(FullScale):
    def _adjoint(self):
        return super()._adjoint().rename("M", "M")  # right values, wrong dim names


class WrongConj(FullScale):
    def _conj(self):
        return self._like(self.c)  # should be c̄


def _quiet(fn, *args, **kwargs):
    """``fn(...)`` with every warning an error: a check that is not applicable passes silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_correct_custom_operator_passes():
    assert _quiet(ll.testing.check_operator, Scale(3.0))
    for name in HOOK_CHECKS:
        with pytest.raises(CheckNotApplicable, match="does not define"):
            CHECKS[name](Scale(3.0))


@pytest.mark.parametrize(
    "c, dt", [(3.0, torch.float64), (-2.0, torch.float64), (-2.0, torch.complex128), (0.5 - 1.5j, torch.complex128)]
)
def test_every_hook_right_passes_and_runs(c, dt):
    A = FullScale(c, 3, dt)
    assert _quiet(ll.testing.check_operator, A)
    for name in HOOK_CHECKS:
        CHECKS[name](A)  # none is skipped: every hook is compared with the dense matrix


def test_singular_operator_slogdet_and_inverse():
    A = FullScale(0.0, 3)
    ll.testing.check_slogdet(A)  # (0, -inf), exactly
    with pytest.raises(CheckSkipped, match="numerically singular"):
        ll.testing.check_inverse(A)
    with pytest.raises(AssertionError, match=r"singular matrix, expected \(0, -inf\)"):
        ll.testing.check_slogdet(WrongSlogdetSign(0.0, 3))


def test_slogdet_not_applicable_to_rectangular():
    A = FullScale(2.0, 3) @ ll.Dense(torch.ones(3, 2, dtype=torch.float64)).rename("K", "N")
    with pytest.raises(CheckNotApplicable):
        ll.testing.check_slogdet(A)


@pytest.mark.parametrize(
    "cls, c, check, match",
    [
        (WrongDiagonal, 3.0, "diagonal", "_diagonal"),
        (WrongInverse, 3.0, "inverse", "_inverse"),
        (WrongNormal, 3.0, "normal", r"_normal\(\) vs Dᴴ D"),
        (WrongNormalDims, 3.0, "normal", "not A's input dims"),
        (WrongSlogdetSign, -2.0, "slogdet", r"_slogdet\(\) sign"),
        (WrongLogabsdet, 3.0, "slogdet", r"_slogdet\(\) log\|det\|"),
        (WrongSlogdetDtype, 0.5 - 1.5j, "slogdet", "expected a 0-d tensor of torch.float64"),
        (SplitIgnoresTile, 3.0, "split", "shape"),
        (WrongSplitBlock, 3.0, "split", r"_split\(\{'N'"),
        (AllOnes, 3.0, "split", "must raise ShapeError"),
        (SplitRefusesAll, 3.0, "split", "refused a tile naming no dim"),
        (WrongAdjoint, 3.0, "adjoint", "A.H"),
        (WrongAdjointDims, 3.0, "adjoint", r"A.H has dims \('M',\)"),
        (WrongConj, 0.5 - 1.5j, "adjoint", r"A\.(mT|T|conj\(\)):"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_wrong_hook_fails(cls, c, check, match):
    A = cls(c, 3, torch.complex128 if isinstance(c, complex) else torch.float64)
    with pytest.raises(AssertionError, match=match):
        CHECKS[check](A)
    with pytest.raises(AssertionError):
        ll.testing.check_operator(A)


class CountsInternalTwice(ll.Chain):
    def _split(self, tile):
        out = super()._split(tile)
        return 2 * out if "K" in tile else out  # each tile of the internal dim K counted twice


def test_split_of_an_internal_dim_adds_up():
    W1, W2 = torch.randn(3, 4, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    ops = ll.Dense(W1).rename("K", "M"), ll.Dense(W2).rename("N", "K")  # M ← K ← N: K is internal
    ll.testing.check_split(ll.Chain(*ops))
    with pytest.raises(AssertionError, match="partition of internal dim 'K'"):
        ll.testing.check_split(CountsInternalTwice(*ops))


def test_lambda_fromfunction_passes_with_serialization_skipped():
    A = ll.FromFunction(lambda x: 3 * x, (4,), (4,), dtype=torch.float64)
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(A)
    with pytest.warns(UserWarning) as record:
        assert ll.testing.check_operator(A)
    notes = sorted(str(w.message) for w in record)
    assert len(notes) == 2, notes
    assert notes[0].startswith("check_operator: skipped 'module_buffer': FromFunction cannot be pickled")
    assert notes[1].startswith("check_operator: skipped 'serialization': FromFunction cannot be pickled")
    with pytest.raises(CheckSkipped, match="lambda"):
        ll.testing.check_serialization(A)


def test_check_operator_subset_and_unknown_name():
    assert ll.testing.check_operator(WrongDiagonal(3.0), checks=["apply", "adjoint"])  # diagonal not run
    with pytest.raises(ValueError, match="unknown checks"):
        ll.testing.check_operator(Scale(3.0), checks=["diagnal"])
