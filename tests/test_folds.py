"""Folding at construction never leaves a stale operator (DESIGN §3 "Never stale").

``D(p) + λI`` would fold into ``Diagonal(p + λ)``: a new tensor computed once, which an
optimizer step on ``p`` leaves stale (and whose graph a second backward finds freed). Weights
that require grad are therefore never folded or cast at construction; hooks that need the
folded form (``Sum._inverse``) fold on each call.
"""

import pytest
import torch

import lazylinops as ll

DT = torch.float64


def _p(seed, n=5, dtype=DT):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.Parameter((torch.rand(n, generator=g, dtype=DT) + 1).to(dtype))


def _lowrank_u(n=5):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(9), dtype=DT)


# name → (builder of the operator from its parameters, number of parameters)
BUILDS = {
    "diag + scalar": (lambda p: ll.Diagonal(p[0]) + 0.5 * ll.Identity((5,), dtype=DT), 1),
    "diag @ diag": (lambda p: ll.Diagonal(p[0]) @ ll.Diagonal(p[1]), 2),
    "scalar * diag": (lambda p: 3.0 * ll.Diagonal(p[0]), 1),
    "diag + diag": (lambda p: ll.Diagonal(p[0]) + ll.Diagonal(p[1]), 2),
    "lowrank @ diag": (lambda p: ll.LowRank(_lowrank_u()) @ ll.Diagonal(p[0]) + ll.Identity((5,), dtype=DT), 1),
    "float32 diag in a float64 chain": (
        lambda p: ll.Diagonal(p[0]) @ ll.Dense(torch.eye(5, dtype=DT) + 0.1 * torch.ones(5, 5, dtype=DT)),
        1,
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_operator_built_once_follows_optimizer_steps(name):
    build, k = BUILDS[name]
    dtype = torch.float32 if "float32" in name else DT
    params = [_p(i, dtype=dtype) for i in range(k)]
    A = build(params)  # built once, before training
    opt = torch.optim.SGD(params, lr=0.05)
    b = torch.randn(5, generator=torch.Generator().manual_seed(3), dtype=DT)
    for _ in range(3):
        x = ll.solve(A.H @ A + ll.Identity((5,), dtype=DT), b)
        loss = (A @ x).pow(2).sum()
        opt.zero_grad()
        loss.backward()  # a second backward on a folded weight would raise (graph freed)
        fresh_params = [p.detach().clone().requires_grad_() for p in params]
        F = build(fresh_params)
        xf = ll.solve(F.H @ F + ll.Identity((5,), dtype=DT), b)
        (F @ xf).pow(2).sum().backward()
        for p, q in zip(params, fresh_params):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-9)
        opt.step()
        with ll.set_densify("allow"):
            Fd = build([p.detach() for p in params]).to_dense()
            torch.testing.assert_close(A.to_dense().detach(), Fd)
        torch.testing.assert_close((A @ b).detach(), Fd @ b)
        torch.testing.assert_close(A.N.to_dense().detach(), Fd.mH @ Fd)


def test_frozen_weights_still_fold():
    w = torch.rand(5, dtype=DT) + 1
    assert type(ll.Diagonal(w) + 0.5 * ll.Identity((5,), dtype=DT)) is ll.Diagonal
    assert type(ll.Diagonal(w) @ ll.Diagonal(w)) is ll.Diagonal


def test_weights_requiring_grad_are_not_folded_but_solve_structurally():
    p = _p(0)
    A = ll.Diagonal(p) + 0.5 * ll.Identity((5,), dtype=DT)
    assert type(A) is ll.Sum  # kept apart: p + 0.5 would be computed once
    x, info = ll.solve(A, torch.ones(5, dtype=DT), return_info=True)
    assert info.method == "structural" and info.matvecs == 0  # folded on demand by Sum._inverse
    torch.testing.assert_close(x.detach(), 1 / (p.detach() + 0.5))
