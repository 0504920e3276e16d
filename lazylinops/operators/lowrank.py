"""Low-rank operators: ``LowRank`` (``U Vᴴ``) and ``Woodbury``, the structured inverse of
diagonal + low rank."""

import torch

from ..core.algebra import compose_rule, sum_rule
from ..core.base import LinearOperator
from ..core.basic import Identity, Scalar
from ..core.combinators import Sum, lazy_tags
from ..dtypes import check_dtype, promote
from ..errors import DeviceError, ShapeError, SingularError
from .diagonal import Diagonal


def _factor(W, what):
    if not isinstance(W, torch.Tensor) or isinstance(W, LinearOperator):
        raise TypeError(f"LowRank: {what} must be a torch.Tensor of shape (*size, r), got {type(W).__name__}")
    check_dtype(W.dtype, f"LowRank {what}")
    if W.dim() < 2:
        raise ShapeError(f"LowRank: {what} must have shape (*size, r) with at least 2 dims, got {tuple(W.shape)}")
    return W


def _cast(w, dtype):
    return w if w.dtype == dtype else w.to(dtype)


class LowRank(LinearOperator):
    """The rank-r operator ``U Vᴴ``: ``y = U (Vᴴ x)``; ``V=None`` gives ``U Uᴴ`` (Hermitian PSD).

    ``U`` has shape ``(*osize, r)`` and ``V`` ``(*isize, r)`` (plain matrices ``(M, r)``,
    ``(N, r)`` by default). Apply costs ``O((M + N) r)`` per vector; ``.N`` stays low
    rank (``V (UᴴU) Vᴴ``), the diagonal is ``Σₖ U[:, k] conj(V[:, k])``. ``D + U Vᴴ``
    inverts by the Woodbury identity (``Woodbury``) and ``ll.logdet`` uses the
    determinant lemma.

    Parameters
    ----------
    U : torch.Tensor
        Left factor, shape ``(*osize, r)`` (at least 2-D; may require grad).
    V : torch.Tensor, optional
        Right factor, shape ``(*isize, r)`` with the same ``r``, on ``U``'s device; None gives
        the Hermitian PSD ``U Uᴴ``. The dtype is the promoted dtype of ``U`` and ``V``.
    ishape : str or tuple of str, optional
        Input dim names; ``oshape`` when None and ``V`` is None, else positional names.
    oshape : str or tuple of str, optional
        Output dim names; ``ishape`` when None and ``V`` is None, else positional names.

    Raises
    ------
    TypeError
        A factor is not a tensor.
    ShapeError
        A factor has fewer than 2 dims, or the ranks differ.
    DeviceError
        ``U`` and ``V`` are on different devices.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> U = torch.randn(5, 2)
    >>> L = ll.LowRank(U)
    >>> L.shape, torch.allclose(L.to_dense(), U @ U.T), "hermitian" in L.tags
    (torch.Size([5, 5]), True, True)

    Dense equivalent: ``U.reshape(M, r) @ V.reshape(N, r).mH``.
    """

    def __init__(self, U, V=None, ishape=None, oshape=None):
        U = _factor(U, "U")
        if V is not None:
            V = _factor(V, "V")
            if V.shape[-1] != U.shape[-1]:
                raise ShapeError(
                    f"LowRank: U {tuple(U.shape)} and V {tuple(V.shape)} must have the same rank (last dim)"
                )
            if V.device != U.device:
                raise DeviceError(f"LowRank: U on {U.device} but V on {V.device}; move them to one device")
        osize, isize = U.shape[:-1], (U if V is None else V).shape[:-1]
        dtype = U.dtype if V is None else promote(U.dtype, V.dtype)
        if V is None and ishape is None:
            ishape = oshape
        if V is None and oshape is None:
            oshape = ishape
        tags = ("hermitian", "psd") if V is None else ()
        super().__init__(
            ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=dtype, device=U.device, tags=tags
        )
        self.U = U
        self.V = V

    @property
    def rank(self):
        return self.U.shape[-1]

    def factors(self, dtype=None):
        """``(U, V)`` as ``(M, r)``, ``(N, r)`` matrices in ``dtype`` (default: the operator's)."""
        dtype = self.dtype if dtype is None else dtype
        r = self.rank
        U = _cast(self.U, dtype).reshape(-1, r)
        V = U if self.V is None else _cast(self.V, dtype).reshape(-1, r)
        return U, V

    def _apply(self, x):
        U, V = self.factors(x.dtype)
        nb = x.dim() - len(self.isize)
        y = (x.reshape(*x.shape[:nb], -1) @ V.conj()) @ U.mT  # U (Vᴴ x), rows as batch
        return y.reshape(*x.shape[:nb], *self.osize)

    def _apply_adjoint(self, y):
        U, V = self.factors(y.dtype)
        nb = y.dim() - len(self.osize)
        x = (y.reshape(*y.shape[:nb], -1) @ U.conj()) @ V.mT  # V (Uᴴ y)
        return x.reshape(*y.shape[:nb], *self.isize)

    def _adjoint(self):
        if self.V is None:
            return LowRank(self.U, None, self.oshape, self.ishape)  # (U Uᴴ)ᴴ = U Uᴴ, names swapped
        return LowRank(self.V, self.U, self.oshape, self.ishape)  # (U Vᴴ)ᴴ = V Uᴴ

    def _conj(self):
        return LowRank(self.U.conj(), None if self.V is None else self.V.conj(), self.ishape, self.oshape)

    def _normal(self):
        U, V = self.factors()
        Vn = _cast(self.U if self.V is None else self.V, self.dtype)
        return LowRank((V @ (U.mH @ U)).reshape(Vn.shape), Vn, self.ishape, self.ishape)  # (U Vᴴ)ᴴ(U Vᴴ) = (V UᴴU) Vᴴ

    def _diagonal(self):
        U, V = self.factors()
        n = min(self.shape)  # the main diagonal of the (M, N) matrix
        return (U[:n] * V[:n].conj()).sum(-1)  # diag(U Vᴴ)ᵢ = Σₖ Uᵢₖ conj(Vᵢₖ)

    def entries(self, rows, cols):
        """The matrix entries ``(U Vᴴ)[rows[k], cols[k]] = Σⱼ U[rows[k], j] conj(V[cols[k], j])``.

        Parameters
        ----------
        rows, cols : torch.Tensor
            1-D integer tensors of one length: row indices in ``[0, M)``, column indices in ``[0, N)``.

        Returns
        -------
        torch.Tensor
            ``(len(rows),)`` in the operator's dtype; cost ``O(len(rows) · rank)``.

        Examples
        --------
        >>> import torch, lazylinops as ll
        >>> L = ll.LowRank(torch.tensor([[1.0], [2.0]]), torch.tensor([[3.0], [4.0], [5.0]]))
        >>> L.entries(torch.tensor([0, 1]), torch.tensor([2, 0])).tolist()
        [5.0, 6.0]
        """
        U, V = self.factors()
        return (U[rows] * V[cols].conj()).sum(-1)

    def _to_dense(self):
        U, V = self.factors()
        return U @ V.mH

    def _renamed(self, ishape, oshape):
        return LowRank(self.U, self.V, ishape, oshape)

    def _split(self, tile):
        # rows of U Vᴴ are rows of U; columns are rows of V
        shared = [n for n in tile if n in self.ishape and n in self.oshape]
        if shared:
            raise ShapeError(
                f"LowRank cannot be split along {shared}: a name on both sides would keep only the diagonal "
                "blocks of U Vᴴ, which is not elementwise; rename one side or split another dim"
            )

        def cut(W, names):
            idx = tuple(tile.get(n, slice(None)) for n in names)
            return W[idx]

        U = cut(self.U, self.oshape)
        V = cut(self.U if self.V is None else self.V, self.ishape)
        return LowRank(U, V, self.ishape, self.oshape)

    def _repr_extra(self):
        return f"rank {self.rank}" + (" U Uᴴ" if self.V is None else "")


class Woodbury(LinearOperator):
    """The inverse of ``D + U Vᴴ`` (``D`` Diagonal, Scalar or Identity) by the Woodbury identity.

    ``(D + U Vᴴ)⁻¹ = D⁻¹ − D⁻¹U (I + VᴴD⁻¹U)⁻¹ VᴴD⁻¹``: apply costs ``O(n r)`` plus an
    ``r×r`` LU solve; the capacitance ``I + VᴴD⁻¹U`` is factorised once (cached while no
    weight requires grad, so gradients stay exact). What ``(D + LowRank(U, V))._inverse()``
    returns; ``ll.solve`` uses it as the exact structural inverse.

    Parameters
    ----------
    diag : LinearOperator
        The diagonal part ``D`` (a Diagonal, Scalar or Identity).
    lowrank : LowRank
        The low-rank part ``U Vᴴ``: square, with ``diag``'s named shapes.

    Raises
    ------
    ShapeError
        ``lowrank`` is not a LowRank with ``diag``'s named shapes, or is not square.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Diagonal(torch.full((6,), 2.0)) + ll.LowRank(torch.randn(6, 2))
    >>> W = A._inverse()
    >>> type(W).__name__, torch.allclose(W.to_dense() @ A.to_dense(), torch.eye(6), atol=1e-5)
    ('Woodbury', True)

    The formula needs ``D⁻¹``: ``D + U Vᴴ`` may be invertible while ``D`` is not, so ``Sum._inverse``
    only returns a Woodbury when ``1/D`` is finite, and a Woodbury with a singular ``D`` refuses to
    apply (``ValueError``). With ``D`` invertible, ``det(D + UVᴴ) = det D · det(I + VᴴD⁻¹U)``: a zero
    pivot of the capacitance means ``D + UVᴴ`` is singular (``ll.SingularError``).

    Dense equivalent: ``torch.linalg.inv(D + U @ V.mH)``.
    """

    _inverse_factored = True  # the r×r capacitance is factorised: a solve measures its residual
    _inverse_conditional = True  # needs D⁻¹: a failure does not prove D + UVᴴ singular

    def __init__(self, diag, lowrank):
        if not isinstance(lowrank, LowRank) or lowrank.ishape != diag.ishape or lowrank.oshape != diag.oshape:
            raise ShapeError("Woodbury: needs a diagonal operator and a LowRank with the same named shapes")
        if lowrank.isize != lowrank.osize:
            raise ShapeError(f"Woodbury: D + U Vᴴ must be square, got {tuple(lowrank.shape)}")
        super().__init__(
            ishape=diag.ishape,
            oshape=diag.oshape,
            isize=diag.isize,
            osize=diag.osize,
            dtype=promote(diag.dtype, lowrank.dtype),
            device=diag.device,
            tags=_tags(diag._tags, lowrank._tags),  # structural only: value tags are _lazy_tags
        )
        self.dpart = diag
        self.lowrank = lowrank

    def _lazy_tags(self):
        return lazy_tags(self, lambda: _tags(self.dpart.tags, self.lowrank.tags))

    def _parts(self, dtype):
        """``(d⁻¹, U, V, D⁻¹U, LU factors of I + VᴴD⁻¹U)`` in ``dtype`` (cached without grad)."""
        cache = self._fresh_cache()
        hit = cache.get(("parts", dtype))
        if hit is not None:
            return hit
        d = self.dpart._diagonal().to(dtype)
        U, V = self.lowrank.factors(dtype)
        dinv = 1 / d
        DU = dinv[:, None] * U
        K = torch.eye(U.shape[1], dtype=dtype, device=U.device) + V.mH @ DU  # capacitance I + VᴴD⁻¹U
        lu, piv, info = torch.linalg.lu_factor_ex(K)
        bad_d, bad_k = torch.stack([~torch.isfinite(dinv).all(), info.reshape(()) != 0]).tolist()  # one sync
        if bad_d:
            raise ValueError(
                f"Woodbury: D has a zero (or subnormal) entry, so D⁻¹ does not exist and the Woodbury identity "
                f"does not apply to D + U Vᴴ {tuple(self.shape)} (which may still be invertible); solve it with "
                "ll.solve(D + ll.LowRank(U, V), b), which then uses an iterative method"
            )
        if bad_k:
            raise SingularError(
                f"Woodbury: D + U Vᴴ {tuple(self.shape)} is singular: D is invertible and the capacitance "
                f"I + VᴴD⁻¹U has a zero pivot (det(D + UVᴴ) = det D · det(I + VᴴD⁻¹U) = 0); the system has no "
                "unique solution — use ll.lstsq for the minimum-norm least-squares solution"
            )
        parts = (dinv, V, DU, lu, piv)
        if not self.requires_grad:
            cache[("parts", dtype)] = parts
        return parts

    def _apply(self, x):
        dinv, V, DU, lu, piv = self._parts(x.dtype)
        nb = x.dim() - len(self.isize)
        X = x.reshape(-1, dinv.shape[0])
        Z = X * dinv  # D⁻¹ x
        T = torch.linalg.lu_solve(lu, piv, (Z @ V.conj()).mT)  # (I + VᴴD⁻¹U)⁻¹ Vᴴ D⁻¹ x
        y = Z - (DU @ T).mT  # D⁻¹x − D⁻¹U (…)
        return y.reshape(*x.shape[:nb], *self.osize)

    def _apply_adjoint(self, y):
        return self.H._apply(y)

    def _adjoint(self):
        return Woodbury(self.dpart.H, self.lowrank.H)  # ((D + UVᴴ)⁻¹)ᴴ = (Dᴴ + VUᴴ)⁻¹

    def _conj(self):
        return Woodbury(self.dpart.conj(), self.lowrank.conj())

    def _inverse(self):
        return Sum(self.dpart, self.lowrank)  # ((D + UVᴴ)⁻¹)⁻¹ = D + UVᴴ

    def _renamed(self, ishape, oshape):
        return Woodbury(self.dpart.rename(ishape, oshape), self.lowrank.rename(ishape, oshape))

    def _repr_extra(self):
        return f"(D + U Vᴴ)⁻¹ rank {self.lowrank.rank}"


def _tags(diag, lowrank):
    """(D + U Uᴴ)⁻¹ is Hermitian when both terms are, and PD when D is PD too (``diag``/``lowrank``: their tags)."""
    if "hermitian" not in diag or "hermitian" not in lowrank:
        return ()
    return ("hermitian", "pd") if "pd" in diag and "psd" in lowrank else ("hermitian",)


@compose_rule(Scalar, LowRank, folds=True)
@compose_rule(Diagonal, LowRank, folds=True)
def _scaled_lowrank(L, R):
    # D (U Vᴴ) = (D U) Vᴴ
    w = L.weight.reshape(*L.weight.shape, 1) if type(L) is Diagonal else L.weight
    V = R.U if R.V is None else R.V
    return [LowRank(w * R.U, V, R.ishape, L.oshape)]


@compose_rule(LowRank, Scalar, folds=True)
@compose_rule(LowRank, Diagonal, folds=True)
def _lowrank_scaled(L, R):
    # (U Vᴴ) D = U (Dᴴ V)ᴴ
    w = R.weight.reshape(*R.weight.shape, 1) if type(R) is Diagonal else R.weight
    V = L.U if L.V is None else L.V
    return [LowRank(L.U, w.conj() * V, R.ishape, L.oshape)]


@compose_rule(LowRank, LowRank, folds=True)
def lowrank_rule(L, R):
    # (U₁V₁ᴴ)(U₂V₂ᴴ) = (U₁ (V₁ᴴU₂)) V₂ᴴ
    dtype = promote(L.dtype, R.dtype)
    U1, V1 = L.factors(dtype)
    U2, V2 = R.factors(dtype)
    V = _cast(R.U if R.V is None else R.V, dtype)
    return [LowRank((U1 @ (V1.mH @ U2)).reshape(*L.osize, R.rank), V, R.ishape, L.oshape)]


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


@sum_rule("inverse")
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


@sum_rule("slogdet")
def _determinant_lemma(S):
    # det(D + UVᴴ) = det(D) det(I + VᴴD⁻¹U)
    parts = split_diag_lowrank(S)
    if parts is None:
        return None
    parts = regular(*parts, S)  # the lemma needs D⁻¹: negligible entries moved into the low-rank part
    if parts is None:
        return None  # rank ≤ n − k + r < n, yet no structured determinant: the dense one
    D, L = parts
    sd, ld = D._slogdet()
    dinv = 1 / D._diagonal().to(S.dtype)
    U, V = L.factors(S.dtype)
    K = torch.eye(L.rank, dtype=S.dtype, device=S.device) + V.mH @ (dinv[:, None] * U)
    sk, lk = torch.linalg.slogdet(K)
    return sd * sk, ld + lk
