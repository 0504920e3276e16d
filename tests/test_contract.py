"""The operator contract: every registry entry × dtype × check of ``ll.testing`` (each reports separately)."""

import pickle

import pytest
import torch

import lazylinops as ll
from lazylinops.testing import CHECKS, CheckSkipped


@pytest.mark.parametrize("check", CHECKS.values(), ids=list(CHECKS))
def test_contract(op, entry, dtype, check):
    if check is ll.testing.check_gradcheck and dtype not in (torch.float64, torch.complex128):
        pytest.skip("gradcheck runs in double precision (the float64/complex128 builds)")
    try:
        check(op, rtol=ll.testing.default_rtol(op.dtype) * entry.rtol)
    except CheckSkipped as e:
        pytest.skip(str(e))


# ------------------------------------------------------------------ the contract catches broken operators
class Scale(ll.LinearOperator):
    """``y = c x`` on ``n`` elements, with deliberately replaceable hooks."""

    def __init__(self, c, n=4):
        super().__init__(ishape="N", oshape="N", isize=(n,), osize=(n,), dtype=torch.float64)
        self.c = torch.as_tensor(c, dtype=torch.float64)

    def _apply(self, x):
        return self.c * x

    def _apply_adjoint(self, y):
        return self.c * y


class WrongDiagonal(Scale):
    def _diagonal(self):
        return torch.full((self.shape[0],), 2 * self.c.item(), dtype=torch.float64)  # should be c, not 2c


class WrongInverse(Scale):
    def _inverse(self):
        return Scale(self.c, self.shape[0])  # should be 1/c


def test_correct_custom_operator_passes():
    assert ll.testing.check_operator(Scale(3.0))


def test_wrong_diagonal_hook_fails():
    with pytest.raises(AssertionError, match="_diagonal"):
        ll.testing.check_operator(WrongDiagonal(3.0))


def test_wrong_inverse_hook_fails():
    with pytest.raises(AssertionError, match="_inverse"):
        ll.testing.check_operator(WrongInverse(3.0))


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
