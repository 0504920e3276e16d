"""Combinators: ``Chain`` (composition), ``Sum``, and the lazy ``Adjoint``/``Conj``/``RealPart`` nodes."""

import functools

import torch

from ..dims import fmt_names
from ..dtypes import complex_dtype, promote, real_dtype
from ..errors import DeviceError, ShapeError
from . import algebra  # the other side of base's seam: algebra imports this module's classes
from .base import LinearOperator
from .basic import Identity, Reshape, Scalar
from .dispatch import get_densify
from .tiles import chain_tiles, sum_tile


def promote_all(ops):
    dtype = ops[0].dtype
    for op in ops[1:]:
        dtype = promote(dtype, op.dtype)
    return dtype


def check_ops(ops, who):
    if not ops:
        raise ValueError(f"{who}: needs at least one operator")
    for op in ops:
        if not isinstance(op, LinearOperator):
            raise TypeError(f"{who}: expected LinearOperators, got {type(op).__name__}")


def describe(op):
    return f"{type(op).__name__} {fmt_names(op.oshape, op.osize)}←{fmt_names(op.ishape, op.isize)}"


def lazy_tags(op, combine):
    """``combine()``: tags from ``op``'s children's full tags (value-derived ones included).

    What a composite's ``_lazy_tags`` returns: computed on request (never at construction, no
    host sync there) and memoised with ``op._memo``, so an in-place change of any weight in
    the tree re-derives them; the constructor passes the same rule on the children's ``_tags``.
    """
    return op._memo("lazy_tags", lambda: tuple(combine()))


def _all_finite(tensors):
    """Whether every floating/complex tensor is finite (one host sync for all of them)."""
    flags = [torch.isfinite(t).all() for t in tensors if t.is_floating_point() or t.is_complex()]
    return not flags or bool(torch.stack(flags).all())


def dense_children(ops, dtype):
    """The children's dense matrices in the composite's ``dtype``, or None when one is over the densify limit.

    Composites densify from their children (``c·A`` is ``c * dense(A)``, a Sum the sum of
    denses …) so non-finite entries land exactly where dense torch puts them; a child too big
    to densify (a large FFT inside a small cropped chain) leaves the composite to densify by
    applying it to the identity.
    """

    limit = get_densify()[1]
    if any(op.shape[0] * op.shape[1] * dtype.itemsize > limit for op in ops):
        return None
    return [(op if op.dtype == dtype else op._to(dtype=dtype))._to_dense() for op in ops]


def _sandwich(B, X):
    """``Bᴴ X B`` using ``B``'s own normal when ``X`` is a scaled identity."""
    if type(X) is Identity:
        return B.N  # Bᴴ I B = Bᴴ B
    if type(X) is Scalar:
        return algebra.compose(Scalar(X.weight, B.isize, B.ishape), B.N)  # Bᴴ (c I) B = c Bᴴ B
    return algebra.compose(algebra.compose(B.H, X), B)


def _chain_normal(C):
    """(A₁ A₂ … Aₙ)ᴴ(A₁ … Aₙ) = Aₙᴴ(… (A₂ᴴ (A₁ᴴA₁) A₂) …)Aₙ, folding from the outside in."""
    # each factor in the chain's dtype first: |w|² of a float32 weight in a float64 chain must be float64
    ops = [op if op.dtype == C.dtype else op._to(dtype=C.dtype) for op in C.ops]
    inner = ops[0].N
    for B in ops[1:]:
        inner = _sandwich(B, inner)
    return inner if inner.dtype == C.dtype else inner._to(dtype=C.dtype)


class Chain(LinearOperator):
    """Composition ``ops[0] @ ops[1] @ …`` (``ops[-1]`` applies first); names must match.

    ``A @ B`` builds a simplified Chain (and joins differing names with a ``Reshape``);
    ``Chain`` itself is the strict form: nested Chains are flattened, nothing else is
    simplified. Apply cost: the sum of the parts'. The dtype is the promoted dtype of the parts.

    Parameters
    ----------
    *ops : LinearOperator
        One or more operators, leftmost first: each one's input names and sizes must equal the
        output names and sizes of the next, and its input device the next one's output device.

    Raises
    ------
    ValueError
        No operator given.
    TypeError
        An argument is not a LinearOperator.
    ShapeError
        Adjacent named shapes differ (use ``A @ B``, ``ll.Reshape`` or ``.rename()``).
    DeviceError
        Adjacent devices differ (move one with ``.to`` or put ``ll.ToDevice`` between them).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> F, D = ll.FFT((4,), "N"), ll.Diagonal(torch.arange(1.0, 5.0), "N")
    >>> C = ll.Chain(F, D)
    >>> C(torch.ones(4)).shape, type(C.N).__name__
    (torch.Size([4]), 'Diagonal')

    Dense equivalent: ``ops[0].to_dense() @ ops[1].to_dense() @ …``.
    """

    def __init__(self, *ops):
        check_ops(ops, "Chain")
        flat = []
        for op in ops:
            flat.extend(op.ops if type(op) is Chain else (op,))
        for left, right in zip(flat, flat[1:]):
            if left.ishape != right.oshape or left.isize != right.osize:
                raise ShapeError(
                    f"Chain: cannot compose {describe(left)} after {describe(right)}: the input "
                    f"{fmt_names(left.ishape, left.isize)} must equal the output "
                    f"{fmt_names(right.oshape, right.osize)}; "
                    "use A @ B (joins differing names with a Reshape), ll.Reshape, or .rename()"
                )
            if left.idevice != right.odevice and "meta" not in (left.idevice.type, right.odevice.type):
                raise DeviceError(
                    f"Chain: {describe(left)} takes inputs on {left.idevice} but {describe(right)} gives "
                    f"outputs on {right.odevice}; move one with .to(device) (or put ll.ToDevice between them)"
                )
        first, last = flat[0], flat[-1]
        super().__init__(
            ishape=last.ishape,
            oshape=first.oshape,
            isize=last.isize,
            osize=first.osize,
            dtype=promote_all(flat),
            device=last.idevice,
        )
        self.ops = tuple(flat)

    odevice = property(lambda self: self.ops[0].odevice)

    def _apply(self, x):
        for op in reversed(self.ops):
            x = op._apply(x)
        return x

    def _apply_adjoint(self, y):
        for op in self.ops:
            y = op._apply_adjoint(y)
        return y

    def _adjoint(self):
        return Chain(*[op.H for op in reversed(self.ops)])  # (A B)ᴴ = Bᴴ Aᴴ

    def _conj(self):
        return Chain(*[op.conj() for op in self.ops])  # conj(A B) = conj(A) conj(B)

    def _normal(self):
        return _chain_normal(self)

    def _to_dense(self):
        # finite weights: the chain applied to the identity, N structured applies (the product of the
        # factors' dense matrices costs O(n³): 15 s for FFT·diag·Broadcast at n = 4096, vs 0.4 s)
        if _all_finite(self._tree_tensors()):
            return super()._to_dense()
        # non-finite weights: dense(A B) = dense(A) @ dense(B), so 0·inf lands where dense torch puts it;
        # scalar factors scale (c·A is c * dense(A), as dense torch gives)
        ops = [op for op in self.ops if type(op) not in (Identity, Reshape)]
        scalars = [op.weight for op in ops if type(op) is Scalar]
        ops = [op for op in ops if type(op) is not Scalar]
        dense = dense_children(ops, self.dtype) if ops else []
        if dense is None:
            return super()._to_dense()
        out = (
            functools.reduce(torch.matmul, dense)
            if dense
            else torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
        )
        for w in scalars:
            out = out * w.to(self.dtype)
        return out

    def _slogdet(self):
        # det(AB) = det A det B, for square factors
        if any(op.shape[0] != op.shape[1] for op in self.ops):
            return None
        parts = [op._slogdet() for op in self.ops]
        if any(p is None for p in parts):
            return None
        sign, logabs = parts[0]
        for s, l in parts[1:]:
            sign, logabs = sign * s, logabs + l
        return sign, logabs

    def _diagonal(self):
        # diag(D₁ A D₂) = d₁ ⊙ diag(A) ⊙ d₂ when every factor but (at most) one A is a diagonal matrix
        # (c·A: c diag A); factors in the chain's precision, the scalars last (as _to_dense scales)
        ops = algebra.in_dtype([op for op in self.ops if type(op) not in (Identity, Reshape)], self.dtype)
        if sum(not is_diagonal_matrix(op) for op in ops) > 1:
            return None
        n = min(self.shape)
        out = None
        for op in ops:
            if type(op) is Scalar:
                continue
            d = op._diagonal()
            if d is None:
                return None
            d = d.to(self.dtype)[:n]  # a square diagonal factor beside a rectangular A: its first min(M, N)
            out = d if out is None else out * d
        if out is None:
            out = torch.ones(n, dtype=self.dtype, device=self.device)
        for op in ops:
            if type(op) is Scalar:
                out = out * op.weight.to(self.dtype)
        return out

    def _inverse(self):
        invs = [op._inverse() for op in reversed(self.ops)]
        return None if any(i is None for i in invs) else Chain(*invs)  # (A B)⁻¹ = B⁻¹ A⁻¹

    def _lazy_tags(self):
        ops = self.ops
        if len(ops) != 2 or Scalar not in (type(ops[0]), type(ops[1])):
            return ()
        c, X = (ops[0], ops[1]) if type(ops[0]) is Scalar else (ops[1], ops[0])
        return lazy_tags(self, lambda: _scaled_tags(c.tags, X.tags))  # what c·A is (built by A * c)

    def _renamed(self, ishape, oshape):
        ops = list(self.ops)
        if len(ops) == 1:
            return Chain(ops[0].rename(ishape, oshape))
        ops[0], ops[-1] = ops[0].rename(oshape=oshape), ops[-1].rename(ishape=ishape)
        return Chain(*ops)  # rename() keeps the tags

    _split_internal = True  # splitting a dim between two factors reduces it: Σₛ A[:, s] B[s, :]

    def _split(self, tile):
        parts = [op._split(sub) if sub else op for op, sub in zip(self.ops, chain_tiles(self.ops, tile))]
        if all(p is op for p, op in zip(parts, self.ops)):
            return self
        return Chain(*parts)  # (A B)[block] = A[rows, s] B[s, cols], s the shared slice


def is_diagonal_matrix(op):
    """Whether ``op``'s matrix is diagonal, so that its ``_diagonal()`` is all of it: ``I``, ``c I``, a
    ``Reshape`` (the identity on the flat index), or a class that says so with ``_diagonal_matrix = True``."""
    return type(op) in (Identity, Scalar, Reshape) or getattr(op, "_diagonal_matrix", False)


def _scaled_tags(c, A):
    """Tags of c·A from those of ``c`` (a Scalar) and ``A``: c > 0 keeps hermitian / psd / pd,
    c ≥ 0 keeps hermitian / psd, c real keeps hermitian."""
    keep = {"hermitian", "psd", "pd"} if "pd" in c else {"hermitian", "psd"} if "psd" in c else set()
    if "hermitian" in c:
        keep.add("hermitian")
    return tuple(sorted(keep.intersection(A)))


def _sum_tags(ops, eager=False):
    """Σ hermitian is hermitian; Σ psd is psd; psd + pd is pd ("pd" counts as psd).

    ``eager``: from the terms' construction-time tags only (no weight reads); the full tags,
    with value-derived ones, are the Sum's ``_lazy_tags``.
    """
    tags = [set(op._tags if eager else op.tags) for op in ops]
    if not all("hermitian" in t or "pd" in t for t in tags):
        return ()
    if not all(t & {"psd", "pd"} for t in tags):
        return ("hermitian",)
    return ("hermitian", "psd", "pd") if any("pd" in t for t in tags) else ("hermitian", "psd")


class Sum(LinearOperator):
    """Sum ``ops[0] + ops[1] + …`` of operators with identical named shapes.

    ``A + B`` is the lenient, simplifying form; ``Sum`` itself is strict and only flattens
    nested Sums. Apply cost: the sum of the parts'. The dtype is the promoted dtype of the terms;
    tags follow the terms: Σ hermitian is hermitian, Σ psd is psd, psd + pd is pd.

    Parameters
    ----------
    *ops : LinearOperator
        One or more operators with the same input and output names and sizes, on one device.

    Raises
    ------
    ValueError
        No operator given.
    TypeError
        An argument is not a LinearOperator.
    ShapeError
        The terms' named shapes differ (use ``A + B`` or ``.rename()``).
    DeviceError
        The terms are on different devices.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> S = ll.Sum(ll.Identity((3,)), ll.Scalar(2.0, (3,)))
    >>> (S @ torch.ones(3)).tolist()
    [3.0, 3.0, 3.0]

    Dense equivalent: ``sum(op.to_dense() for op in ops)``.
    """

    def __init__(self, *ops):
        check_ops(ops, "Sum")
        flat = []
        for op in ops:
            flat.extend(op.ops if type(op) is Sum else (op,))
        first = flat[0]
        for op in flat[1:]:
            if (
                op.ishape != first.ishape
                or op.oshape != first.oshape
                or op.isize != first.isize
                or op.osize != first.osize
            ):
                raise ShapeError(
                    f"Sum: {describe(op)} does not match {describe(first)}; all terms need the same named "
                    "shapes — use A + B (joins differing names with a Reshape) or .rename()"
                )
            if op.device != first.device:
                raise DeviceError(f"Sum: terms on {first.device} and {op.device}; move them to one device with .to()")
        super().__init__(
            ishape=first.ishape,
            oshape=first.oshape,
            isize=first.isize,
            osize=first.osize,
            dtype=promote_all(flat),
            device=first.device,
            tags=_sum_tags(flat, eager=True),
        )
        self.ops = tuple(flat)

    def _lazy_tags(self):
        return lazy_tags(self, lambda: _sum_tags(self.ops))  # with the terms' value-derived tags

    def _apply(self, x):
        ops = self.ops
        y = ops[0]._apply(x)
        for op in ops[1:]:
            y = y + op._apply(x)
        return y

    def _apply_adjoint(self, y):
        ops = self.ops
        x = ops[0]._apply_adjoint(y)
        for op in ops[1:]:
            x = x + op._apply_adjoint(y)
        return x

    def _adjoint(self):
        return Sum(*[op.H for op in self.ops])

    def _conj(self):
        return Sum(*[op.conj() for op in self.ops])

    def _renamed(self, ishape, oshape):
        return Sum(*[op.rename(ishape, oshape) for op in self.ops])  # rename() keeps the tags

    def _inverse(self):
        # terms kept apart at construction (weights requiring grad: never stale) are folded here, on each call
        terms = algebra.fold_terms(self.ops, self.dtype, force=True)
        if len(terms) == 1:
            return terms[0]._inverse()  # e.g. (diag(p) + λI)⁻¹ = diag(1 / (p + λ))
        S = Sum(*terms) if len(terms) < len(self.ops) else self
        return algebra.sum_structure("inverse", S)  # (D + U Vᴴ)⁻¹ by Woodbury when recognised, else None

    def _slogdet(self):
        # terms folded first (as _inverse), then the registered cross-term structure (det(D + UVᴴ) by the lemma)
        terms = algebra.fold_terms(self.ops, self.dtype, force=True)
        if not terms:
            return None
        if len(terms) == 1:
            return terms[0]._slogdet()
        return algebra.sum_structure("slogdet", Sum(*terms) if len(terms) < len(self.ops) else self)

    def _diagonal(self):
        diags = [op._diagonal() for op in self.ops]
        if any(d is None for d in diags):
            return None
        out = diags[0].to(self.dtype)
        for d in diags[1:]:
            out = out + d
        return out

    def _to_dense(self):
        # dense(A + B) = dense(A) + dense(B), every term in the sum's dtype (no single-precision rounding)
        dense = dense_children(self.ops, self.dtype)
        return super()._to_dense() if dense is None else functools.reduce(torch.add, dense)

    _split_internal = True

    def _split(self, tile):
        tile = sum_tile(self, self.ops, tile)
        parts = [op._split(tile) for op in self.ops]
        if all(p is op for p, op in zip(parts, self.ops)):
            return self
        return Sum(*parts)  # (A + B)[block] = A[block] + B[block]


class Adjoint(LinearOperator):
    """The lazy adjoint ``Aᴴ`` of an operator without a structural one.

    What ``A.H`` gives when ``A``'s class has no ``_adjoint`` hook: it applies
    ``A._apply_adjoint``; its input names/sizes are ``A``'s output ones and vice versa, and its
    input device is ``A``'s output device. ``Adjoint(A).H`` is ``A`` again.

    Parameters
    ----------
    op : LinearOperator
        The operator ``A`` to take the adjoint of.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    >>> B = ll.Adjoint(A)
    >>> B.shape, (B @ torch.ones(3)).tolist()
    (torch.Size([2, 3]), [9.0, 12.0])

    Dense equivalent: ``A.to_dense().mH``.
    """

    def __init__(self, op):
        self._init_like(op, adjoint=True, tags=op._tags, device=op.odevice)
        self.op = op

    def _lazy_tags(self):
        return lazy_tags(self, lambda: self.op.tags)  # Aᴴ is hermitian / psd / pd / unitary when A is

    odevice = property(lambda self: self.op.idevice)

    def _apply(self, x):
        return self.op._apply_adjoint(x)

    def _apply_adjoint(self, y):
        return self.op._apply(y)

    def _adjoint(self):
        return self.op

    def _conj(self):
        return Adjoint(self.op.conj())  # conj(Aᴴ) = (conj A)ᴴ

    def _normal(self):
        return algebra.compose(self.op, self)  # (Aᴴ)ᴴ Aᴴ = A Aᴴ

    def _renamed(self, ishape, oshape):
        return Adjoint(self.op.rename(oshape, ishape))

    def _slogdet(self):
        # det(Aᴴ) = det(Ā) = conj(det A)
        p = self.op._slogdet()
        return None if p is None else (p[0].conj(), p[1])

    def _diagonal(self):
        d = self.op._diagonal()
        return None if d is None else d.conj()

    def _inverse(self):
        inv = self.op._inverse()
        return None if inv is None else inv.H  # (Aᴴ)⁻¹ = (A⁻¹)ᴴ

    def _to_dense(self):
        return self.op._to_dense().mH.contiguous()

    _split_internal = True

    def _split(self, tile):
        part = self.op._split(tile)  # names carry the roles: Aᴴ[rows, cols] = (A[cols, rows])ᴴ
        return self if part is self.op else Adjoint(part)


class Conj(LinearOperator):
    """The lazy elementwise conjugate ``conj(A)``: ``conj(A) x = conj(A conj(x))``.

    What ``A.conj()`` gives for a complex operator whose class has no ``_conj`` hook. Same
    named shapes, dtype and device as ``A``.

    Parameters
    ----------
    op : LinearOperator
        The operator ``A`` to conjugate.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1j, 2.0], [0.0, 1 - 1j]]))
    >>> (ll.Conj(A) @ torch.ones(2, dtype=torch.complex64)).tolist()
    [(2-1j), (1+1j)]

    Dense equivalent: ``A.to_dense().conj()``.
    """

    def __init__(self, op):
        self._init_like(op, tags=op._tags)
        self.op = op

    def _lazy_tags(self):
        return lazy_tags(self, lambda: self.op.tags)  # conj(A) is hermitian / psd / pd / unitary when A is

    odevice = property(lambda self: self.op.odevice)

    def _apply(self, x):
        return self.op._apply(x.conj()).conj().resolve_conj()

    def _apply_adjoint(self, y):
        return self.op._apply_adjoint(y.conj()).conj().resolve_conj()

    def _adjoint(self):
        return Conj(self.op.H)  # conj(A)ᴴ = conj(Aᴴ)

    def _conj(self):
        return self.op

    def _renamed(self, ishape, oshape):
        return Conj(self.op.rename(ishape, oshape))

    # det(Ā) = conj(det A) and diag(Ā) = conj(diag A), as for Aᴴ
    _slogdet = Adjoint._slogdet
    _diagonal = Adjoint._diagonal

    def _to_dense(self):
        return self.op._to_dense().conj().resolve_conj()

    _split_internal = True

    def _split(self, tile):
        part = self.op._split(tile)  # conj(A)[block] = conj(A[block])
        return self if part is self.op else Conj(part)


class RealPart(LinearOperator):
    """``Re(A)`` of a complex operator (what ``A.to(real dtype)`` is): ``(A x + conj(A) x) / 2``.

    ``dtype`` is the real counterpart of ``A.dtype`` by default; a complex ``dtype`` gives the
    same (real-valued) matrix in a complex dtype, which is what ``.to(complex)`` of it is.

    Parameters
    ----------
    op : LinearOperator
        A complex operator ``A``.
    dtype : torch.dtype, optional
        Dtype of the result; the real counterpart of ``A.dtype`` when None.

    Raises
    ------
    ValueError
        ``op`` is not complex.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.tensor([[1 + 1j, 2j], [3.0, 4 - 1j]]))
    >>> R = ll.RealPart(A)
    >>> R.dtype, (R @ torch.ones(2)).tolist()
    (torch.float32, [1.0, 7.0])

    Dense equivalent: ``A.to_dense().real``.
    """

    def __init__(self, op, dtype=None):
        if not op.dtype.is_complex:
            raise ValueError(f"RealPart: operator must be complex, got {op.dtype}")
        self._init_like(op, dtype=real_dtype(op.dtype) if dtype is None else dtype)
        self.op = op

    odevice = property(lambda self: self.op.odevice)

    def _both(self, fn, x):
        if x.is_complex():
            return (fn(x) + fn(x.conj()).conj()) / 2  # Re(A) x = (A x + conj(A conj x)) / 2
        return fn(x.to(promote(self.op.dtype, complex_dtype(x.dtype)))).real.to(x.dtype)

    def _apply(self, x):
        return self._both(self.op._apply, x)

    def _apply_adjoint(self, y):
        return self._both(self.op._apply_adjoint, y)  # Re(A)ᴴ = Re(Aᴴ)

    def _adjoint(self):
        return RealPart(self.op.H, self.dtype)

    def _conj(self):
        return self

    def _renamed(self, ishape, oshape):
        return RealPart(self.op.rename(ishape, oshape), self.dtype)

    def _to(self, device=None, dtype=None, non_blocking=False, copy=False):
        dtype = self.dtype if dtype is None else dtype
        if dtype == self.dtype and (device is None or device == self.device) and not copy:
            return self
        return RealPart(self.op._to(device, complex_dtype(dtype), non_blocking, copy), dtype)

    def _to_dense(self):
        return self.op._to_dense().real.to(self.dtype)
