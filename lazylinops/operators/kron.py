"""Kronecker products: ``Kronecker(*ops)`` applied factor by factor."""

import functools

import torch

from ..core.algebra import compose, compose_rule, foldable
from ..core.base import LinearOperator, relabel
from ..core.basic import Identity, Scalar
from ..core.combinators import check_ops, dense_children, lazy_tags, promote_all
from ..dims import prod
from ..errors import DeviceError
from .dense import Dense
from .lowrank import LowRank


def _unique(names_per_factor):
    """The factors' names in order; a name already taken gets the suffix ``_j`` (factor j)."""
    seen, out = set(), []
    for j, names in enumerate(names_per_factor):
        mine = []
        for n in names:
            m = n if n not in seen else f"{n}_{j}"
            while m in seen:
                m += "_"
            seen.add(m)
            mine.append(m)
        out.append(tuple(mine))
    return out


def _kron_tags(tags):
    """A ⊗ B is hermitian / psd / pd / unitary when every factor is (eigenvalues multiply)."""
    return tuple(t for t in ("hermitian", "psd", "pd", "unitary") if all(t in ts for ts in tags))


class Kronecker(LinearOperator):
    """The Kronecker product ``ops[0] ⊗ ops[1] ⊗ …`` (first factor slowest, as ``torch.kron``).

    The input is ``(*isize₀, *isize₁, …)`` and each factor acts on its own dims, so
    ``(A ⊗ B) vec(X) = vec(A X Bᵀ)`` is computed factor by factor and the dense product
    is never formed: cost ``Σₖ cost(opsₖ) · n / nₖ`` instead of ``n²``. Names are the
    factors' names in order; a clash gets the suffix ``_j`` (j the factor index).
    ``.H``, ``.N`` and inverse are Kronecker products of the factors' (``.N`` of unitary factors is
    ``Identity``); the diagonal comes from the factors' diagonals, or their entries when non-square.

    Parameters
    ----------
    *ops : LinearOperator
        One or more factors, slowest first, all on one device; nested Kroneckers are
        flattened. The dtype is the promoted dtype of the factors.

    Raises
    ------
    ValueError
        No factor given.
    TypeError
        A factor is not a LinearOperator.
    DeviceError
        The factors are on different devices.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A, B = ll.Dense(torch.randn(3, 2)), ll.Dense(torch.randn(4, 5))
    >>> K = ll.Kronecker(A, B)
    >>> K.shape, K(torch.randn(2, 5)).shape, K.ishape
    (torch.Size([12, 10]), torch.Size([3, 4]), ('i0', 'i0_1'))

    Dense equivalent: ``torch.kron(A.to_dense(), B.to_dense())``.
    """

    def __init__(self, *ops):
        check_ops(ops, "Kronecker")
        flat = []
        for op in ops:
            flat.extend(op.ops if type(op) is Kronecker else (op,))
        for op in flat[1:]:
            if op.device != flat[0].device:
                raise DeviceError(f"Kronecker: factors on {flat[0].device} and {op.device}; move them to one device")
        inames, onames = _unique([op.ishape for op in flat]), _unique([op.oshape for op in flat])
        flat = [op if (op.ishape, op.oshape) == (i, o) else op.rename(i, o) for op, i, o in zip(flat, inames, onames)]
        super().__init__(
            ishape=sum(inames, ()),
            oshape=sum(onames, ()),
            isize=sum((tuple(op.isize) for op in flat), ()),
            osize=sum((tuple(op.osize) for op in flat), ()),
            dtype=promote_all(flat),
            device=flat[0].device,
            tags=_kron_tags([op._tags for op in flat]),  # structural only: value tags are _lazy_tags
        )
        self.ops = tuple(flat)

    def _lazy_tags(self):
        return lazy_tags(self, lambda: _kron_tags([op.tags for op in self.ops]))

    def _plan(self, adjoint):
        """Per factor (last first): ``(op, matrix or None, pre, n, post)``, built once."""

        def build():
            ops = self.ops
            ins = [prod(op.osize if adjoint else op.isize) for op in ops]
            outs = [prod(op.isize if adjoint else op.osize) for op in ops]
            return tuple(
                (ops[k], _plain_matrix(ops[k]), prod(ins[:k]), ins[k], prod(outs[k + 1 :]))
                for k in reversed(range(len(ops)))
            )

        return self._memo(("plan", adjoint), build)

    def _run(self, x, adjoint):
        """Apply every factor along its own dims, last factor first (x: ``(*batch, *in)``)."""
        nb = x.dim() - len(self.osize if adjoint else self.isize)
        batch = x.shape[:nb]
        plan = self._plan(adjoint)
        if len(plan) == 2 and plan[0][1] is not None and plan[1][1] is not None:
            return self._two_gemm(x, batch, plan, adjoint)
        for op, W, pre, n, post in plan:
            x = _factor(op, W, x.reshape(-1, pre, n, post), adjoint)  # (B, pre, m, post): only this factor changes
        return x.reshape(*batch, *(self.isize if adjoint else self.osize))

    def _two_gemm(self, x, batch, plan, adjoint):
        # (A ⊗ B) vec X = vec(A X Bᵀ) for two plain matrices: two GEMMs, batch folded in
        (_, Wb, _, nb_, _), (_, Wa, _, na, _) = plan
        dt = x.dtype
        Wa = Wa if Wa.dtype == dt else Wa.to(dt)
        Wb = Wb if Wb.dtype == dt else Wb.to(dt)
        if adjoint:
            Wa, Wb = Wa.mH, Wb.mH
        if x.numel() == na * nb_:  # one vector: plain 2-D GEMMs
            y = Wa @ (x.reshape(na, nb_) @ Wb.mT)
        else:
            y = torch.matmul(Wa, x.reshape(-1, na, nb_) @ Wb.mT)
        return y.reshape(*batch, *(self.isize if adjoint else self.osize))

    def _gemm(self):
        """``(A, B)`` when the product is two plain matrices of one dtype, else ``()``; built once."""

        def build():
            Ws = [step[1] for step in reversed(self._plan(False))]
            ok = len(Ws) == 2 and all(W is not None for W in Ws) and Ws[0].dtype == Ws[1].dtype
            return tuple(Ws) if ok else ()

        return self._memo("gemm", build)

    def _apply(self, x):
        pair = self._gemm() if x.dim() == 2 else ()
        if pair and x.dtype is pair[0].dtype:
            # one unbatched X: (A ⊗ B) vec X = vec(A X Bᵀ) as two GEMMs, Bᵀ taken inside linear
            return torch.mm(pair[0], torch.nn.functional.linear(x, pair[1]))
        return self._run(x, False)

    def _apply_adjoint(self, y):
        pair = self._gemm() if y.dim() == 2 else ()
        if pair and y.dtype is pair[0].dtype:
            return torch.mm(pair[0].mH, torch.mm(y, pair[1].conj()))  # (A ⊗ B)ᴴ vec Y = vec(Aᴴ Y B̄)
        return self._run(y, True)

    def _adjoint(self):
        return Kronecker(*[op.H for op in self.ops])  # (A ⊗ B)ᴴ = Aᴴ ⊗ Bᴴ

    def _conj(self):
        return Kronecker(*[op.conj() for op in self.ops])  # conj(A ⊗ B) = conj A ⊗ conj B

    def _normal(self):
        normals = [op.N for op in self.ops]  # (A ⊗ B)ᴴ(A ⊗ B) = AᴴA ⊗ BᴴB
        out = _scaled_identity(normals, self.isize, self.ishape)  # I ⊗ I = I: Kron(F, F).N for unitary F
        out = Kronecker(*normals) if out is None else out
        return out if out.dtype == self.dtype else out._to(dtype=self.dtype)

    def _inverse(self):
        invs = [op._inverse() for op in self.ops]
        return None if any(i is None for i in invs) else Kronecker(*invs)  # (A ⊗ B)⁻¹ = A⁻¹ ⊗ B⁻¹

    def _slogdet(self):
        # det(A ⊗ B) = det(A)^m det(B)^n for A n×n, B m×m
        if any(op.shape[0] != op.shape[1] for op in self.ops):
            return None
        n = self.shape[0]
        sign, logabs = None, 0.0
        for op in self.ops:
            p = op._slogdet()
            if p is None:
                return None
            m = n // op.shape[0]
            s, l = p
            sign = s**m if sign is None else sign * s**m
            logabs = logabs + m * l
        return sign, logabs

    def _diagonal(self):
        # (A ⊗ B)[i, i] = A[i // m_B, i // n_B] · B[i % m_B, i % n_B] (A m_A×n_A, B m_B×n_B): a factor's
        # diagonal when its row and column digits agree (square factors: diag A ⊗ diag B), else its entries
        if all(op.shape[0] == op.shape[1] for op in self.ops):
            ds = [op._diagonal() for op in self.ops]
            if any(d is None for d in ds):
                return None
            return functools.reduce(_kron, [d.to(self.dtype) for d in ds])  # diag(A ⊗ B) = diag A ⊗ diag B
        n = min(self.shape)
        i = torch.arange(n, device=self.device)
        out = None
        mrest, nrest = self.shape
        for op in self.ops:
            m, k = op.shape
            mrest, nrest = mrest // m, nrest // k
            r, c = (i // mrest) % m, (i // nrest) % k
            if mrest == nrest and (m == k or n <= min(m, k) * mrest):  # r == c for every i: on op's diagonal
                d = op._diagonal()
                d = None if d is None else d.to(self.dtype)[r]
            elif isinstance(op, (Dense, LowRank)):
                d = op.entries(r, c).to(self.dtype)
            else:
                return None
            if d is None:
                return None
            out = d if out is None else out * d
        return out

    def _to_dense(self):
        dense = dense_children(self.ops, self.dtype)  # dense(A ⊗ B) = kron(dense A, dense B)
        return super()._to_dense() if dense is None else functools.reduce(_kron, dense)

    def _renamed(self, ishape, oshape):
        ops, i, o = [], 0, 0
        for op in self.ops:
            ni, no = len(op.ishape), len(op.oshape)
            ops.append(op.rename(ishape[i : i + ni], oshape[o : o + no]))
            i, o = i + ni, o + no
        return Kronecker(*ops)

    def _split(self, tile):
        # a block of A ⊗ B along dims of one factor is that factor's block ⊗ the others
        return Kronecker(*[op._split(tile) for op in self.ops])

    def _repr_extra(self):
        return " ⊗ ".join(str(op.shape[0]) + "×" + str(op.shape[1]) for op in self.ops)


def _scaled_identity(ops, size, names):
    """``I ⊗ I = I`` and ``(a I) ⊗ (b I) = (ab) I`` on ``names``, or None when a factor is neither (or a
    scalar weight requires grad: a folded product would go stale)."""
    if not all(type(op) in (Identity, Scalar) for op in ops):
        return None
    dtype, device = promote_all(ops), ops[0].device
    scalars = [op for op in ops if type(op) is Scalar]
    if not scalars:
        return Identity(size, names, dtype=dtype, device=device)
    if not foldable(*scalars):
        return None
    w = functools.reduce(torch.mul, [op.weight.to(dtype) for op in scalars])
    return Scalar(w, size, names)


def _kron(a, b):
    """``torch.kron`` of two vectors or two matrices (by broadcasting: safe for any strides)."""
    if a.dim() == 1:
        return (a[:, None] * b[None, :]).reshape(-1)
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])


def _plain_matrix(op):
    """The ``(M, N)`` weight of a Dense that is a plain matrix between 1-D shapes, else None."""
    if type(op) is not Dense or len(op.isize) != 1 or len(op.osize) != 1:
        return None
    wlab, ilab, olab = op.labels
    if op.plain or (op.weight.dim() == 2 and wlab == (*olab, *ilab)):
        return op.weight
    return None


def _factor(op, W, x, adjoint):
    """``x: (B, pre, n, post)`` → ``(B, pre, m, post)`` applying ``op`` (or ``opᴴ``) to the n-dim."""
    B, pre, n, post = x.shape
    if W is not None:
        W = W if W.dtype == x.dtype else W.to(x.dtype)
        if adjoint:
            W = W.mH
        if post == 1:
            return (x.reshape(B * pre, n) @ W.mT).reshape(B, pre, -1, 1)  # trailing factor: one GEMM
        if B * pre == 1:
            return (W @ x.reshape(n, post)).reshape(1, 1, -1, post)  # leading factor: one GEMM
        return torch.matmul(W, x.reshape(B * pre, n, post)).reshape(B, pre, -1, post)  # (A ⊗ B) vec X = vec(A X Bᵀ)
    size = op.osize if adjoint else op.isize
    fn = op._apply_adjoint if adjoint else op._apply
    if post == 1:
        return fn(x.reshape(B, pre, *size)).reshape(B, pre, -1, 1)
    y = fn(x.transpose(-1, -2).reshape(B, pre, post, *size))
    return y.reshape(B, pre, post, -1).transpose(-1, -2)


def _inner_names(a, b):
    """Names for the dims joining ``a @ b`` (sizes ``a.isize``): ``a``'s input names, ``b``'s output names
    or fresh ones, the first that label no dim of another size in ``a``'s output or ``b``'s input (one
    name for two dims of the product would mislead a split)."""
    outer = {**dict(zip(a.oshape, a.osize)), **dict(zip(b.ishape, b.isize))}
    for names in (a.ishape, b.oshape, tuple(f"{n}'" for n in a.ishape)):
        if all(outer.get(n, s) == s for n, s in zip(names, a.isize)):
            return names
    return None


@compose_rule(Kronecker, Kronecker)
def kron_product_rule(L, R):
    # (A ⊗ B)(C ⊗ D) = AC ⊗ BD when the factor sizes match (A's input size is C's output size …)
    if len(L.ops) != len(R.ops) or any(a.isize != b.osize for a, b in zip(L.ops, R.ops)):
        return None
    pairs = []
    for a, b in zip(L.ops, R.ops):  # names are metadata: factor names of a Kronecker differ by position
        mid = _inner_names(a, b)
        if mid is None:
            return None
        pairs.append(compose(relabel(a, mid, a.oshape), relabel(b, b.ishape, mid)))
    return [Kronecker(*pairs)]
