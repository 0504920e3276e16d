"""Eigenvalues of operators: ``ll.power_method``, ``ll.eigsh`` (thick-restart Lanczos), spectral norms."""

import torch

from ..base import LinearOperator, real_dtype
from .flat import Flat
from .info import ON_FAILURE, SolveInfo, check_callback, check_choice, check_maxiter, check_tolerances, finish

WHICH = ("LA", "SA", "LM")


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


def power_method(A, *, maxiter=None, rtol=None, x0=None, callback=None, on_failure="raise"):
    """The dominant eigenpair of a square operator by power iteration: ``((λ, v), info)``.

    ``v ← A v / ‖A v‖``, ``λ = vᴴ A v`` (Rayleigh quotient); converged when
    ``‖A v − λ v‖ ≤ rtol·|λ|``. One matvec per iteration; rate ``|λ₂/λ₁|``.

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
    P = Flat(A)
    v = _start(A, x0, dtype, who).unsqueeze(0)
    v = v / torch.linalg.vector_norm(v)
    lam = torch.zeros((), dtype=dtype, device=A.device)
    res = torch.full((), float("inf"), dtype=real_dtype(dtype), device=A.device)
    it = 0
    with torch.no_grad():
        while it < maxiter:
            w = P.mv(v)
            lam = torch.linalg.vecdot(v, w)[0]  # Rayleigh quotient vᴴ A v
            res = torch.linalg.vector_norm(w - lam * v)
            it += 1
            if callback is not None:
                callback(it, v[0].clone(), res)
            if bool(res <= rtol * lam.abs()):
                break
            v = w / torch.linalg.vector_norm(w)
    conv = bool(res <= rtol * lam.abs())
    lam = lam if dtype.is_complex and "hermitian" not in A.tags else (lam.real if dtype.is_complex else lam)
    info = SolveInfo(
        "power", conv, it, res, P.count, f"converged in {it} iterations" if conv else f"reached maxiter={maxiter}"
    )
    finish((lam, v[0]), info, on_failure, who)
    return (lam, v[0]), info


def eigsh(A, k=1, *, which="LA", rtol=None, maxiter=None, ncv=None, x0=None, on_failure="raise"):
    """A few extreme eigenpairs of a Hermitian operator: ``((w, V), info)``, ``w`` ascending.

    Thick-restart Lanczos (a Krylov–Schur restart keeping the wanted Ritz vectors, full
    reorthogonalisation, Rayleigh–Ritz on ``ncv ≥ 2k+1`` vectors). ``which``: "LA" largest,
    "SA" smallest algebraic, "LM" largest magnitude. Converged when every wanted Ritz pair
    has ``‖A v − θ v‖ ≤ rtol·max|θ|``. ``maxiter`` bounds the matvecs. ``V`` is ``(n, k)``.

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
    n = A.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"{who}: k must be an int in [1, {n}], got {k!r}")
    dtype = A.dtype
    rtol, _ = check_tolerances(who, rtol, 0.0, dtype)
    m = min(n, max(2 * k + 1, 20) if ncv is None else ncv)
    if m <= k and m < n:
        raise ValueError(f"{who}: ncv must exceed k={k} (or equal n), got {ncv}")
    maxiter = check_maxiter(who, maxiter, max(100 * m, 10 * n))
    P = Flat(A)
    V = torch.zeros(m, n, dtype=dtype, device=A.device)
    W = torch.zeros_like(V)
    f = _start(A, x0, dtype, who)
    p, it, conv = 0, 0, False
    gen = torch.Generator(device=A.device if A.device.type != "meta" else "cpu").manual_seed(1)
    with torch.no_grad():
        while True:
            while p < m:
                for _ in range(2):  # classical Gram–Schmidt, twice
                    f = f - (V[:p].conj() @ f) @ V[:p]
                nf = torch.linalg.vector_norm(f)
                big = max(1.0, float(W[:p].abs().max()) if p else 1.0)
                if bool(nf <= 1e3 * torch.finfo(real_dtype(dtype)).eps * big):
                    f = torch.randn(n, dtype=dtype, device=A.device, generator=gen)  # invariant subspace: new start
                    continue
                V[p] = f / nf
                W[p] = P.mv(V[p : p + 1])[0]
                f = W[p]
                p += 1
            it += 1
            H = V[:p].conj() @ W[:p].mT
            H = (H + H.mH) / 2  # Rayleigh–Ritz on the basis: H = Vᴴ A V
            theta, Y = torch.linalg.eigh(H)
            key = {"LA": -theta, "SA": theta, "LM": -theta.abs()}[which]
            order = torch.argsort(key)
            Yw = Y[:, order]
            X = Yw.mT @ V[:p]
            AX = Yw.mT @ W[:p]
            th = theta[order]
            res = torch.linalg.vector_norm(AX[:k] - th[:k, None] * X[:k], dim=-1)
            scale = theta.abs().max()
            conv = bool((res <= rtol * scale).all()) or p == n
            if conv or P.count >= maxiter:
                break
            q = min(p - 1, k + (p - k) // 2)  # thick restart: keep the q best Ritz vectors, go on from f
            for _ in range(2):
                f = f - (V[:p].conj() @ f) @ V[:p]
            V[:q], W[:q] = X[:q], AX[:q]
            V[q:], W[q:] = 0, 0
            p = q
    sel = torch.argsort(th[:k])
    w, vecs = th[:k][sel], X[:k][sel].mT
    info = SolveInfo(
        "lanczos",
        conv,
        it,
        res[sel],
        P.count,
        f"converged after {it} restarts" if conv else f"reached maxiter={maxiter} matvecs",
    )
    finish((w, vecs), info, on_failure, who)
    return (w, vecs), info


def spectral_norm(A, largest=True):
    """``σ_max(A)`` (or ``σ_min`` over ``min(M, N)`` values) from the Gram operator by Lanczos."""
    M, N = A.shape
    G = A.N if N <= M else A.H.N  # the smaller Gram matrix: AᴴA (N×N) or AAᴴ (M×M)
    G = G if "hermitian" in G.tags else G.with_tags(hermitian=True, psd=True)
    (w, _), _ = eigsh(G, k=1, which="LA" if largest else "SA")
    return w[0].clamp_min(0).sqrt().to(real_dtype(A.dtype))
