"""Testing helpers for people writing their own operators.

``dottest(A)`` checks ``⟨A x, y⟩ = ⟨x, Aᴴ y⟩``; ``check_operator(A)`` runs the operator
contract (apply vs dense, adjoint, transpose, normal, serialization, dtype moves).
"""

import copy
import io
import pickle

import torch

from .base import complex_dtype


def _tol(dtype):
    return 1e-4 if dtype in (torch.float32, torch.complex64, torch.float16, torch.bfloat16) else 1e-10


def _rand(size, dtype, device, gen):
    x = torch.randn(*size, dtype=complex_dtype(dtype) if dtype.is_complex else dtype, device=device, generator=gen)
    return x


def dottest(A, *, rtol=None, generator=None, raise_error=True):
    """The adjoint (dot) test ``|⟨A x, y⟩ − ⟨x, Aᴴ y⟩| ≤ rtol·‖A x‖‖y‖`` on random ``x, y``.

    >>> import torch, lazylinops as ll
    >>> ll.testing.dottest(ll.FFT((8,)))
    True

    Returns True, or raises ``AssertionError`` (``raise_error=False``: returns False).
    """
    gen = generator or torch.Generator(device="cpu").manual_seed(0)
    dtype = A.dtype
    x = _rand(A.isize, dtype, "cpu", gen).to(A.device)
    y = _rand(A.osize, dtype, "cpu", gen).to(A.device)
    Ax, AHy = A(x), A.H(y)
    lhs = torch.vdot(y.reshape(-1).to(Ax.dtype), Ax.reshape(-1))
    rhs = torch.vdot(AHy.reshape(-1), x.reshape(-1).to(AHy.dtype))
    scale = (Ax.norm() * y.norm()).item() + (x.norm() * AHy.norm()).item()
    rtol = _tol(dtype) if rtol is None else rtol
    ok = abs(complex(lhs) - complex(rhs)) <= rtol * max(scale, 1e-30)
    if not ok and raise_error:
        raise AssertionError(
            f"dot test failed for {type(A).__name__}: ⟨Ax, y⟩ = {complex(lhs)} but ⟨x, Aᴴy⟩ = {complex(rhs)}"
        )
    return ok


def _close(a, b, dtype, what):
    tol = _tol(dtype)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise AssertionError(f"{what}: dtype {a.dtype} != {b.dtype}")
    err = (a - b).abs().max().item() if a.numel() else 0.0
    ref = max(b.abs().max().item() if b.numel() else 0.0, 1.0)
    if err > tol * ref * 10:
        raise AssertionError(f"{what}: max error {err:.3g} relative to {ref:.3g}")


def check_operator(A, *, generator=None):
    """Run the operator contract on ``A`` (raises ``AssertionError`` on the first failure).

    Checks: named apply and ``A @ x``/``x @ A`` against ``A.to_dense()``; the dot test;
    ``.H``/``.T``/``.conj()``/``.N`` against the dense equivalents; ``A.H.H is A``;
    pickle, deepcopy and ``torch.save`` round trips; ``.to(float64 or complex128)``.

    >>> import torch, lazylinops as ll
    >>> ll.testing.check_operator(ll.Diagonal(torch.arange(1.0, 4.0)))
    True
    """
    gen = generator or torch.Generator(device="cpu").manual_seed(1)
    D = A.to_dense()
    M, N = A.shape
    _close(torch.as_tensor(D.shape), torch.as_tensor((M, N)), torch.float64, "to_dense shape")
    x = _rand((N,), A.dtype, "cpu", gen).to(A.device)
    X = _rand((N, 3), A.dtype, "cpu", gen).to(A.device)
    Y = _rand((2, M), A.dtype, "cpu", gen).to(A.device)
    _close(A @ x, D @ x, A.dtype, "A @ x")
    _close(A @ X, D @ X, A.dtype, "A @ X")
    _close(A(x.reshape(A.isize)).reshape(M), D @ x, A.dtype, "A(x)")
    dottest(A, generator=gen)  # before anything that uses the adjoint: the clearest diagnosis
    _close(Y @ A, Y @ D, A.dtype, "Y @ A")
    _close(A.H.to_dense(), D.mH, A.dtype, "A.H")
    _close(A.T.to_dense(), D.mT, A.dtype, "A.T")
    _close(A.conj().to_dense(), D.conj().resolve_conj(), A.dtype, "A.conj()")
    _close(A.N.to_dense(), D.mH @ D, A.dtype, "A.N")
    if A.H.H is not A:
        raise AssertionError("A.H.H is not A")
    for name, B in (
        ("pickle", pickle.loads(pickle.dumps(A))),
        ("deepcopy", copy.deepcopy(A)),
        ("torch.save", _save_load(A)),
    ):
        if type(B) is not type(A):
            raise AssertionError(f"{name} returned {type(B).__name__}, not {type(A).__name__}")
        _close(B.to_dense(), D, A.dtype, name)
    target = torch.complex128 if A.dtype.is_complex else torch.float64
    B = A.to(target)
    if B.dtype != target:
        raise AssertionError(f".to({target}) gave dtype {B.dtype}")
    _close(B.to_dense(), D.to(target), A.dtype, f".to({target})")
    return True


def _save_load(A):
    buf = io.BytesIO()
    torch.save(A, buf)
    buf.seek(0)
    return torch.load(buf)
