"""The operator contract, for people writing their own operators and for this project's own tests.

Every operator must give the same answer as its dense matrix ``A.to_dense()``: value, dtype and
shape. Each part of that contract is a named check, ``check_<name>(A, *, rtol=None)``, which
returns when ``A`` passes, raises ``AssertionError`` (what differs, and by how much) when it fails,
and raises ``CheckSkipped`` when it cannot run on ``A`` (an operator that cannot be pickled) or
its subclass ``CheckNotApplicable`` when there is nothing to check (a structural hook the class
does not define, a determinant of a rectangular operator). Every structural hook a class defines
(``_diagonal``, ``_inverse``, ``_normal``, ``_slogdet``, ``_split``; ``_adjoint`` and ``_conj``
through ``A.H`` and ``A.conj()``) is checked against the dense matrix. ``check_operator(A)`` runs
them all; ``dottest(A)`` is the adjoint test alone. ``rtol`` is relative to
``max(max|expected|, 1)``; ``None`` means ``default_rtol(A.dtype)``. The project's test suite runs
exactly these checks over its registry.
"""

import copy
import io
import pickle
import warnings

import torch

from .core.base import LinearOperator
from .core.tiles import AMBIGUOUS, named_sizes
from .dtypes import promote, real_dtype
from .errors import ShapeError


class CheckSkipped(Exception):
    """A check could not run on this operator; the message says why and what was not checked."""


class CheckNotApplicable(CheckSkipped):
    """A check has nothing to check on this operator (a hook its class does not define, a
    determinant of a rectangular operator); ``check_operator`` passes over it without a warning."""


def default_rtol(dtype):
    """The default tolerance: ``1e-4`` in single (or half) precision, ``1e-10`` in double."""
    return 1e-10 if dtype in (torch.float64, torch.complex128) else 1e-4


def _rand(size, dtype, seed, device):
    return torch.randn(*size, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


def assert_close(actual, expected, rtol=None, what="result"):
    """The project's one tolerance check: same shape and dtype, and
    ``max|actual − expected| ≤ rtol · max(max|expected|, 1)`` (NaN never passes).

    Parameters
    ----------
    actual, expected : torch.Tensor
        The computed and the reference values.
    rtol : float, optional
        Relative tolerance; ``default_rtol(expected.dtype)`` when None.
    what : str
        What is compared, for the error message.

    Raises
    ------
    AssertionError
        Naming ``what``, the shapes/dtypes or the max error against the bound.

    >>> import torch
    >>> from lazylinops.testing import assert_close
    >>> assert_close(torch.ones(3), torch.ones(3) + 1e-12)
    """
    if rtol is None:
        rtol = default_rtol(expected.dtype)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {expected.dtype}")
    scale = max(expected.abs().max().item() if expected.numel() else 0.0, 1.0)
    err = (actual - expected).abs().max().item() if expected.numel() else 0.0
    if not err <= rtol * scale:  # `not <=` also catches NaN
        raise AssertionError(f"{what}: max error {err:.3g} > {rtol:.3g} × {scale:.3g}")


def _dense(A, what="to_dense()"):
    D = A.to_dense()
    if type(D) is not torch.Tensor or D.shape != A.shape or D.dtype != A.dtype:
        raise AssertionError(
            f"{what} of {type(A).__name__} gave {type(D).__name__} {tuple(D.shape)} {D.dtype}, "
            f"expected a torch.Tensor {tuple(A.shape)} {A.dtype}"
        )
    return D


def _check(cond, message):
    if not cond:
        raise AssertionError(message)


def dottest(A, *, rtol=None, generator=None, raise_error=True):
    """The adjoint (dot) test ``|⟨A x, y⟩ − ⟨x, Aᴴ y⟩| ≤ rtol·(‖A x‖‖y‖ + ‖x‖‖Aᴴ y‖)`` on random ``x, y``.

    >>> import torch, lazylinops as ll
    >>> ll.testing.dottest(ll.FFT((8,)))
    True

    Returns True, or raises ``AssertionError`` (``raise_error=False``: returns False).
    """
    gen = generator or torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(*A.isize, dtype=A.dtype, generator=gen).to(A.device)
    y = torch.randn(*A.osize, dtype=A.dtype, generator=gen).to(A.device)
    Ax, AHy = A(x), A.H(y)
    lhs = torch.vdot(y.reshape(-1).to(Ax.dtype), Ax.reshape(-1))
    rhs = torch.vdot(AHy.reshape(-1), x.reshape(-1).to(AHy.dtype))
    scale = (Ax.norm() * y.norm()).item() + (x.norm() * AHy.norm()).item()
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    ok = abs(complex(lhs) - complex(rhs)) <= rtol * max(scale, 1e-30)
    if not ok and raise_error:
        raise AssertionError(
            f"dot test failed for {type(A).__name__}: ⟨Ax, y⟩ = {complex(lhs)} but ⟨x, Aᴴy⟩ = {complex(rhs)}"
        )
    return ok


# ---------------------------------------------------------------------------------------- the checks
def check_metadata(A, *, rtol=None):
    """``A`` is a 2-D ``torch.Tensor`` of shape ``(osize.numel(), isize.numel())`` with a readable repr."""
    _check(isinstance(A, torch.Tensor) and isinstance(A, LinearOperator), f"{type(A).__name__} is not an operator")
    _check(A.shape == torch.Size([A.osize.numel(), A.isize.numel()]), f"shape {A.shape} != osize × isize")
    _check(A.dim() == 2 and A.ndim == 2 and A.size() == A.shape and A.size(0) == A.shape[0], "dim()/size()")
    _check(len(A.ishape) == len(A.isize) and len(A.oshape) == len(A.osize), "ishape/oshape lengths vs sizes")
    _check(A.numel() == A.shape[0] * A.shape[1], f"numel() {A.numel()} != {A.shape[0]} × {A.shape[1]}")
    _check(A.is_complex() == A.dtype.is_complex, "is_complex() disagrees with dtype")
    _check(A.is_floating_point() == A.dtype.is_floating_point, "is_floating_point() disagrees with dtype")
    _check("⟨" in repr(A) and str(A) == repr(A) and f"{A}" == repr(A), f"repr/str/format: {A!r}")


def check_apply(A, *, rtol=None):
    """``A @ x``, ``matmul``/``mm``/``mv``, batched ``A @ X``, ``y @ A`` and the named apply ``A(x)`` with a
    batch dim match the dense matrix in value, dtype and shape (complex operators also on real inputs)."""
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    M, N = A.shape
    x0 = _rand((N,), A.dtype, 36, A.device)
    _check((A @ x0).dtype == (D @ x0).dtype == A.dtype, f"A @ x has dtype {(A @ x0).dtype}, expected {A.dtype}")
    for dt in (A.dtype, real_dtype(A.dtype)) if A.dtype.is_complex else (A.dtype,):
        out = promote(A.dtype, dt)
        Dp, t = D.to(out), f" ({dt} input)"
        x, X = _rand((N,), dt, 31, A.device), _rand((N, 3), dt, 32, A.device)
        XB, Y = _rand((2, N, 3), dt, 33, A.device), _rand((4, M), dt, 34, A.device)
        assert_close(A @ x, Dp @ x.to(out), rtol, "A @ x" + t)
        assert_close(torch.matmul(A, X), Dp @ X.to(out), rtol, "matmul(A, X)" + t)
        assert_close(torch.mm(A, X), Dp @ X.to(out), rtol, "mm(A, X)" + t)
        assert_close(torch.mv(A, x), Dp @ x.to(out), rtol, "mv(A, x)" + t)
        assert_close(A @ XB, Dp @ XB.to(out), rtol, "A @ batched" + t)
        assert_close(Y @ A, Y.to(out) @ Dp, rtol, "Y @ A" + t)
        assert_close(Y[0] @ A, Y[0].to(out) @ Dp, rtol, "y @ A" + t)
        assert_close(torch.matmul(Y, A), Y.to(out) @ Dp, rtol, "matmul(Y, A)" + t)
        xb = _rand((2, *A.isize), dt, 35, A.device)
        yb = A(xb)
        _check(yb.shape == (2, *A.osize), f"A(x) with a batch dim: shape {tuple(yb.shape)}, expected {(2, *A.osize)}")
        assert_close(yb.reshape(2, M), xb.reshape(2, N).to(out) @ Dp.T, rtol, "A(x) batched" + t)


def check_dottest(A, *, rtol=None):
    """The adjoint test, ``⟨A x, y⟩ = ⟨x, Aᴴ y⟩`` (see ``dottest``)."""
    dottest(A, rtol=rtol)


def check_adjoint(A, *, rtol=None):
    """``.H``/``.mH``/``adjoint()``/``.T``/``.mT``/``.conj()``/``.N`` match the dense equivalents; ``A.H.H is A``;
    ``A.N`` keeps ``A``'s input dims and is tagged Hermitian PSD."""
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    _check(A.H.H is A, "A.H.H is not A")
    _check(A.mH is A.H and A.adjoint() is A.H, "A.mH / A.adjoint() is not A.H")
    assert_close(_dense(A.H, "A.H"), D.mH, rtol, "A.H")
    assert_close(_dense(A.mT, "A.mT"), D.mT, rtol, "A.mT")
    assert_close(_dense(A.T, "A.T"), D.T, rtol, "A.T")
    assert_close(_dense(A.conj(), "A.conj()"), D.conj().resolve_conj(), rtol, "A.conj()")
    assert_close(_dense(torch.adjoint(A), "torch.adjoint(A)"), D.mH, rtol, "torch.adjoint")
    N = A.N
    _check(N.ishape == N.oshape == A.ishape and N.isize == A.isize, f"A.N dims {N.oshape}←{N.ishape}, not A's input")
    assert_close(_dense(N, "A.N"), D.mH @ D, rtol, "A.N")
    _check({"hermitian", "psd"} <= N.tags, f"A.N tags {sorted(N.tags)} lack hermitian/psd")


def check_diagonal(A, *, rtol=None):
    """The ``_diagonal()`` hook, when it returns a vector, equals the dense main diagonal."""
    d = A._diagonal()
    if d is None:
        return
    D = _dense(A)
    _check(isinstance(d, torch.Tensor), f"_diagonal() returned {type(d).__name__}, expected a tensor or None")
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    assert_close(d.to(A.dtype), D.diagonal(), rtol, f"{type(A).__name__}._diagonal()")


def check_inverse(A, *, rtol=None):
    """The ``_inverse()`` hook, when it returns an operator and ``A`` is invertible, satisfies ``A A⁻¹ = I``
    (to ``rtol · cond(A)``). On a singular ``A`` it may raise ``LinAlgError`` or give non-finite values."""
    name = f"{type(A).__name__}._inverse()"
    try:
        inv = A._inverse()
        if inv is None:
            return
        _check(isinstance(inv, LinearOperator), f"{name} returned {type(inv).__name__}, expected an operator or None")
        X = _dense(inv, name)
    except torch.linalg.LinAlgError as e:
        inv, X, failure = None, None, e
    D = _dense(A)
    cond = torch.linalg.cond(D.to(torch.complex128 if D.is_complex() else torch.float64)).item()
    if not cond < 1e-2 / torch.finfo(A.dtype).eps:
        return  # (numerically) singular: the hook may refuse, and there is nothing to compare with
    if X is None:
        raise AssertionError(f"{name} failed on an invertible operator (cond {cond:.3g}): {failure}") from failure
    _check(
        inv.isize == A.osize and inv.osize == A.isize, f"{name} maps {inv.isize}→{inv.osize}, not {A.osize}→{A.isize}"
    )
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=D.device)
    assert_close(D @ X, eye, rtol * max(cond, 1.0), f"A @ {name} (cond {cond:.3g})")  # A A⁻¹ = I


def _pickled(A, consequence):
    """``pickle.dumps(A)``, or ``CheckSkipped`` when ``A`` refuses to pickle (it holds a lambda, say)."""
    try:
        return pickle.dumps(A)
    except pickle.PicklingError as e:
        raise CheckSkipped(f"{type(A).__name__} cannot be pickled, so {consequence}: {e}") from e


def check_serialization(A, *, rtol=None):
    """Pickle, ``copy.deepcopy`` and ``torch.save``/``torch.load`` (``weights_only=True``) give back the same
    operator. Skipped for operators that refuse to pickle (a ``FromFunction`` of a lambda)."""
    pickled = _pickled(A, "pickle/deepcopy/torch.save are not checked")
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    buf = io.BytesIO()
    torch.save(A, buf)
    buf.seek(0)
    for name, B in (
        ("pickle", pickle.loads(pickled)),
        ("deepcopy", copy.deepcopy(A)),
        ("torch.save", torch.load(buf)),  # weights_only=True is torch's default
    ):
        _check(type(B) is type(A), f"{name} gave {type(B).__name__}, not {type(A).__name__}")
        _check(B.ishape == A.ishape and B.oshape == A.oshape and B.dtype == A.dtype, f"{name}: dims or dtype changed")
        assert_close(_dense(B, name), D, rtol, name)


def check_dtype_moves(A, *, rtol=None):
    """``A.to(float64)`` and ``A.to(complex128)`` match the dense matrix moved the same way (complex → real
    keeps the real part, as torch does)."""
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # complex → real keeps the real part, as torch warns
        B, expected = A.to(torch.float64), D.to(torch.float64)
    _check(B.dtype == torch.float64, f".to(float64) gave dtype {B.dtype}")
    assert_close(_dense(B, ".to(float64)"), expected, rtol, ".to(float64)")
    C = A.to(torch.complex128)
    _check(C.dtype == torch.complex128, f".to(complex128) gave dtype {C.dtype}")
    assert_close(_dense(C, ".to(complex128)"), D.to(torch.complex128), rtol, ".to(complex128)")


def check_gradcheck(A, *, rtol=None):
    """``torch.autograd.gradcheck`` of ``A(x)`` and ``Aᴴ(y)`` with respect to the input and every weight,
    in double precision (a single-precision operator is checked as ``A.to(float64 / complex128)``, same
    structure; ``atol = 10⁴ · rtol``: finite differences lose about four digits)."""
    if A.dtype not in (torch.float64, torch.complex128):
        A, rtol = A.to(torch.complex128 if A.dtype.is_complex else torch.float64), None
    atol = 1e4 * (default_rtol(A.dtype) if rtol is None else rtol)
    ws = [w.detach().clone().requires_grad_() for w in A._flat_weights()]
    x = _rand(A.isize, A.dtype, 41, A.device).requires_grad_()

    def f(x, *ws):
        B = A._with_weights(ws)
        _check(B.requires_grad == any(w.requires_grad for w in ws), "requires_grad does not follow the weights")
        return B(x)

    _check(torch.autograd.gradcheck(f, (x, *ws), eps=1e-6, atol=atol), "gradcheck of A(x)")
    y = _rand(A.osize, A.dtype, 42, A.device).requires_grad_()
    _check(torch.autograd.gradcheck(lambda y, *ws: A._with_weights(ws).H(y), (y, *ws), eps=1e-6, atol=atol), "Aᴴ")


def check_module_buffer(A, *, rtol=None):
    """As an ``nn.Module`` buffer, ``A`` follows ``module.to(float64)`` and survives ``state_dict`` →
    ``torch.save`` → ``load_state_dict`` into a module holding the same operator with zeroed weights
    (that round trip is skipped for operators that refuse to pickle)."""
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    m = torch.nn.Module()
    m.register_buffer("A", A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # complex buffers keep their real part, as in torch
        m2 = m.to(torch.float64)
        expected = D.to(torch.float64)
        fresh = A.to(torch.float64)
    B = m2.A
    _check(isinstance(B, LinearOperator) and B.dtype == torch.float64, f"module.to(float64) gave {type(B).__name__}")
    assert_close(_dense(B, "module.to"), expected, rtol, "module.to")
    sd = m2.state_dict()
    _check(isinstance(sd["A"], LinearOperator), f"state_dict holds {type(sd['A']).__name__}, not the operator")
    _pickled(A, "the state_dict → torch.save → load_state_dict round trip is not checked")
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf)
    target = torch.nn.Module()
    target.register_buffer("A", fresh._with_weights([torch.zeros_like(w) for w in fresh._flat_weights()]))
    target.load_state_dict(loaded)  # must overwrite the zeroed weights
    _check(isinstance(target.A, LinearOperator), f"load_state_dict gave {type(target.A).__name__}")
    assert_close(_dense(target.A, "load_state_dict"), expected, rtol, "load_state_dict")


def check_requires_grad(A, *, rtol=None):
    """``requires_grad_()`` applies to the weights: an operator without weights never requires grad."""
    has_weights = bool(A._flat_weights())
    B = A.detach().requires_grad_()
    _check(B.requires_grad == has_weights, f"requires_grad_() gave {B.requires_grad} with {has_weights=}")
    _check(not A.requires_grad, "A.detach().requires_grad_() changed A")


CHECKS = {
    f.__name__.removeprefix("check_"): f
    for f in (
        check_metadata,
        check_dottest,  # before anything that uses the adjoint: the clearest diagnosis of a wrong one
        check_apply,
        check_adjoint,
        check_diagonal,
        check_inverse,
        check_serialization,
        check_dtype_moves,
        check_gradcheck,
        check_module_buffer,
        check_requires_grad,
    )
}
"""Every check of the contract, by name (``"apply"`` → ``check_apply``), in the order ``check_operator`` runs them."""


def check_operator(A, *, rtol=None, checks=None, generator=None):
    """Run the operator contract on ``A``: every check in ``CHECKS`` (or the names in ``checks``).

    Raises ``AssertionError`` on the first failure; a check that cannot run on ``A`` (``CheckSkipped``:
    an operator that cannot be pickled, gradcheck in single precision) is skipped with a ``UserWarning``
    saying why. ``generator`` is accepted for compatibility; the checks use fixed seeds.

    >>> import torch, lazylinops as ll
    >>> ll.testing.check_operator(ll.Diagonal(torch.arange(1.0, 4.0, dtype=torch.float64)))
    True
    """
    names = tuple(CHECKS) if checks is None else (checks,) if isinstance(checks, str) else tuple(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"check_operator: unknown checks {unknown}; choose from {list(CHECKS)}")
    for name in names:
        try:
            CHECKS[name](A, rtol=rtol)
        except CheckSkipped as e:
            warnings.warn(f"check_operator: skipped {name!r}: {e}", UserWarning, stacklevel=2)
    return True
