"""Warnings name the user's line, whatever path the call took through lazylinops and torch."""

import warnings

import pytest
import torch

import lazylinops as ll

HERE = __file__


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ll.set_densify("warn"):
            fn()
    assert caught, "expected a warning"
    return caught


CALLS = {
    "torch.exp (function)": lambda A: torch.exp(A),
    "A.exp() (method)": lambda A: A.exp(),
    "torch.linalg.svdvals": lambda A: torch.linalg.svdvals(A),
    "A * vector": lambda A: A * torch.ones(4),
    "complex to real .to": lambda A: A.to(torch.complex64).to(torch.float32),
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_warning_points_at_the_callers_line(call):
    A = ll.Dense(torch.randn(4, 4)) + ll.Diagonal(torch.rand(4))
    for w in _caught(lambda: CALLS[call](A)):
        assert w.filename == HERE, f"{call}: warning attributed to {w.filename}:{w.lineno}, not the user's file"


def test_warning_from_torch_code_points_at_the_user():
    """A torch function implemented in Python (``torch.functional.norm``) still names this file."""
    A = ll.Dense(torch.randn(4, 4)) + ll.Diagonal(torch.rand(4))
    for w in _caught(lambda: torch.functional.norm(A, p="nuc")):
        assert w.filename == HERE, f"attributed to {w.filename}:{w.lineno}"


def test_convergence_warning_points_at_the_caller():
    b = torch.ones(50, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        W = ll.Dense(torch.diag(torch.linspace(1, 100, 50, dtype=torch.float64))).with_tags(hermitian=True, pd=True)
        ll.solve(W, b, method="cg", maxiter=1, on_failure="warn")
        torch.matmul(ll.Inverse(W, method="cg", maxiter=1, on_failure="warn"), b)
    found = [w for w in caught if issubclass(w.category, ll.ConvergenceWarning)]
    assert len(found) == 2
    assert all(w.filename == HERE for w in found), [(w.filename, w.lineno) for w in found]
