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
    """The default tolerance: ``1e-4`` in single (or half) precision, ``1e-10`` in double.

    Parameters
    ----------
    dtype : torch.dtype
        The dtype compared (an operator's or a tensor's).

    Returns
    -------
    float
        ``1e-10`` for ``float64``/``complex128``, ``1e-4`` for any other dtype.

    Examples
    --------
    >>> import torch
    >>> from lazylinops.testing import default_rtol
    >>> default_rtol(torch.float64), default_rtol(torch.complex64)
    (1e-10, 0.0001)
    """
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

    Returns
    -------
    None
        When the values agree.

    Raises
    ------
    AssertionError
        Naming ``what``, the shapes/dtypes or the max error against the bound.

    Examples
    --------
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

    ``x`` and ``y`` are drawn in ``A.dtype`` on the CPU, then moved to ``A.device``; ``A(x)`` and
    ``A.H(y)`` are the named applies.

    Parameters
    ----------
    A : LinearOperator
        The operator under test.
    rtol : float, optional
        Relative tolerance; ``default_rtol(A.dtype)`` when None.
    generator : torch.Generator, optional
        A CPU generator for ``x`` and ``y``; a fresh one seeded with 0 when None.
    raise_error : bool
        True (default): a failure raises ``AssertionError``; False: it returns False.

    Returns
    -------
    bool
        True when the test passes (False on failure with ``raise_error=False``).

    Raises
    ------
    AssertionError
        The test fails and ``raise_error`` is True; the message gives both inner products.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> ll.testing.dottest(ll.FFT((8,)))
    True
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
    ``A.H`` and ``A.T`` swap ``A``'s dims, ``A.conj()`` keeps them; ``A.N`` keeps ``A``'s input dims and is
    tagged Hermitian PSD. This is the check of the ``_adjoint`` and ``_conj`` hooks (``A.H`` and, for a
    complex ``A``, ``A.conj()`` are built by them)."""
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    _check(A.H.H is A, "A.H.H is not A")
    for what, B, o, i in (
        ("A.H", A.H, A.ishape, A.oshape),
        ("A.T", A.T, A.ishape, A.oshape),
        ("A.conj()", A.conj(), A.oshape, A.ishape),
    ):
        _check(B.oshape == o and B.ishape == i, f"{what} has dims {B.oshape}←{B.ishape}, expected {o}←{i}")
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


def _hook(A, name):
    """``A``'s bound ``name`` hook, or ``CheckNotApplicable`` when its class keeps ``LinearOperator``'s default."""
    if getattr(type(A), name) is getattr(LinearOperator, name):
        raise CheckNotApplicable(f"{type(A).__name__} does not define {name} (the default is correct for any operator)")
    return getattr(A, name)


def _cond(D):
    """The 2-norm condition number of the dense matrix, in double precision (inf when singular)."""
    return torch.linalg.cond(D.to(torch.complex128 if D.is_complex() else torch.float64)).item()


def _singular(A, cond):
    """Whether ``A``'s dense matrix is (numerically) singular in ``A``'s precision."""
    return not cond < 1e-2 / torch.finfo(A.dtype).eps


def check_diagonal(A, *, rtol=None):
    """The ``_diagonal()`` hook, when the class defines it and it returns a vector, equals the dense main
    diagonal (``min(M, N)`` entries)."""
    name = f"{type(A).__name__}._diagonal()"
    d = _hook(A, "_diagonal")()
    if d is None:
        raise CheckNotApplicable(f"{name} returned None (no structural diagonal for this operator)")
    _check(
        isinstance(d, torch.Tensor) and not isinstance(d, LinearOperator),
        f"{name} returned {type(d).__name__}, expected a tensor or None",
    )
    D = _dense(A)
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    assert_close(d.to(A.dtype), D.diagonal(), rtol, name)


def check_inverse(A, *, rtol=None):
    """The ``_inverse()`` hook, when the class defines it and it returns an operator and ``A`` is invertible,
    satisfies ``A A⁻¹ = I`` (to ``rtol · cond(A)``). On a singular ``A`` it may raise ``LinAlgError`` or give
    non-finite values (then nothing is compared: ``CheckSkipped``)."""
    name = f"{type(A).__name__}._inverse()"
    hook = _hook(A, "_inverse")
    try:
        inv = hook()
        if inv is None:
            raise CheckNotApplicable(f"{name} returned None (no structural inverse for this operator)")
        _check(isinstance(inv, LinearOperator), f"{name} returned {type(inv).__name__}, expected an operator or None")
        X = _dense(inv, name)
    except torch.linalg.LinAlgError as e:
        inv, X, failure = None, None, e
    D = _dense(A)
    cond = _cond(D)
    if _singular(A, cond):  # the hook may refuse, and there is nothing to compare with
        raise CheckSkipped(f"{type(A).__name__} is numerically singular (cond {cond:.3g}): {name} not compared")
    if X is None:
        raise AssertionError(f"{name} failed on an invertible operator (cond {cond:.3g}): {failure}") from failure
    _check(
        inv.isize == A.osize and inv.osize == A.isize, f"{name} maps {inv.isize}→{inv.osize}, not {A.osize}→{A.isize}"
    )
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=D.device)
    assert_close(D @ X, eye, rtol * max(cond, 1.0), f"A @ {name} (cond {cond:.3g})")  # A A⁻¹ = I


def check_normal(A, *, rtol=None):
    """The ``_normal()`` hook, when the class defines it, and ``A.N`` equal ``Dᴴ D`` on ``A``'s input dims;
    ``A.N`` is tagged Hermitian PSD.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> ll.testing.check_normal(ll.FFT((4,), dtype=torch.complex128))  # Fᴴ F = n I
    """
    name = f"{type(A).__name__}._normal()"
    N = _hook(A, "_normal")()
    _check(isinstance(N, LinearOperator), f"{name} returned {type(N).__name__}, expected an operator")
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    expected = D.mH @ D
    for what, B in ((name, N), ("A.N", A.N)):
        _check(
            B.ishape == B.oshape == A.ishape and B.isize == B.osize == A.isize,
            f"{what} maps {B.ishape}{tuple(B.isize)}→{B.oshape}{tuple(B.osize)}, not A's input dims "
            f"{A.ishape}{tuple(A.isize)} on both sides",
        )
        assert_close(_dense(B, what), expected, rtol, f"{what} vs Dᴴ D")
    _check({"hermitian", "psd"} <= A.N.tags, f"A.N tags {sorted(A.N.tags)} lack hermitian/psd")


def check_slogdet(A, *, rtol=None):
    """The ``_slogdet()`` hook, when the class defines it, ``A`` is square and it does not return None, gives
    ``(sign, log|det|)`` equal to ``torch.linalg.slogdet`` of the dense matrix: 0-d, ``sign`` in ``A``'s dtype,
    ``log|det|`` in its real dtype, to ``rtol · cond(A)``; on an exactly singular matrix ``(0, -inf)``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> ll.testing.check_slogdet(ll.Diagonal(torch.tensor([2.0, -3.0], dtype=torch.float64)))
    >>> ll.testing.check_slogdet(ll.FFT((3,)) @ ll.Dense(torch.ones(3, 3, dtype=torch.complex64)))
    Traceback (most recent call last):
    lazylinops.testing.CheckNotApplicable: Chain._slogdet() returned None (no structural determinant for this operator)
    """
    name = f"{type(A).__name__}._slogdet()"
    hook = _hook(A, "_slogdet")
    if A.shape[0] != A.shape[1]:
        raise CheckNotApplicable(f"{type(A).__name__} is not square {tuple(A.shape)}: no determinant")
    parts = hook()
    if parts is None:
        raise CheckNotApplicable(f"{name} returned None (no structural determinant for this operator)")
    _check(isinstance(parts, tuple) and len(parts) == 2, f"{name} returned {type(parts).__name__}, expected a pair")
    sign, logabs = parts
    for what, t, dt in (("sign", sign, A.dtype), ("log|det|", logabs, real_dtype(A.dtype))):
        _check(
            isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == dt,
            f"{name} {what}: {type(t).__name__} {tuple(getattr(t, 'shape', ()))} {getattr(t, 'dtype', '')}, "
            f"expected a 0-d tensor of {dt}",
        )
    D = _dense(A)
    ref_sign, ref_logabs = torch.linalg.slogdet(D.to(torch.complex128 if D.is_complex() else torch.float64))
    if ref_logabs.item() == -float("inf"):
        _check(
            sign.item() == 0 and logabs.item() == -float("inf"),
            f"{name} = ({sign.item()}, {logabs.item()}) on a singular matrix, expected (0, -inf)",
        )
        return
    cond = _cond(D)
    if _singular(A, cond):
        raise CheckSkipped(f"{type(A).__name__} is numerically singular (cond {cond:.3g}): {name} not compared")
    rtol = (default_rtol(A.dtype) if rtol is None else rtol) * max(cond, 1.0)
    assert_close(sign, ref_sign.to(A.dtype), rtol, f"{name} sign (cond {cond:.3g})")
    assert_close(logabs, ref_logabs.to(logabs.dtype), rtol, f"{name} log|det| (cond {cond:.3g})")


def _tile_slice(n):
    """A slice cutting both ends of a dim of size ``n`` where it can (a tile off both edges)."""
    return slice(0, n) if n < 2 else slice(1, 2) if n == 2 else slice(1, n - 1)


def _block(A, D, tile):
    """The block of the dense matrix ``D`` that ``A._split(tile)`` must compute, and where ``A`` must be zero
    for that block to be right (a name on both sides: no entry between a kept row and a dropped column)."""
    full = D.reshape(*A.osize, *A.isize)
    nout = len(A.osize)
    index = [tile.get(n, slice(None)) for n in (*A.oshape, *A.ishape)]
    block = full[tuple(index)]
    outside = torch.zeros(full.shape, dtype=torch.bool, device=full.device)
    for n, s in tile.items():
        if n in A.oshape and n in A.ishape:
            p, q = A.oshape.index(n), nout + A.ishape.index(n)
            rows = torch.zeros(full.shape[p], dtype=torch.bool, device=full.device)
            cols = torch.zeros(full.shape[q], dtype=torch.bool, device=full.device)
            rows[s], cols[s] = True, True
            shape_r, shape_c = [1] * full.dim(), [1] * full.dim()
            shape_r[p], shape_c[q] = -1, -1
            outside |= rows.reshape(shape_r) ^ cols.reshape(shape_c)  # kept row × dropped column or vice versa
    return block.reshape(block.shape[:nout].numel(), block.shape[nout:].numel()), full[outside]


def check_split(A, *, rtol=None):
    """The ``_split(tile)`` hook, when the class defines it: for a tile on each of ``A``'s dim names (a slice
    off both edges) it raises ``ShapeError`` or returns the dense block on the same dim names (a name on both
    sides is cut on both, so it may only be accepted where ``A`` has no entry between a kept and a dropped
    index); a tile naming only other dims gives ``A``'s matrix back; for a dim internal to a composite
    (``_split_internal``) the parts of a two-tile partition add up to ``A``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> ll.testing.check_split(ll.Diagonal(torch.arange(1.0, 7.0, dtype=torch.float64).reshape(2, 3), "CN"))
    """
    cls = type(A).__name__
    hook = _hook(A, "_split")
    rtol = default_rtol(A.dtype) if rtol is None else rtol
    D = _dense(A)
    sizes = {}
    for names, size in ((A.oshape, A.osize), (A.ishape, A.isize)):
        for n, s in zip(names, size):
            sizes[n] = min(sizes.get(n, s), s)  # a name on both sides with two sizes: cut within both
    ran = 0
    for n, size in sizes.items():
        tile = {n: _tile_slice(size)}
        what = f"{cls}._split({tile})"
        try:
            T = hook(tile)
        except ShapeError:
            continue  # a clear refusal is always allowed
        ran += 1
        _check(isinstance(T, LinearOperator), f"{what} returned {type(T).__name__}, expected an operator")
        _check(
            T.ishape == A.ishape and T.oshape == A.oshape,
            f"{what} has dims {T.oshape}←{T.ishape}, not A's {A.oshape}←{A.ishape}",
        )
        expected, outside = _block(A, D, tile)
        assert_close(_dense(T, what), expected, rtol, what)
        if outside.numel():
            err = outside.abs().max().item()
            _check(
                err <= rtol * max(D.abs().max().item(), 1.0),
                f"{what} was accepted, but {n!r} is on both sides and A is not block-diagonal in it (an entry "
                f"{err:.3g} between a kept and a dropped index): _split must raise ShapeError",
            )
    if getattr(type(A), "_split_internal", False):
        for n, size in named_sizes(A).items():
            if n in sizes or size == AMBIGUOUS or size < 2:
                continue
            tiles = ({n: slice(0, size // 2)}, {n: slice(size // 2, size)})
            try:
                parts = [hook(t) for t in tiles]
            except ShapeError:
                continue
            ran += 1
            total = sum(_dense(P, f"{cls}._split({t})") for P, t in zip(parts, tiles))
            assert_close(total, D, rtol, f"Σ {cls}._split over a partition of internal dim {n!r}")
    try:  # names the operator does not have are ignored
        T = hook({"__not_a_dim__": slice(0, 1)})
    except ShapeError as e:
        raise AssertionError(f"{cls}._split refused a tile naming no dim of it ('__not_a_dim__'): {e}") from e
    assert_close(_dense(T, f"{cls}._split(other dim)"), D, rtol, f"{cls}._split of a dim it does not have")
    if not ran:
        raise CheckSkipped(f"{cls}._split refused a tile on every dim {sorted(sizes)}: only refusals were checked")


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
        check_normal,
        check_slogdet,
        check_split,
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
    an operator that cannot be pickled, an inverse hook on a singular operator) is skipped with a
    ``UserWarning`` saying why; one with nothing to check (``CheckNotApplicable``: a hook the class
    does not define) is passed over silently.

    Parameters
    ----------
    A : LinearOperator
        The operator under test (compared against ``A.to_dense()``).
    rtol : float, optional
        Relative tolerance for every check; ``default_rtol(A.dtype)`` when None.
    checks : str or sequence of str, optional
        Names of checks to run (keys of ``CHECKS``, e.g. ``"apply"``, ``"adjoint"``); all, in
        order, when None.
    generator : torch.Generator, optional
        Accepted for compatibility and ignored: the checks use fixed seeds.

    Returns
    -------
    bool
        True when every check run passed.

    Raises
    ------
    AssertionError
        The first failing check, saying what differs and by how much.
    ValueError
        ``checks`` names an unknown check.

    Examples
    --------
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
        except CheckNotApplicable:
            pass  # nothing to check (a hook the class does not define …): not worth a warning
        except CheckSkipped as e:
            warnings.warn(f"check_operator: skipped {name!r}: {e}", UserWarning, stacklevel=2)
    return True
