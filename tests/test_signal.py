"""Signal catalog: PyLops 2.8 parity by explicit dense matrices (derivatives, Laplacian,
Gradient, Convolve1D convention), FromFunction's autograd adjoint, ToDevice placement."""

import copy
import io
import itertools
import pickle

import pytest
import torch

import lazylinops as ll
from lazylinops.testing import assert_close

C128 = torch.complex128
F64 = torch.float64


def T(rows):
    return torch.tensor(rows, dtype=F64)


# --------------------------------------------------------------------------------------
# PyLops 2.8 FirstDerivative (pylops/basicoperators/firstderivative.py), written out for n = 6:
#   centered order 3: y[i] = 0.5 (x[i+1] − x[i−1]) for 1 ≤ i ≤ n−2; edge: y[0] = x[1] − x[0], y[−1] = x[−1] − x[−2]
#   centered order 5: y[i] = x[i−2]/12 − 2x[i−1]/3 + 2x[i+1]/3 − x[i+2]/12 for 2 ≤ i ≤ n−3;
#                     edge: y[0], y[−1] one-sided, y[1] = 0.5 (x[2] − x[0]), y[−2] = 0.5 (x[−1] − x[−3])
#   forward: y[i] = x[i+1] − x[i] (last row 0); backward: y[i] = x[i] − x[i−1] (first row 0)
#   all divided by the sampling step; `edge` only affects centered stencils.
a, b = 1 / 12, 2 / 3
FIRST = {
    ("centered", 3, False): T(
        [
            [0, 0, 0, 0, 0, 0],
            [-0.5, 0, 0.5, 0, 0, 0],
            [0, -0.5, 0, 0.5, 0, 0],
            [0, 0, -0.5, 0, 0.5, 0],
            [0, 0, 0, -0.5, 0, 0.5],
            [0, 0, 0, 0, 0, 0],
        ]
    ),
    ("centered", 3, True): T(
        [
            [-1, 1, 0, 0, 0, 0],
            [-0.5, 0, 0.5, 0, 0, 0],
            [0, -0.5, 0, 0.5, 0, 0],
            [0, 0, -0.5, 0, 0.5, 0],
            [0, 0, 0, -0.5, 0, 0.5],
            [0, 0, 0, 0, -1, 1],
        ]
    ),
    ("centered", 5, False): T(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
            [a, -b, 0, b, -a, 0],
            [0, a, -b, 0, b, -a],
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
        ]
    ),
    ("centered", 5, True): T(
        [
            [-1, 1, 0, 0, 0, 0],
            [-0.5, 0, 0.5, 0, 0, 0],
            [a, -b, 0, b, -a, 0],
            [0, a, -b, 0, b, -a],
            [0, 0, 0, -0.5, 0, 0.5],
            [0, 0, 0, 0, -1, 1],
        ]
    ),
    ("forward", 3, False): T(
        [
            [-1, 1, 0, 0, 0, 0],
            [0, -1, 1, 0, 0, 0],
            [0, 0, -1, 1, 0, 0],
            [0, 0, 0, -1, 1, 0],
            [0, 0, 0, 0, -1, 1],
            [0, 0, 0, 0, 0, 0],
        ]
    ),
    ("backward", 3, False): T(
        [
            [0, 0, 0, 0, 0, 0],
            [-1, 1, 0, 0, 0, 0],
            [0, -1, 1, 0, 0, 0],
            [0, 0, -1, 1, 0, 0],
            [0, 0, 0, -1, 1, 0],
            [0, 0, 0, 0, -1, 1],
        ]
    ),
}
FIRST[("forward", 3, True)] = FIRST[("forward", 3, False)]  # PyLops: edge is centered-only
FIRST[("backward", 3, True)] = FIRST[("backward", 3, False)]

# PyLops 2.8 SecondDerivative, n = 5: centered y[i] = x[i+1] − 2x[i] + x[i−1] (edge rows: x[0] − 2x[1] + x[2],
# x[−3] − 2x[−2] + x[−1]); forward y[i] = x[i] − 2x[i+1] + x[i+2] for i ≤ n−3; backward y[i] = x[i−2] − 2x[i−1] + x[i]
# for i ≥ 2; all divided by sampling².
SECOND = {
    ("centered", False): T([[0, 0, 0, 0, 0], [1, -2, 1, 0, 0], [0, 1, -2, 1, 0], [0, 0, 1, -2, 1], [0, 0, 0, 0, 0]]),
    ("centered", True): T([[1, -2, 1, 0, 0], [1, -2, 1, 0, 0], [0, 1, -2, 1, 0], [0, 0, 1, -2, 1], [0, 0, 1, -2, 1]]),
    ("forward", False): T([[1, -2, 1, 0, 0], [0, 1, -2, 1, 0], [0, 0, 1, -2, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),
    ("backward", False): T([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, -2, 1, 0, 0], [0, 1, -2, 1, 0], [0, 0, 1, -2, 1]]),
}
SECOND[("forward", True)] = SECOND[("forward", False)]
SECOND[("backward", True)] = SECOND[("backward", False)]


@pytest.mark.parametrize("kind,order,edge", list(FIRST))
def test_first_derivative_matches_pylops(kind, order, edge):
    D = ll.FirstDerivative((6,), kind=kind, edge=edge, order=order, sampling=0.5, dtype=F64)
    assert_close(D.to_dense(), FIRST[(kind, order, edge)] / 0.5, 1e-12)
    assert_close(D.H.to_dense(), FIRST[(kind, order, edge)].T / 0.5, 1e-12)


@pytest.mark.parametrize("kind,edge", list(SECOND))
def test_second_derivative_matches_pylops(kind, edge):
    D = ll.SecondDerivative((5,), kind=kind, edge=edge, sampling=2.0, dtype=F64)
    assert_close(D.to_dense(), SECOND[(kind, edge)] / 4.0, 1e-12)
    assert_close(D.H.to_dense(), SECOND[(kind, edge)].T / 4.0, 1e-12)


def test_derivative_along_first_dim_and_batch():
    # PyLops FirstDerivative((6, 3), axis=0): kron(D, I_3)
    D = ll.FirstDerivative((6, 3), "HW", dim="H", edge=True, dtype=F64)
    assert_close(D.to_dense(), torch.kron(FIRST[("centered", 3, True)], torch.eye(3, dtype=F64)), 1e-12)
    x = torch.randn(2, 4, 6, 3, dtype=C128)
    y = D(x)
    assert y.shape == x.shape and y.dtype == C128
    assert_close(y.reshape(8, 18), x.reshape(8, 18) @ D.to_dense().T.to(C128), 1e-12)


def test_dim_none_is_last_dim():
    D = ll.SecondDerivative((3, 5), "CN", dtype=F64)
    assert_close(D.to_dense(), torch.kron(torch.eye(3, dtype=F64), SECOND[("centered", False)]), 1e-12)


@pytest.mark.parametrize("kind", ["centered", "forward", "backward"])
def test_laplacian_matches_pylops(kind):
    # PyLops Laplacian((6, 5), axes=(0, 1), weights=(1, 2), sampling=(0.5, 2)) = Σ w_a SecondDerivative(axis a);
    # note: PyLops 2.8 applies `kind` to the first axis only; we apply it to every axis (see the docstring).
    w, s = (1.0, 2.0), (0.5, 2.0)
    L = ll.Laplacian((5, 5), "HW", weights=w, sampling=s, edge=True, kind=kind, dtype=F64)
    S = SECOND[(kind, True)]
    I5 = torch.eye(5, dtype=F64)
    expected = w[0] * torch.kron(S, I5) / s[0] ** 2 + w[1] * torch.kron(I5, S) / s[1] ** 2
    assert_close(L.to_dense(), expected, 1e-12)


def test_laplacian_default_all_dims_and_subset():
    L = ll.Laplacian((5, 5, 2), "HWC", dims="HW", dtype=F64)
    S, I5, I2 = SECOND[("centered", False)], torch.eye(5, dtype=F64), torch.eye(2, dtype=F64)
    assert_close(L.to_dense(), torch.kron(torch.kron(S, I5), I2) + torch.kron(torch.kron(I5, S), I2), 1e-12)
    L_all = ll.Laplacian((5, 5), dtype=F64)
    assert_close(L_all.to_dense(), torch.kron(S, I5) + torch.kron(I5, S), 1e-12)


@pytest.mark.parametrize("kind,edge", [("centered", False), ("centered", True), ("forward", False), ("backward", True)])
def test_gradient_matches_pylops(kind, edge):
    # PyLops Gradient((6, 6), sampling=(1, 2)): VStack of FirstDerivative along each axis; output (2, 6, 6)
    G = ll.Gradient((6, 6), "HW", sampling=(1.0, 2.0), edge=edge, kind=kind, dtype=F64)
    assert G.oshape == ("G", "H", "W") and G.osize == (2, 6, 6)
    D, I6 = FIRST[(kind, 3, edge)], torch.eye(6, dtype=F64)
    assert_close(G.to_dense(), torch.cat([torch.kron(D, I6), torch.kron(I6, D) / 2.0]), 1e-12)


def test_derivative_errors_and_split():
    with pytest.raises(ValueError, match="kind"):
        ll.FirstDerivative((5,), kind="central")
    with pytest.raises(ValueError, match="order"):
        ll.FirstDerivative((5,), order=4)
    with pytest.raises(ll.ShapeError, match="too few"):
        ll.FirstDerivative((4,), order=5)
    with pytest.raises(ll.ShapeError, match="not one of"):
        ll.SecondDerivative((4, 5), "HW", dim="Q")
    with pytest.raises(ValueError, match="weights"):
        ll.Laplacian((4, 5), weights=(1.0,))
    with pytest.raises(ll.ShapeError, match="gdim"):
        ll.Gradient((4, 5), "GW")
    D = ll.FirstDerivative((4, 6), "CN", dim="N", dtype=F64)
    with pytest.raises(ll.ShapeError, match="'N'"):
        D._split({"N": slice(0, 3)})
    sub = D._split({"C": slice(1, 3)})
    assert_close(sub.to_dense(), D.to_dense()[6:18, 6:18], 1e-12)
    G = ll.Gradient((4, 5), "HW", dtype=F64)
    assert_close(G._split({"G": slice(1, 2)}).to_dense(), G.to_dense()[20:], 1e-12)
    L = ll.Laplacian((3, 5), "CN", dims="N", dtype=F64)
    assert_close(L._split({"C": slice(0, 1)}).to_dense(), L.to_dense()[:5, :5], 1e-12)


def test_derivative_dtype_promotion_and_conj():
    D = ll.FirstDerivative((5,))
    assert D.dtype == torch.get_default_dtype()
    y = D(torch.randn(5, dtype=C128))
    assert y.dtype == C128
    assert D.conj() is D


# --------------------------------------------------------------------------------------
# Convolve: y[n] = Σ_k h[k]·x[n + offset − k], zero outside the signal (PyLops Convolve1D's `offset`:
# the index of the kernel's centre — pylops/signalprocessing/convolve1d.py pads h by 2(nh//2 − offset)
# (minus 1 for even nh) and calls scipy's convolve(mode="same"), which is exactly this sum).


def conv_matrix(h, size, offset):
    """The dense matrix of the definition, written out sample by sample (N-D, row-major)."""
    idx = list(itertools.product(*[range(s) for s in size]))
    M = torch.zeros(len(idx), len(idx), dtype=h.dtype)
    for i, n in enumerate(idx):
        for j, m in enumerate(idx):
            k = tuple(nn + o - mm for nn, o, mm in zip(n, offset, m))
            if all(0 <= kk < s for kk, s in zip(k, h.shape)):
                M[i, j] = h[k]
    return M


def test_convolve_literal_pylops_example():
    # pylops Convolve1D(5, h=[1, 2, 3], offset=1) is np.convolve(x, h, "same"):
    C = ll.Convolve(torch.tensor([1.0, 2.0, 3.0], dtype=F64), (5,), offset=1)
    assert_close(
        C.to_dense(), T([[2, 1, 0, 0, 0], [3, 2, 1, 0, 0], [0, 3, 2, 1, 0], [0, 0, 3, 2, 1], [0, 0, 0, 3, 2]]), 1e-12
    )
    C0 = ll.Convolve(torch.tensor([1.0, 2.0, 3.0], dtype=F64), (4,), offset=0)  # causal
    assert_close(C0.to_dense(), T([[1, 0, 0, 0], [2, 1, 0, 0], [3, 2, 1, 0], [0, 3, 2, 1]]), 1e-12)


@pytest.mark.parametrize("method", ["direct", "fft", "auto"])
@pytest.mark.parametrize("nh,offset", [(3, 0), (3, 2), (4, 1), (4, 3), (5, 2)])
def test_convolve_1d_definition(method, nh, offset):
    h = torch.randn(nh, dtype=C128)
    C = ll.Convolve(h, (7,), offset=offset, method=method)
    assert_close(C.to_dense(), conv_matrix(h, (7,), (offset,)), 1e-12)
    y = torch.randn(3, 7, dtype=C128)
    assert_close(C.H(y), y @ conv_matrix(h, (7,), (offset,)).conj(), 1e-12)
    assert_close(C._apply_adjoint(y), y @ conv_matrix(h, (7,), (offset,)).conj(), 1e-12)
    assert ll.testing.dottest(C)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_convolve_2d_on_leading_dims(method):
    h = torch.randn(2, 3, dtype=C128)
    C = ll.Convolve(h, (4, 5, 2), "HWC", dim="HW", offset=(1, 2), method=method)
    M = torch.kron(conv_matrix(h, (4, 5), (1, 2)), torch.eye(2, dtype=C128))
    assert_close(C.to_dense(), M, 1e-12)
    assert_close(C.H.to_dense(), M.mH, 1e-12)
    x = torch.randn(3, 4, 5, 2, dtype=F64)
    assert_close(C(x).reshape(3, 40), x.reshape(3, 40).to(C128) @ M.T, 1e-12)


def test_convolve_long_kernel_uses_fft_and_real_path():
    h = torch.randn(80, dtype=F64)
    C = ll.Convolve(h, (9,), offset=40)
    assert "fft" in repr(C)
    assert_close(C.to_dense(), conv_matrix(h, (9,), (40,)), 1e-12)
    assert C(torch.randn(9, dtype=F64)).dtype == F64


def test_convolve_structural_adjoint_and_conj():
    h = torch.randn(4, dtype=C128)
    C = ll.Convolve(h, (6,), offset=1)
    assert type(C.H) is ll.Convolve and C.H.offset == (2,)
    assert type(C.conj()) is ll.Convolve
    assert_close(C.conj().to_dense(), C.to_dense().conj(), 1e-12)
    assert_close(C.T.to_dense(), C.to_dense().T, 1e-12)


def test_convolve_kernel_gradient():
    h = torch.randn(3, dtype=F64, requires_grad=True)
    C = ll.Convolve(h, (6,), offset=1)
    x = torch.randn(6, dtype=F64)
    assert C.requires_grad
    C(x).pow(2).sum().backward()
    h2 = h.detach().clone().requires_grad_()
    (conv_matrix(h2, (6,), (1,)) @ x).pow(2).sum().backward()
    assert_close(h.grad, h2.grad, 1e-12)


def test_convolve_errors_and_split():
    with pytest.raises(ValueError, match="offset"):
        ll.Convolve(torch.ones(3), (5,), offset=3)
    with pytest.raises(ll.ShapeError, match="dim"):
        ll.Convolve(torch.ones(3, 3), (5, 5), "HW", dim="H")
    with pytest.raises(ValueError, match="method"):
        ll.Convolve(torch.ones(3), (5,), method="overlapadd")
    C = ll.Convolve(torch.randn(3, dtype=F64), (3, 5), "CN", dim="N")
    with pytest.raises(ll.ShapeError, match="'N'"):
        C._split({"N": slice(0, 2)})
    assert_close(C._split({"C": slice(1, 2)}).to_dense(), C.to_dense()[5:10, 5:10], 1e-12)


# --------------------------------------------------------------------------------------
# FromFunction


def scale_shift(x):
    return 2 * x - torch.roll(x, 1, -1)


torch.serialization.add_safe_globals([scale_shift])


def test_fromfunction_autograd_adjoint_real_and_complex():
    W = torch.randn(4, 3, dtype=F64)
    Wc = torch.randn(4, 3, dtype=C128)
    for M in (W, Wc):
        A = ll.FromFunction(lambda x, M=M: x @ M.T, (3,), (4,), dtype=M.dtype)
        y = torch.randn(2, 4, dtype=M.dtype)
        assert_close(A.H(y), y @ M.conj(), 1e-12)  # vjp at 0 is Aᴴ y (conjugate-Wirtinger convention)
        assert ll.testing.dottest(A)
        assert_close(A.to_dense(), M, 1e-12)
        assert_close(A.H.to_dense(), M.mH, 1e-12)
    # a real operator applied to complex data: the adjoint is Aᵀ (= Aᴴ) applied to complex y
    A = ll.FromFunction(lambda x: x @ W.T, (3,), (4,), dtype=F64)
    yc = torch.randn(4, dtype=C128)
    assert_close(A.H(yc), yc @ W.to(C128), 1e-12)


def test_fromfunction_adjoint_under_no_grad_and_differentiable():
    M = torch.randn(3, 3, dtype=F64)
    A = ll.FromFunction(lambda x: x @ M.T, (3,), (3,), dtype=F64)
    with torch.no_grad():
        out = A.H(torch.ones(3, dtype=F64))
    assert not out.requires_grad
    y = torch.randn(3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y: A.H(y), (y,))


def test_fromfunction_serialization():
    A = ll.FromFunction(scale_shift, (5,), (5,), dtype=F64)
    assert ll.testing.check_operator(A)
    buf = io.BytesIO()
    torch.save(A, buf)
    buf.seek(0)
    # weights_only=True: scale_shift is a registered safe global
    assert_close(torch.load(buf).to_dense(), A.to_dense(), 1e-12)
    L = ll.FromFunction(lambda x: 3 * x, (2,), (2,))
    with pytest.raises(pickle.PicklingError, match="module-level"):
        pickle.dumps(L)
    with pytest.raises(pickle.PicklingError, match="lambda"):
        torch.save(L, io.BytesIO())
    assert_close(copy.deepcopy(L).to_dense(), L.to_dense(), 1e-12)


def test_fromfunction_shape_errors():
    A = ll.FromFunction(lambda x: x.sum(-1), (3,), (3,))
    with pytest.raises(ll.ShapeError, match="batch"):
        A(torch.ones(3))
    with pytest.raises(TypeError):
        ll.FromFunction(3, (3,), (3,))


# --------------------------------------------------------------------------------------
# ToDevice


def test_todevice_cpu_meta_placement():
    Tm = ll.ToDevice("cpu", "meta", (3, 4), "HW")
    x = torch.randn(2, 3, 4)
    y = Tm(x)
    assert y.device.type == "meta" and y.shape == (2, 3, 4)
    assert Tm.device.type == "cpu" and Tm.H.idevice.type == "meta" and Tm.H.odevice.type == "cpu"
    with pytest.raises(ll.DeviceError, match="meta"):
        Tm.H(torch.empty(3, 4, device="meta"))  # a meta tensor has no data to move back
    assert type(Tm.N) is ll.Identity and Tm.N.device.type == "cpu"
    assert Tm.H.H is Tm
    sub = Tm._split({"H": slice(0, 2)})
    assert sub.isize == (2, 4) and sub.odevice.type == "meta"
    assert Tm.to(torch.float64).dtype == torch.float64 and Tm.to(torch.float64).odevice.type == "meta"


def test_todevice_cpu_cpu_is_identity():
    Tc = ll.ToDevice("cpu", "cpu", (3,), dtype=F64)
    x = torch.randn(3, dtype=F64)
    y = Tc(x)
    assert_close(y, x, 1e-12)
    assert y is not x  # operators never return the caller's tensor
    assert_close(Tc.to_dense(), torch.eye(3, dtype=F64), 1e-12)
    assert Tc._inverse() is Tc.H


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_todevice_cuda_roundtrip():
    Tg = ll.ToDevice("cpu", "cuda", (1000,))
    x = torch.randn(1000)
    y = Tg(x)
    assert y.device.type == "cuda"
    assert_close(Tg.H(y), x, 0)
