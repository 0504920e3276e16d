"""Eigenvalues of operators: ``ll.power_method``, ``ll.eigsh`` (thick-restart Lanczos), spectral norms."""

import torch

from ...core.base import LinearOperator
from ...dtypes import real_dtype
from ..engine import check_finite_tensor, verify_weights
from ..monitor import Monitor, check_progress, check_show, describe
from ..status import (
    ON_FAILURE,
    SolveInfo,
    Status,
    check_callback,
    check_choice,
    check_maxiter,
    check_tolerances,
    finish,
)
from .flat import Flat

WHICH = ("LA", "SA", "LM")


def _monitor(who, A, callback, show, progress, total, title, params, value):
    """The iteration's ``Monitor`` (None when nobody watches); ``value``: the eigenvalue column."""
    check_callback(who, callback)
    check_progress(who, progress)
    show = check_show(who, show)
    if callback is None and not show and not progress:
        return None
    return Monitor(
        who,
        callback=callback,
        show=show,
        progress=progress,
        total=total,
        title=f"{title} on {describe(A)}",
        params=params,
        objective=value,
    )


def _close(mon, info):
    if mon is not None:
        mon.close(info)


def _scalar(t):
    v = t.item()
    return v if not isinstance(v, complex) or v.imag else v.real


def _start(A, x0, dtype, who):
    n = A.shape[1]
    if x0 is None:
        gen = torch.Generator(device=A.device if A.device.type != "meta" else "cpu").manual_seed(0)
        v = torch.randn(n, dtype=dtype, device=A.device, generator=gen)
    else:
        if not isinstance(x0, torch.Tensor) or x0.numel() != n:
            raise ValueError(f"{who}: x0 must be a tensor with {n} entries, got {getattr(x0, 'shape', x0)}")
        v = x0.reshape(n).to(dtype).clone()
    return v


def power_method(
    A, *, maxiter=None, rtol=None, x0=None, callback=None, on_failure="ignore", progress=False, show=False
):
    """The dominant eigenpair of a square operator by power iteration: ``((λ, v), info)``.

    ``v ← A v / ‖A v‖``, ``λ = vᴴ A v`` (Rayleigh quotient); converged when the measured
    ``‖A v − λ v‖ ≤ rtol·|λ|``. One matvec per iteration; rate ``|λ₂/λ₁|``. ``maxiter`` is a
    budget: reaching it returns the last pair with ``info.converged=False`` (``on_failure="raise"``
    raises instead).

    Parameters
    ----------
    A : LinearOperator
        A square operator.
    maxiter : int, optional
        The iteration budget (default ``100·n + 1000``).
    rtol : float, optional
        Stop when ``‖A v − λ v‖ ≤ rtol·|λ|`` (``None``: 1e-10 in double precision, 1e-5 in single).
    x0 : torch.Tensor, optional
        The start vector (``n`` entries; default a seeded random vector).
    callback : callable, optional
        ``callback(iteration, v, residual_norm)`` after each iteration: ``iteration`` from 1, ``v``
        a copy of the unit eigenvector estimate ``(n,)`` (its eigenvalue is ``vᴴ A v``),
        ``residual_norm`` the measured ``‖A v − λ v‖`` (0-d).
    on_failure : {"ignore", "warn", "raise"}
        What a run that stops unconverged does: "ignore" (the default) returns the last pair,
        "warn" also warns, "raise" raises ``ll.NotConverged`` / ``ll.Diverged``.
    progress : bool
        A ``tqdm.auto`` bar (iteration, ``‖A v − λ v‖/|λ|``), left visible when done.
    show : bool or int
        Print a PyLops-style log (header; iteration, ``‖A v − λ v‖/|λ|`` and ``λ`` on iterations
        1–10, 20, 30 … (True) or every ``show``-th one (an int); footer).

    Returns
    -------
    (lam, v) : tuple of torch.Tensor
        The eigenvalue estimate (0-d; real for a Hermitian or real operator) and its unit vector ``(n,)``.
    info : SolveInfo
        The record (``method="power"``, ``residual_norm`` the measured ``‖A v − λ v‖``).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> (lam, v), info = ll.power_method(ll.Diagonal(torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64)))
    >>> round(lam.item(), 6), v.shape
    (3.0, torch.Size([3]))

    Dense equivalent: the largest-magnitude eigenvalue of ``torch.linalg.eigvals(A.to_dense())``.
    """
    who = "ll.power_method"
    if not isinstance(A, LinearOperator) or A.shape[0] != A.shape[1]:
        raise ValueError(f"{who}: needs a square operator, got {type(A).__name__} {tuple(getattr(A, 'shape', ()))}")
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    check_callback(who, callback)
    dtype = A.dtype
    rtol, _ = check_tolerances(who, rtol, 0.0, dtype)
    maxiter = check_maxiter(who, maxiter, 100 * A.shape[0] + 1000)
    _finite_inputs(who, A, x0)
    P = Flat(A)
    v = _start(A, x0, dtype, who).unsqueeze(0)
    v = v / torch.linalg.vector_norm(v)
    lam = torch.zeros((), dtype=dtype, device=A.device)
    res = torch.full((), float("nan"), dtype=real_dtype(dtype), device=A.device)  # nothing measured yet
    it, w = 0, v
    now = {}
    params = f"rtol = {rtol:.1e}   maxiter = {maxiter}"
    cb = None if callback is None else (lambda i, x, r: callback(i, x[0].clone(), r.clone()))
    mon = _monitor(
        who, A, cb, show, progress, maxiter, "power iteration", params, ("eigenvalue", lambda x: _scalar(now["lam"]))
    )
    with torch.no_grad():
        while it < maxiter:
            if it:
                v = w / torch.linalg.vector_norm(w)  # the next vector (after the check: the pair returned is measured)
            w = P.mv(v)
            lam = torch.linalg.vecdot(v, w)[0]  # Rayleigh quotient vᴴ A v
            res = torch.linalg.vector_norm(w - lam * v)  # the true residual of the pair (v, λ)
            it += 1
            if mon is not None:
                now["lam"], mon.scale = lam, lam.abs()
                mon(it, v, res)
            if bool(res <= rtol * lam.abs()) or not bool(torch.isfinite(res)):
                break
    conv = bool(res <= rtol * lam.abs())
    lam = lam if dtype.is_complex and "hermitian" not in A.tags else (lam.real if dtype.is_complex else lam)
    if conv:
        status, msg = Status.converged, f"converged in {it} iterations (‖A v − λ v‖ measured)"
    elif not bool(torch.isfinite(res)):
        status, msg = Status.diverged, "diverged: the iterate became NaN/Inf"
    else:
        status, msg = Status.max_iterations, f"reached the budget maxiter={maxiter}; the last pair is returned"
    info = SolveInfo("power", conv, it, res, P.count, msg, status)
    _close(mon, info)
    finish((lam, v[0]), info, on_failure, who, "raise maxiter or loosen rtol (power iteration converges as |λ₂/λ₁|ᵏ)")
    return (lam, v[0]), info


def _finite_inputs(who, A, x0):
    verify_weights(who, A, A._flat_weights())
    check_finite_tensor(who, "x0", x0 if isinstance(x0, torch.Tensor) else None)


def _orth(f, bases):
    """``f`` with its components along the rows of every basis removed (classical Gram–Schmidt, twice)."""
    for _ in range(2):
        for Q in bases:
            if Q.shape[0]:
                f = f - (Q.conj() @ f) @ Q
    return f


def _lanczos(P, k, which, m, rtol, budget, f, gen, locked, mon=None):
    """Thick-restart Lanczos on the complement of ``locked`` (rows): ``(θ, X, AX, scale, converged, restarts)``.

    The ``k`` wanted Ritz pairs ``(θᵢ, Xᵢ)`` of ``A`` restricted to the complement, ``AX`` their images
    (combinations of actual matvecs). Full reorthogonalisation; an invariant subspace restarts from a
    new random vector. ``mon``: the solve's monitor, called once per restart cycle with the wanted
    Ritz vectors (rows) and their residuals.
    """
    n = P.n
    dtype, device = f.dtype, f.device
    m = min(m, n - locked.shape[0])
    V = torch.zeros(m, n, dtype=dtype, device=device)
    W = torch.zeros_like(V)
    p, it, start = 0, 0, P.count
    eps = torch.finfo(real_dtype(dtype)).eps
    while True:
        while p < m:
            f = _orth(f, (locked, V[:p]))
            nf = torch.linalg.vector_norm(f)
            big = max(1.0, float(W[:p].abs().max()) if p else 1.0)
            if bool(nf <= 1e3 * eps * big):
                f = torch.randn(n, dtype=dtype, device=device, generator=gen)  # invariant subspace: new start
                continue
            V[p] = f / nf
            W[p] = P.mv(V[p : p + 1])[0]
            f = W[p]
            p += 1
        it += 1
        H = V[:p].conj() @ W[:p].mT
        H = (H + H.mH) / 2  # Rayleigh–Ritz on the basis: H = Vᴴ A V
        theta, Y = torch.linalg.eigh(H)
        order = torch.argsort(_key(theta, which))
        Yw = Y[:, order].to(dtype)
        X, AX, th = Yw.mT @ V[:p], Yw.mT @ W[:p], theta[order]
        res = torch.linalg.vector_norm(AX[:k] - th[:k, None] * X[:k], dim=-1)
        scale = theta.abs().max()
        if mon is not None:
            mon.scale, mon.theta = scale, th[0]
            mon(it, X[:k], res)
        conv = bool((res <= rtol * scale).all()) or p == n - locked.shape[0]
        if conv or P.count - start >= budget:
            return th[:k], X[:k], AX[:k], scale, conv, it
        q = min(p - 1, k + (p - k) // 2)  # thick restart: keep the q best Ritz vectors, go on from f
        f = _orth(f, (V[:p],))
        V[:q], W[:q] = X[:q], AX[:q]
        V[q:], W[q:] = 0, 0
        p = q


def _key(theta, which):
    return {"LA": -theta, "SA": theta, "LM": -theta.abs()}[which]


def _merge(X, AX, X2, AX2, k, which):
    """Rayleigh–Ritz on ``span(X ∪ X2)``: the ``k`` wanted pairs ``(θ, X, AX)``."""
    B, AB = torch.cat([X, X2]), torch.cat([AX, AX2])
    Q, R = torch.linalg.qr(B.mT)  # Bᵀ = Q R
    keep = R.diagonal().abs() > 1e-8 * R.diagonal().abs().max()  # drop numerically dependent directions
    Q, R = Q[:, keep], R[keep][:, keep]
    AQ = torch.linalg.solve_triangular(R.mT, AB[keep], upper=False).mT  # A Q = A Bᵀ R⁻¹
    H = Q.mH @ AQ
    theta, Y = torch.linalg.eigh((H + H.mH) / 2)
    order = torch.argsort(_key(theta, which))[:k]
    Y = Y[:, order].to(Q.dtype)
    return theta[order], (Q @ Y).mT, (AQ @ Y).mT


def eigsh(
    A,
    k=1,
    *,
    which="LA",
    rtol=None,
    maxiter=None,
    ncv=None,
    x0=None,
    callback=None,
    on_failure="raise",
    progress=False,
    show=False,
):
    """A few extreme eigenpairs of a Hermitian operator: ``((w, V), info)``, ``w`` ascending.

    Thick-restart Lanczos (a Krylov–Schur restart keeping the wanted Ritz vectors, full
    reorthogonalisation, Rayleigh–Ritz on ``ncv ≥ 2k+1`` vectors). A single Krylov space sees one
    direction of a repeated eigenvalue, so for ``k > 1`` the found vectors are deflated and
    Lanczos restarts from a new random vector in their complement until it finds nothing
    better (repeated eigenvalues are found with their multiplicity). ``which``: "LA" largest,
    "SA" smallest algebraic, "LM" largest magnitude. Converged when every returned pair has a
    measured ``‖A v − θ v‖ ≤ rtol·max|θ|``. ``maxiter`` bounds the matvecs. ``V`` is ``(n, k)``.

    Parameters
    ----------
    A : LinearOperator
        A Hermitian operator (tagged ``hermitian`` or ``pd``).
    k : int
        How many eigenpairs (1 ≤ k ≤ n).
    which : {"LA", "SA", "LM"}
        Largest algebraic, smallest algebraic or largest magnitude.
    rtol : float, optional
        Stop when every ``‖A v − θ v‖ ≤ rtol·max|θ|`` (``None``: 1e-10 in double precision, 1e-5 in single).
    maxiter : int, optional
        The matvec budget (default ``max(100·ncv, 10·n)``); running out raises (``on_failure``).
    ncv : int, optional
        The Lanczos basis size (default ``max(2k + 1, 20)``, at most n).
    x0 : torch.Tensor, optional
        The start vector (``n`` entries; default a seeded random vector).
    callback : callable, optional
        ``callback(iteration, V, residual_norm)`` after each Lanczos restart cycle: ``iteration`` from 1
        (cycles, counted on across the deflation passes that look for repeated eigenvalues), ``V`` a
        copy of the current wanted Ritz vectors ``(n, k)`` (during deflation, those of the complement
        searched), ``residual_norm`` their measured ``‖A v − θ v‖`` ``(k,)``.
    on_failure : {"raise", "warn", "ignore"}
        Non-convergence raises ``ll.NotConverged`` (with ``.x = (w, V)`` and ``.info``), warns, or is ignored.
    progress : bool
        A ``tqdm.auto`` bar of the restart cycles (with the largest relative residual), left visible.
    show : bool or int
        Print a PyLops-style log (header; cycle, largest ``‖A v − θ v‖/max|θ|`` and the best Ritz value
        on cycles 1–10, 20, 30 … (True) or every ``show``-th one (an int); footer).

    Returns
    -------
    (w, V) : tuple of torch.Tensor
        The eigenvalues ``(k,)`` ascending and their orthonormal eigenvectors as columns ``(n, k)``.
    info : SolveInfo
        The record (``method="lanczos"``, ``iterations`` = restart cycles, ``residual_norm`` ``(k,)`` measured).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D = ll.Diagonal(torch.arange(1.0, 31.0, dtype=torch.float64)).with_tags(hermitian=True)
    >>> (w, V), info = ll.eigsh(D, k=2, which="LA")
    >>> [round(v, 8) for v in w.tolist()], V.shape
    ([29.0, 30.0], torch.Size([30, 2]))

    Dense equivalent: ``torch.linalg.eigh(A.to_dense())`` (``scipy.sparse.linalg.eigsh``).
    """
    who = "ll.eigsh"
    if not isinstance(A, LinearOperator) or A.shape[0] != A.shape[1]:
        raise ValueError(f"{who}: needs a square operator, got {type(A).__name__} {tuple(getattr(A, 'shape', ()))}")
    if not ("hermitian" in A.tags or "pd" in A.tags):
        raise ValueError(
            f"{who}: needs a Hermitian operator, but {type(A).__name__} is not known to be hermitian "
            f"(tags: {sorted(A.tags) or 'none'}); assert it with A.with_tags(hermitian=True)"
        )
    check_choice(who, "which", which, WHICH)
    check_choice(who, "on_failure", on_failure, ON_FAILURE)
    check_callback(who, callback)
    n = A.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"{who}: k must be an int in [1, {n}], got {k!r}")
    dtype = A.dtype
    rtol, _ = check_tolerances(who, rtol, 0.0, dtype)
    m = min(n, max(2 * k + 1, 20) if ncv is None else ncv)
    if m <= k and m < n:
        raise ValueError(f"{who}: ncv must exceed k={k} (or equal n), got {ncv}")
    maxiter = check_maxiter(who, maxiter, max(100 * m, 10 * n))
    _finite_inputs(who, A, x0)
    P = Flat(A)
    gen = torch.Generator(device=A.device if A.device.type != "meta" else "cpu").manual_seed(1)
    none = torch.zeros(0, n, dtype=dtype, device=A.device)
    cb = None if callback is None else (lambda i, X, r: callback(i, X.mT.clone(), r.clone()))
    params = f"k = {k}   which = {which}   ncv = {m}   rtol = {rtol:.1e}   maxiter = {maxiter} matvecs"
    mon = _monitor(
        who,
        A,
        cb,
        show,
        progress,
        None,
        "thick-restart Lanczos",
        params,
        ("best Ritz value", lambda X: mon.theta.item()),
    )
    try:
        (w, vecs), info = _eigsh(P, k, which, m, rtol, maxiter, A, x0, dtype, who, gen, none, n, mon)
    except BaseException:
        _close(mon, None)
        raise
    _close(mon, info)
    finish((w, vecs), info, on_failure, who, "raise maxiter (a matvec budget) or ncv, or loosen rtol")
    return (w, vecs), info


def _eigsh(P, k, which, m, rtol, maxiter, A, x0, dtype, who, gen, none, n, mon):
    with torch.no_grad():
        th, X, AX, scale, conv, it = _lanczos(P, k, which, m, rtol, maxiter, _start(A, x0, dtype, who), gen, none, mon)
        while conv and k > 1 and k < n and P.count < maxiter:  # deflate: look again in the complement
            f = torch.randn(n, dtype=dtype, device=A.device, generator=gen)
            k2 = min(k, n - k)
            if mon is not None:
                mon.offset = it  # the deflation pass's cycles count on
            th2, X2, AX2, s2, conv2, it2 = _lanczos(P, k2, which, m, rtol, maxiter - P.count, f, gen, X, mon)
            it += it2
            scale = torch.maximum(scale, s2)
            new_th, new_X, new_AX = _merge(X, AX, X2, AX2, k, which)
            better = bool((_key(new_th, which) < _key(th, which) - rtol * scale).any())
            th, X, AX = new_th, new_X, new_AX
            if not better:
                break
            conv = conv2
        R = P.mv(X) - th[:, None].to(dtype) * X  # the true residuals ‖A v − θ v‖, k matvecs
        res = torch.linalg.vector_norm(R, dim=-1)
        conv = bool((res <= rtol * scale).all())
    sel = torch.argsort(th)
    w, vecs = th[sel], X[sel].mT
    if conv:
        status, msg = Status.converged, f"converged after {it} restarts (true residuals measured)"
    elif not bool(torch.isfinite(res).all()):
        status, msg = Status.diverged, "diverged: NaN/Inf in the Lanczos vectors"
    else:
        status, msg = Status.max_iterations, f"reached maxiter={maxiter} matvecs before every residual met rtol"
    info = SolveInfo("lanczos", conv, it, res[sel], P.count, msg, status)
    if mon is not None:
        mon.scale = scale
    return (w, vecs), info


def spectral_norm(A, largest=True):
    """``σ_max(A)`` (or ``σ_min`` over ``min(M, N)`` values) from the Gram operator by Lanczos.

    An empty operator has norm 0, as ``torch.linalg.matrix_norm`` of an empty matrix.
    """
    M, N = A.shape
    if M == 0 or N == 0:
        return torch.zeros((), dtype=real_dtype(A.dtype), device=A.device)
    G = A.N if N <= M else A.H.N  # the smaller Gram matrix: AᴴA (N×N) or AAᴴ (M×M)
    G = G if "hermitian" in G.tags else G.with_tags(hermitian=True, psd=True)
    (w, _), _ = eigsh(G, k=1, which="LA" if largest else "SA")
    return w[0].clamp_min(0).sqrt().to(real_dtype(A.dtype))
