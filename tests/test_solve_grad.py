"""Implicit differentiation through solves: gradcheck and gradgradcheck for b and weights."""

import pytest
import torch
from registry import randn

import lazylinops as ll
from lazylinops.testing import assert_close

DOUBLE = (torch.float64, torch.complex128)


def _mat(n, dtype, seed, shift=3.0):
    return randn(n, n, dtype=dtype, seed=seed) / n**0.5 + shift * torch.eye(n, dtype=dtype)


def _check(f, inputs):
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(f, inputs, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dt", DOUBLE, ids=str)
@pytest.mark.parametrize("method", ["auto", "gmres", "bicgstab", "dense"])
def test_nonhermitian_solve(dt, method):
    W = _mat(4, dt, 1).requires_grad_()
    b = randn(4, 2, dtype=dt, seed=2).requires_grad_()
    _check(lambda W, b: ll.solve(ll.Dense(W), b, method=method, rtol=1e-13), (W, b))


@pytest.mark.parametrize("dt", DOUBLE, ids=str)
def test_normal_plus_lambda_cg(dt):
    W = randn(6, 4, dtype=dt, seed=3).requires_grad_()
    lam = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    b = randn(4, dtype=dt, seed=4).requires_grad_()

    def f(W, lam, b):
        A = ll.Dense(W)
        N = A.N + lam * ll.Identity(A.isize, A.ishape, dtype=dt)
        x, info = ll.solve(N, b, method="cg", rtol=1e-13, return_info=True)
        assert info.method == "cg"
        return x

    _check(f, (W, lam, b))


@pytest.mark.parametrize("dt", DOUBLE, ids=str)
def test_structural_and_chain_inverse(dt):
    d = (randn(2, 2, dtype=dt, seed=5) + 3).requires_grad_()
    W = _mat(4, dt, 6).requires_grad_()
    y = randn(2, 2, dtype=dt, seed=7).requires_grad_()
    F = ll.FFT((2, 2), "HW", dtype=torch.complex128)

    def f(d, W, y):
        D = ll.Diagonal(d, "HW")
        B = ll.Dense(W.reshape(2, 2, 2, 2), ishape="HW", oshape="HW")
        return (ll.inv(F @ D) @ B)(y)  # D⁻¹ Fᴴ (B y) — structural, inside a chain

    _check(f, (d, W, y))

    def g(W, y):
        return ll.inv(ll.Dense(W), method="gmres", rtol=1e-13).H(y.reshape(4))

    _check(g, (W, y))


@pytest.mark.parametrize("dt", DOUBLE, ids=str)
def test_lstsq_grad(dt):
    W = randn(7, 3, dtype=dt, seed=8).requires_grad_()
    b = randn(7, dtype=dt, seed=9).requires_grad_()
    for method, damp in (("cgls", 0.0), ("lsqr", 0.3)):
        f = lambda W, b: ll.lstsq(ll.Dense(W), b, method=method, damp=damp, rtol=1e-13)  # noqa: B023
        assert torch.autograd.gradcheck(f, (W, b), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(lambda W, b: ll.lstsq(ll.Dense(W), b, rtol=1e-13), (W, b), eps=1e-6, atol=1e-5)


def test_backward_uses_one_adjoint_solve():
    """The backward of a GMRES solve is one GMRES solve with Aᴴ (counted by a wrapper)."""
    calls = []

    class Counting(ll.LinearOperator):
        def __init__(self, W):
            super().__init__(ishape="N", oshape="N", isize=(W.shape[1],), osize=(W.shape[0],), dtype=W.dtype)
            self.W = W

        def _apply(self, x):
            calls.append("A")
            return x @ self.W.mT

        def _apply_adjoint(self, y):
            calls.append("AH")
            return y @ self.W.conj()

    W = _mat(5, torch.float64, 10)
    b = randn(5, dtype=torch.float64, seed=11).requires_grad_()
    x = ll.solve(Counting(W), b, method="gmres", rtol=1e-12)
    forward = calls.count("A")
    assert calls.count("AH") == 0
    x.sum().backward()
    assert calls.count("A") == forward  # no forward-operator applies in backward
    assert calls.count("AH") > 0
    assert_close(b.grad, torch.linalg.solve(W.mT, torch.ones(5, dtype=torch.float64)), 1e-8, "∂b")
