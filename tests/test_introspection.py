"""What Jupyter and IDEs see: real signatures, and tab completion that never touches values."""

import inspect

import pytest
import torch

import lazylinops as ll

OPERATOR_CLASSES = sorted(
    (
        getattr(ll, n)
        for n in ll.__all__
        if isinstance(getattr(ll, n), type) and issubclass(getattr(ll, n), ll.LinearOperator)
    ),
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("cls", OPERATOR_CLASSES, ids=lambda c: c.__name__)
def test_class_signature_is_its_init(cls):
    """``inspect.signature(ll.FFT)`` lists ``size, ioshape, …`` (the metaclass would show ``*args, **kwargs``)."""
    sig = inspect.signature(cls)
    expected = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert list(sig.parameters.values()) == expected
    assert "self" not in sig.parameters


def test_signature_of_a_user_subclass():
    class Twice(ll.LinearOperator):
        def __init__(self, n, *, scale=2.0):
            super().__init__(ishape="N", oshape="N", isize=(n,), osize=(n,))
            self.scale = scale

        def _apply(self, x):
            return self.scale * x

        _apply_adjoint = _apply

    assert str(inspect.signature(Twice)) == "(n, *, scale=2.0)"
    assert Twice(3, scale=3.0)(torch.ones(3)).tolist() == [3.0, 3.0, 3.0]


def test_dir_never_densifies(entry):  # parametrized over the registry by conftest
    """``dir(A)`` (tab completion) lists names without building the dense matrix."""
    A = entry.build(torch.float64 if torch.float64 in entry.dtypes else entry.dtypes[0])
    with ll.set_densify("error"):
        names = dir(A)
    assert "H" in names and "to_dense" in names
