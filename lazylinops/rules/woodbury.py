"""Diagonal + low rank: recognise ``D + U Vᴴ`` in a ``Sum`` for Woodbury inverses and
determinant-lemma log-determinants."""

import torch

from ..errors import ShapeError
from ..operators.basic import Identity, Scalar
from ..operators.diagonal import Diagonal
from ..operators.lowrank import LowRank, Woodbury

_DIAGONAL = (Identity, Scalar, Diagonal)


def split_diag_lowrank(S):
    """``(D, LowRank)`` when the Sum ``S`` is exactly diagonal terms + low-rank terms, else None.

    Several diagonal terms add up; several low-rank terms join into one of summed rank
    (``U₁V₁ᴴ + U₂V₂ᴴ = [U₁ U₂][V₁ V₂]ᴴ``).
    """
    diags = [op for op in S.ops if type(op) in _DIAGONAL]
    lows = [op for op in S.ops if type(op) is LowRank]
    if not diags or not lows or len(diags) + len(lows) != len(S.ops) or S.isize != S.osize:
        return None
    D = diags[0]
    for other in diags[1:]:
        D = D + other
    if type(D) not in _DIAGONAL:
        return None
    if len(lows) == 1:
        L = lows[0]
    else:
        dtype = S.dtype
        Us = [op.factors(dtype)[0] for op in lows]
        Vs = [op.factors(dtype)[1] for op in lows]
        L = LowRank(torch.cat(Us, -1), torch.cat(Vs, -1), S.ishape, S.oshape)
        L = L.rename(S.ishape, S.oshape)
    return D, L


def sum_inverse(S):
    """``(D + U Vᴴ)⁻¹`` as a ``Woodbury`` operator when ``S`` has that structure, else None.

    Woodbury needs ``D⁻¹``; zero (or negligible) entries of ``D`` are first moved into the low-rank
    part (``regular``), so an invertible ``D + UVᴴ`` with a singular ``D`` still inverts exactly.
    """
    parts = split_diag_lowrank(S)
    if parts is None:
        return None
    parts = regular(*parts, S)
    if parts is None:
        return None
    D, L = parts
    if L.ishape != S.ishape or L.oshape != S.oshape:
        L = L.rename(S.ishape, S.oshape)
    return Woodbury(D, L)  # (D + UVᴴ)⁻¹ = D⁻¹ − D⁻¹U (I + VᴴD⁻¹U)⁻¹ VᴴD⁻¹


def regular(D, L, S):
    """``(D', L')`` with ``D' + L' = D + L`` and ``D'`` safely invertible, or None (one device sync).

    The k entries of ``d`` that are zero or negligible (``|dᵢ| ≤ eps·max|d|``, or ``1/dᵢ`` not finite)
    are shifted by ``s = max|d|`` and the shift is taken back in the low-rank part:
    ``D + UVᴴ = (D + s E Eᴴ) + [U, −s E][V, E]ᴴ`` (``E`` the k unit columns). With ``k > rank`` the sum
    has rank ≤ n − k + r < n: no Woodbury (None).
    """
    dtype = S.dtype
    d = D._diagonal().to(dtype)
    a = d.detach().abs()
    amax = a.max() if a.numel() else a.new_ones(())
    small = ~torch.isfinite(1 / a) | (a <= torch.finfo(a.dtype).eps * amax)
    k = int(small.sum())  # one sync
    if k == 0:
        return D, L
    if k > L.rank:
        return None
    scale = torch.where(amax > 0, amax, torch.ones_like(amax)).to(dtype)
    idx = small.nonzero().squeeze(-1)
    E = torch.zeros(d.shape[0], k, dtype=dtype, device=d.device)
    E[idx, torch.arange(k, device=d.device)] = 1
    U, V = L.factors(dtype)
    D2 = Diagonal((d + scale * small.to(dtype)).reshape(S.osize), S.oshape)
    r = L.rank + k
    L2 = LowRank(torch.cat([U, -scale * E], -1).reshape(*S.osize, r), torch.cat([V, E], -1).reshape(*S.isize, r))
    return D2, L2.rename(S.ishape, S.oshape)


def _slogdet_parts(A):
    """``(sign, logabsdet)`` from structure, or None."""
    from ..operators.compose import Chain, Sum
    from ..operators.kron import Kronecker
    from ..operators.permutation import Permutation

    t = type(A)
    if A.shape[0] != A.shape[1]:
        return None
    if t in _DIAGONAL:
        d = A._diagonal().to(A.dtype)
        sign = (d / d.abs()).prod() if A.dtype.is_complex else torch.sign(d).prod()
        return sign, d.abs().log().sum()  # det D = Π dᵢ
    if t is Permutation:
        inv = A.perm  # sign of a permutation: (−1)^(n − number of cycles)
        n = inv.shape[0]
        seen, cycles = torch.zeros(n, dtype=torch.bool), 0
        p = inv.cpu().tolist()
        for i in range(n):
            if not seen[i]:
                cycles += 1
                j = i
                while not seen[j]:
                    seen[j] = True
                    j = p[j]
        sign = torch.tensor(-1.0 if (n - cycles) % 2 else 1.0, dtype=A.dtype, device=A.device)
        return sign, torch.zeros((), dtype=sign.real.dtype, device=A.device)
    if t is Sum:
        parts = split_diag_lowrank(A)
        if parts is None:
            return None
        parts = regular(*parts, A)  # the lemma needs D⁻¹: negligible entries moved into the low-rank part
        if parts is None:
            return None  # rank ≤ n − k + r < n, yet no structured determinant: the dense one
        D, L = parts
        sd, ld = _slogdet_parts(D)
        dinv = 1 / D._diagonal().to(A.dtype)
        U, V = L.factors(A.dtype)
        K = torch.eye(L.rank, dtype=A.dtype, device=A.device) + V.mH @ (dinv[:, None] * U)
        sk, lk = torch.linalg.slogdet(K)  # det(D + UVᴴ) = det(D) det(I + VᴴD⁻¹U)
        return sd * sk, ld + lk
    if t is Chain:
        if any(op.shape[0] != op.shape[1] for op in A.ops):
            return None
        parts = [_slogdet_parts(op) for op in A.ops]
        if any(p is None for p in parts):
            return None
        sign, logabs = parts[0]
        for s, l in parts[1:]:
            sign, logabs = sign * s, logabs + l  # det(AB) = det A det B
        return sign, logabs
    if t is Kronecker:
        if any(op.shape[0] != op.shape[1] for op in A.ops):
            return None
        n = A.shape[0]
        sign, logabs = None, 0.0
        for op in A.ops:
            p = _slogdet_parts(op)
            if p is None:
                return None
            m = n // op.shape[0]
            s, l = p  # det(A ⊗ B) = det(A)^m det(B)^n for A n×n, B m×m
            sign = s**m if sign is None else sign * s**m
            logabs = logabs + m * l
        return sign, logabs
    return None


def slogdet(A):
    """``(sign, logabsdet)`` of a structured square operator, as ``torch.linalg.slogdet``.

    Structured for Identity, Scalar, Diagonal, Permutation, diagonal + LowRank (matrix
    determinant lemma ``det(D + UVᴴ) = det D · det(I + VᴴD⁻¹U)``), and Chains and
    Kronecker products of those. Raises ``ValueError`` for other operators.

    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.tensor([1.0, 2.0, 3.0])) + ll.LowRank(torch.ones(3, 1))
    >>> sign, logabs = ll.slogdet(A)
    >>> torch.allclose(logabs, torch.linalg.slogdet(A.to_dense()).logabsdet)
    True
    """
    from ..base import LinearOperator

    if not isinstance(A, LinearOperator):
        return torch.linalg.slogdet(A)
    parts = _slogdet_parts(A)
    if parts is None:
        if A.shape[0] != A.shape[1]:
            raise ShapeError(f"slogdet: the operator must be square, got {tuple(A.shape)}")
        raise ValueError(
            f"slogdet: no structured determinant for {type(A).__name__} {tuple(A.shape)}; supported: Identity, "
            "Scalar, Diagonal, Permutation, Diagonal + LowRank, and Chain/Kronecker of those. "
            "Use torch.linalg.slogdet(A.to_dense()) for a dense determinant"
        )
    sign, logabs = parts
    real = logabs.dtype if not logabs.dtype.is_complex else logabs.real.dtype
    return sign.to(A.dtype), logabs.real.to(real) if logabs.is_complex() else logabs


def logdet(A):
    """``log det A`` of a structured square operator, as ``torch.logdet`` on the dense matrix.

    Real operators give ``nan`` for a negative determinant (as torch does); complex ones
    the complex logarithm ``log|det| + i·arg det``. Same structures as ``ll.slogdet``.

    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.tensor([1.0, 2.0, 3.0])) + ll.LowRank(torch.ones(3, 1))
    >>> torch.allclose(ll.logdet(A), torch.logdet(A.to_dense()))
    True
    """
    from ..base import LinearOperator

    if not isinstance(A, LinearOperator):
        return torch.logdet(A)
    sign, logabs = slogdet(A)
    if A.dtype.is_complex:
        return logabs.to(A.dtype) + torch.log(sign)
    return torch.where(sign > 0, logabs, torch.where(sign == 0, -torch.inf, torch.nan))
