"""Composition ``A @ B`` with simplification of adjacent factors.

Each rule takes the adjacent pair ``(L, R)`` of a chain (``L`` applied after ``R``) and
returns the replacement list, or ``None`` when it does not apply. Rules are registered by type
pair with ``@compose_rule(LType, RType)`` (``rules/tables.py``): the generic ones here, the
family ones beside their operators (``operators/kron.py``, ``lowrank.py``, ...).
"""

from ..base import LinearOperator, promote, real_dtype
from ..dims import fmt_names, prod
from ..errors import ShapeError
from ..operators.basic import Identity, Scalar, Zero
from ..operators.compose import Chain, describe, relabel
from ..operators.diagonal import Diagonal
from ..operators.reshape import Reshape
from .tables import COMPOSE_RULES, add_rule, compose_rule, rules_for  # noqa: F401  (add_rule: re-exported)


def promoted_weights(L, R):
    """Both weights in the promoted dtype (a 0-d weight would not promote a dimensioned one)."""
    dtype = promote(L.weight.dtype, R.weight.dtype)
    return L.weight.to(dtype), R.weight.to(dtype)


def _mul(L, R):
    a, b = promoted_weights(L, R)
    return a * b


@compose_rule(Identity, LinearOperator)
def _identity_left(L, R):
    # I B = B
    return [R]


@compose_rule(LinearOperator, Identity)
def _identity_right(L, R):
    # A I = A
    return [L]


@compose_rule(Scalar, Scalar, folds=True)
def _scalar_scalar(L, R):
    # (a I)(b I) = (ab) I
    return [Scalar(_mul(L, R), R.isize, R.ishape)]


@compose_rule(Scalar, Diagonal, folds=True)
def _scalar_diagonal(L, R):
    # (a I) D = diag(a w)
    return [Diagonal(_mul(L, R), R.ishape, R.isize)]


@compose_rule(Diagonal, Scalar, folds=True)
def _diagonal_scalar(L, R):
    # D (a I) = diag(w a)
    return [Diagonal(_mul(L, R), L.ishape, L.isize)]


@compose_rule(Diagonal, Diagonal, folds=True)
def _diagonals(L, R):
    # diag(a) diag(b) = diag(a ⊙ b)
    return [Diagonal(_mul(L, R), R.ishape, R.isize)]


def _adjoint_pair(L, R):
    # Uᴴ U = I for unitary U (L is R's adjoint: the same object or the same transform)
    if "unitary" not in R._tags:  # structural tag: never value-derived, so no lazy lookup
        return None
    if L is R._fresh_cache().get("H") or (hasattr(R, "is_adjoint_pair") and R.is_adjoint_pair(L)):
        return [Identity(R.isize, R.ishape, dtype=promote(L.dtype, R.dtype), device=R.device)]
    return None


@compose_rule(Reshape, Reshape)
def _reshapes(L, R):
    # reshape ∘ reshape = one reshape (or nothing when it is the identity)
    if L.oshape == R.ishape and L.osize == R.isize:
        return []
    return [Reshape(R.isize, L.osize, R.ishape, L.oshape, promote(L.dtype, R.dtype), R.device)]


# Rules that hold for any class carrying a structural tag: tried before the type-pair table, so a
# unitary pair always becomes Identity whatever more specific rule its classes have.
TAG_RULES = ((_adjoint_pair, False),)


def foldable(*ops):
    """Whether the weights of ``ops`` may be folded into new tensors at construction.

    Not when a weight requires grad: a folded weight is a value computed once, so an optimizer
    step on the ``nn.Parameter`` it came from would leave it stale (and a second backward would
    find its graph freed). Such factors stay separate; hooks that need the folded form
    (``Sum._inverse``) fold on demand, each time they are called.
    """
    return not any(op.requires_grad for op in ops)


def _keep_names(new, L, R):
    """A rule's replacement for ``L R`` with ``L``'s output names and ``R``'s input names.

    Rules build their result from one side's names (``Diagonal(a b, R.ishape)``); when ``L``
    and ``R`` are renamed (``L.oshape != R.ishape``) the ends are relabelled, so no rule can
    drop a name. An empty replacement (``L R = I``) becomes a name-only ``Reshape``.
    """
    if not new:
        if L.oshape == R.ishape:
            return new
        return [Reshape(R.isize, L.osize, R.ishape, L.oshape, promote(L.dtype, R.dtype), R.device)]
    new = list(new)
    if len(new) == 1:
        return [relabel(new[0], R.ishape, L.oshape)]
    new[0] = relabel(new[0], new[0].ishape, L.oshape)
    new[-1] = relabel(new[-1], R.ishape, new[-1].oshape)
    return new


def simplify_chain(ops):
    """Apply the pair rules (looked up by type pair, most specific first) to adjacent factors until none applies."""
    ops = list(ops)
    changed = True
    while changed and len(ops) > 1:
        changed = False
        for i in range(len(ops) - 1):
            folds = None
            for rule, is_fold in (*TAG_RULES, *rules_for(COMPOSE_RULES, type(ops[i]), type(ops[i + 1]))):
                if is_fold:
                    folds = foldable(ops[i], ops[i + 1]) if folds is None else folds
                    if not folds:
                        continue
                new = rule(ops[i], ops[i + 1])
                if new is not None:
                    new = _keep_names(new, ops[i], ops[i + 1])
                    flat = [f for op in new for f in (op.ops if type(op) is Chain else (op,))]
                    ops[i : i + 2] = flat
                    changed = True
                    break
            if changed:
                break
    return ops


def join(A, B):
    """``B`` with a Reshape in front when ``A``'s input names/sizes differ from ``B``'s output."""
    if A.ishape == B.oshape and A.isize == B.osize:
        return B
    if prod(A.isize) != prod(B.osize):
        raise ShapeError(
            f"cannot compose {describe(A)} after {describe(B)}: input needs {prod(A.isize)} elements "
            f"{fmt_names(A.ishape, A.isize)}, got {prod(B.osize)} from {fmt_names(B.oshape, B.osize)}; "
            "use ll.Reshape or check the dim names"
        )
    return Chain(Reshape(B.osize, A.isize, B.oshape, A.ishape, dtype=B.dtype, device=B.device), B)


def in_dtype(ops, dtype):
    """Weighted factors raised to the composite's precision, so merges happen in it (as dense would).

    Only the precision: a real factor stays real in a complex composite (its weights keep
    their realness, and with it value-derived tags such as pd). Factors whose weights require
    grad are not cast (a cast is a copy that an optimizer step would leave stale; they are not
    folded either, and their apply promotes the input as it comes).
    """
    out = []
    for op in ops:
        target = promote(op.dtype, real_dtype(dtype))
        cast = target != op.dtype and op._has_tensors() and not op.requires_grad
        out.append(op._to(dtype=target) if cast else op)
    return out


def chain(ops, dtype):
    """Simplify a list of factors into one operator of the given (promoted) dtype."""
    first, last = ops[0], ops[-1]
    if any(type(op) is Zero for op in ops):
        return Zero(last.isize, first.osize, last.ishape, first.oshape, dtype=dtype, device=first.device)
    ops = simplify_chain(in_dtype(ops, dtype))
    if not ops:
        return Identity(last.isize, last.ishape, dtype=dtype, device=last.device)
    out = ops[0] if len(ops) == 1 else Chain(*ops)
    return out if out.dtype == dtype else out._to(dtype=dtype)


def compose(A, B):
    """``A @ B`` for operators: a simplified composition (matrix semantics)."""
    B = join(A, B)
    ops = [*(A.ops if type(A) is Chain else (A,)), *(B.ops if type(B) is Chain else (B,))]
    return chain(ops, promote(A.dtype, B.dtype))
