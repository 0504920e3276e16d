"""scipy / PyLops habits: matvec/rmatvec/matmat/rmatmat and ll.aslinearoperator, never densifying."""

import numpy as np
import pytest
import torch

import lazylinops as ll
from lazylinops.testing import assert_close, default_rtol

scipy_linalg = pytest.importorskip("scipy.sparse.linalg")


@pytest.fixture(autouse=True)
def _no_densify():
    with ll.set_densify("error"):
        yield


@pytest.mark.parametrize("dt", [torch.float64, torch.complex128], ids=str)
def test_methods_equal_dense_numpy_and_torch(entry, dt):
    if dt not in entry.dtypes:
        pytest.skip(f"{entry.name} does not support {dt}")
    A = entry.build(dt)
    with ll.set_densify("allow"):
        D = A.to_dense()
    M, N = A.shape
    g = torch.Generator().manual_seed(0)
    x, X = torch.randn(N, generator=g, dtype=D.dtype), torch.randn(N, 2, generator=g, dtype=D.dtype)
    y, Y = torch.randn(M, generator=g, dtype=D.dtype), torch.randn(M, 2, generator=g, dtype=D.dtype)
    rtol = default_rtol(dt) * entry.rtol * 10
    for name, arg, expected in (
        ("matvec", x, D @ x),
        ("matvec", x[:, None], D @ x[:, None]),
        ("rmatvec", y, D.mH @ y),
        ("matmat", X, D @ X),
        ("rmatmat", Y, D.mH @ Y),
    ):
        got = getattr(A, name)(arg)
        assert type(got) is torch.Tensor
        assert_close(got, expected, rtol=rtol, what=f"{entry.name}.{name} (torch)")
        out = getattr(A, name)(arg.numpy())
        assert isinstance(out, np.ndarray), f"{name}: numpy in must give numpy out"
        assert_close(torch.from_numpy(out), expected, rtol=rtol, what=f"{entry.name}.{name} (numpy)")


def test_bad_shapes_and_types_are_refused():
    A = ll.Dense(torch.randn(4, 3, dtype=torch.float64))
    with pytest.raises(ll.ShapeError, match=r"matvec: expected shape \(3,\) or \(3, 1\), got \(4,\)"):
        A.matvec(np.ones(4))
    with pytest.raises(ll.ShapeError, match=r"matmat: expected shape \(3, K\)"):
        A.matmat(np.ones(3))
    with pytest.raises(TypeError, match="expected a numpy array or a torch tensor, got list"):
        A.rmatvec([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TypeError, match="expected a lazylinops operator"):
        ll.aslinearoperator(np.eye(3))


def test_scipy_solvers_run_on_the_adapter():
    n = 30
    d = torch.linspace(1.0, 3.0, n, dtype=torch.float64)
    U = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.1
    A = ll.Diagonal(d) + ll.LowRank(U)  # symmetric positive definite, structured
    b = np.linspace(-1.0, 1.0, n)
    L = ll.aslinearoperator(A)
    assert L.shape == (n, n) and L.dtype == np.float64
    expected = ll.solve(A, torch.from_numpy(b))
    for solver, kw in ((scipy_linalg.cg, {"rtol": 1e-12}), (scipy_linalg.gmres, {"rtol": 1e-12})):
        x, info = solver(L, b, **kw)
        assert info == 0
        assert_close(torch.from_numpy(x), expected, rtol=1e-8, what=solver.__name__)
    R = ll.Dense(torch.randn(12, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    x = scipy_linalg.lsqr(ll.aslinearoperator(R), np.ones(12), atol=1e-14, btol=1e-14)[0]
    assert_close(torch.from_numpy(x), ll.lstsq(R, torch.ones(12, dtype=torch.float64)), rtol=1e-8, what="lsqr")


def test_complex_adapter_dtype():
    A = ll.FFT((8,))
    L = ll.aslinearoperator(A)
    assert L.dtype == np.complex64
    v = np.ones(8, dtype=np.complex64)
    assert_close(torch.from_numpy(L.rmatvec(L.matvec(v))), torch.from_numpy(v), rtol=1e-5, what="FᴴF v")


def test_scipy_aslinearoperator_itself_cannot_take_a_tensor_dtype():
    """Why ll.aslinearoperator exists: scipy passes A.dtype (a torch.dtype) to numpy.dtype."""
    with pytest.raises(TypeError):
        scipy_linalg.aslinearoperator(ll.Identity((3,), dtype=torch.float64))
