"""The algebra: ``compose`` (``A @ B``), ``add`` (``A + B``), ``scale`` (``c A``) and the rule tables.

Structural knowledge about pairs of operators lives in two tables filled by decorators:
``@compose_rule(LType, RType)`` for ``L @ R`` (returns the replacement list of factors) and
``@add_rule(LType, RType)`` for ``L + R`` (returns one operator); both return ``None`` when they
do not apply and never half-apply. ``LinearOperator`` as a type means "any operator". The
generic rules are here; each family's rules sit beside its classes in ``operators/<family>.py``,
directly above the rule with its maths in a one-line comment.

Lookup walks both classes' MROs, most specific pair first (by the summed MRO distance, then the
left one), rules of one pair in registration order; the result is cached per type pair and the
cache is emptied by every registration. ``folds=True`` marks rules that compute new weight
tensors from the factors' values (skipped when a weight requires grad, see ``foldable``).

Cross-term structure of sums (``D + U Vᴴ`` today) is a third table: ``@sum_rule("inverse")`` /
``@sum_rule("slogdet")`` recognisers consulted by ``Sum._inverse`` / ``Sum._slogdet``.
"""

import numbers
import re

import torch

from ..dims import fmt_names, prod
from ..dtypes import promote, real_dtype
from ..errors import NameWarning, ShapeError, warn
from .base import LinearOperator, densify, relabel
from .basic import Identity, Reshape, Scalar, Zero, scalar_weight
from .combinators import Chain, Sum, describe
from .dispatch import get_names


class RuleTable:
    """Rules for pairs of operator classes, looked up (and cached) by the concrete type pair."""

    def __init__(self, name):
        self.name = name
        self._rules = {}  # (L class, R class) -> [(rule, folds), ...] in registration order
        self._cache = {}  # (type(L), type(R)) -> tuple of (rule, folds), most specific first

    def register(self, L_type, R_type, *, folds=False):
        """A decorator registering ``rule(L, R)`` for operators of classes ``L_type``, ``R_type``."""
        for t in (L_type, R_type):
            if not (isinstance(t, type) and issubclass(t, LinearOperator)):
                raise TypeError(
                    f"{self.name}_rule expects two LinearOperator subclasses (LinearOperator for any), got {t!r}"
                )

        def decorator(rule):
            if not callable(rule):
                raise TypeError(f"{self.name}_rule decorates a function rule(L, R), got {rule!r}")
            self._rules.setdefault((L_type, R_type), []).append((rule, bool(folds)))
            self._cache.clear()
            return rule

        return decorator

    def lookup(self, L_type, R_type):
        """The ``(rule, folds)`` pairs that apply to ``(L_type, R_type)``, most specific first."""
        key = (L_type, R_type)
        found = self._cache.get(key)
        if found is None:
            lmro = [c for c in L_type.__mro__ if issubclass(c, LinearOperator)]
            rmro = [c for c in R_type.__mro__ if issubclass(c, LinearOperator)]
            pairs = [(i + j, i, lc, rc) for i, lc in enumerate(lmro) for j, rc in enumerate(rmro)]
            pairs.sort(key=lambda p: p[:2])  # summed MRO distance, then the left one (stable)
            found = tuple(entry for *_, lc, rc in pairs for entry in self._rules.get((lc, rc), ()))
            self._cache[key] = found
        return found

    def __iter__(self):
        """Every registered ``((L class, R class), rule, folds)``."""
        return iter([(pair, rule, folds) for pair, entries in self._rules.items() for rule, folds in entries])


COMPOSE_RULES = RuleTable("compose")


ADD_RULES = RuleTable("add")


def compose_rule(L_type, R_type, *, folds=False):
    """Register ``rule(L, R) -> list | None`` simplifying ``L @ R`` for ``L_type``, ``R_type`` operators."""
    return COMPOSE_RULES.register(L_type, R_type, folds=folds)


def add_rule(L_type, R_type, *, folds=False):
    """Register ``rule(L, R) -> operator | None`` merging ``L + R`` for ``L_type``, ``R_type`` operators."""
    return ADD_RULES.register(L_type, R_type, folds=folds)


def rules_for(table, L_type, R_type):
    """The ``(rule, folds)`` pairs of ``table`` for the type pair, most specific first (cached)."""
    return table.lookup(L_type, R_type)


_SUM_RULES = {"inverse": [], "slogdet": []}


def sum_rule(hook):
    """Register ``recogniser(S) -> result | None`` for ``Sum._inverse`` (``hook="inverse"``) or
    ``Sum._slogdet`` (``hook="slogdet"``): structure that lies across the terms of a sum
    (``D + U Vᴴ`` → Woodbury, determinant lemma). Tried in registration order; the first result
    that is not ``None`` is the hook's answer."""
    if hook not in _SUM_RULES:
        raise ValueError(f"sum_rule: hook must be one of {sorted(_SUM_RULES)}, got {hook!r}")

    def decorator(recogniser):
        _SUM_RULES[hook].append(recogniser)
        return recogniser

    return decorator


def sum_structure(hook, S):
    """The first registered ``sum_rule(hook)`` answer for the Sum ``S``, or None."""
    for recogniser in _SUM_RULES[hook]:
        out = recogniser(S)
        if out is not None:
            return out
    return None


def promoted_weights(L, R):
    """Both weights in the promoted dtype (a 0-d weight would not promote a dimensioned one)."""
    dtype = promote(L.weight.dtype, R.weight.dtype)
    return L.weight.to(dtype), R.weight.to(dtype)


def weight_product(L, R):
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
    return [Scalar(weight_product(L, R), R.isize, R.ishape)]


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


def _rewrite(L, R):
    """The first pair rule's replacement for ``L R`` (names kept, Chains flattened), or None."""
    folds = None
    for rule, is_fold in (*TAG_RULES, *rules_for(COMPOSE_RULES, type(L), type(R))):
        if is_fold:
            folds = foldable(L, R) if folds is None else folds
            if not folds:
                continue
        new = rule(L, R)
        if new is not None:
            return new
    return None


def _across_names(L, S, R):
    """``L S R`` by a pair rule on ``L`` and ``R`` when ``S`` is a names-only ``Reshape`` (equal sizes: the
    identity matrix), ``R`` seen with ``S``'s output names; None when no rule applies."""
    if type(S) is not Reshape or S.isize != S.osize:
        return None
    if not rules_for(COMPOSE_RULES, type(L), type(R)) and "unitary" not in R._tags:
        return None  # nothing could apply: skip the relabelling
    seen = relabel(R, R.ishape, S.oshape)
    if type(seen) is not type(R):
        return None  # R refuses the names (relabel wrapped it in Reshapes)
    return _rewrite(L, seen)


def simplify_chain(ops):
    """Apply the pair rules (looked up by type pair, most specific first) to adjacent factors until none
    applies; a names-only ``Reshape`` between two factors does not hide them from each other (names are
    metadata: ``Kronecker @ Kronecker`` with differently named factors of matching sizes still multiplies)."""
    ops = list(ops)
    changed = True
    while changed and len(ops) > 1:
        changed = False
        for i in range(len(ops) - 1):
            span, new = 2, _rewrite(ops[i], ops[i + 1])
            if new is None and i + 2 < len(ops):
                span, new = 3, _across_names(ops[i], ops[i + 1], ops[i + 2])
            if new is not None:
                new = _keep_names(new, ops[i], ops[i + span - 1])
                ops[i : i + span] = [f for op in new for f in (op.ops if type(op) is Chain else (op,))]
                changed = True
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


# A positional default name: ``d0`` / ``i0`` / ``o0`` (``dims.default_names`` and the constructors'
# own defaults), with the suffixes Kronecker (``_1``) and fresh inner names (``'``) add.
_DEFAULT_NAME = re.compile(r"[dio][0-9]+(?:_[0-9]*)*'*")


def is_default_name(name):
    """Whether ``name`` is a positional default (``d0``, ``i1``, ``o0_1`` …), not one the user gave."""
    return all(_DEFAULT_NAME.fullmatch(part) for part in name.split("·"))  # torch.cat joins names with ·


def clashing_names(left, right):
    """The ``(left, right)`` name pairs at the same position that differ and are both user-given."""
    return [(a, b) for a, b in zip(left, right) if a != b and not (is_default_name(a) or is_default_name(b))]


def _names_mistake(message):
    """Report differing user-given names per ``ll.set_names``: warn, raise (strict) or nothing (allow)."""
    if get_names() == "strict":
        raise ShapeError(message + " An error because ll.set_names('strict') is in force; ll.set_names('warn') warns.")
    warn(message + " Silence with ll.set_names('allow'), or make it an error with ll.set_names('strict').", NameWarning)


def _spec(names):
    return repr(tuple(names))


def check_compose_names(A, B):
    """``NameWarning`` (or per ``set_names``) when the user's ``A @ B`` pairs differently user-named dims.

    Only a names-only join (``A.isize == B.osize``) is checked; differing sizes are a real reshape.
    """
    if A.ishape == B.oshape or A.isize != B.osize or get_names() == "allow":
        return
    pairs = clashing_names(A.ishape, B.oshape)
    if not pairs:
        return
    fixes = []
    if B.ishape == A.ishape and B.isize == A.isize:
        fixes.append(f"a forgotten .H: B's input is {fmt_names(B.ishape)}, so A @ B.H matches")
    if A.oshape == B.oshape and A.osize == B.osize:
        fixes.append(f"a forgotten .H: A's output is {fmt_names(A.oshape)}, so A.H @ B matches")
    fixes.append(
        f"to join them on purpose, rename one side: A @ B.rename(oshape={_spec(A.ishape)}) "
        f"or A.rename(ishape={_spec(B.oshape)}) @ B (or put an ll.Reshape between them)."
    )
    _names_mistake(
        f"A @ B with A = {describe(A)} and B = {describe(B)}: A's input {fmt_names(A.ishape, A.isize)} and "
        f"B's output {fmt_names(B.oshape, B.osize)} have the same sizes but different names, so they are matched "
        f"by position ({', '.join(f'{a}↔{b}' for a, b in pairs)}). Likely fix: " + "; or ".join(fixes)
    )


def check_add_names(A, B):
    """``NameWarning`` (or per ``set_names``) when the user's ``A + B`` adds differently user-named dims."""
    if (A.ishape == B.ishape and A.oshape == B.oshape) or get_names() == "allow":
        return
    sides = []
    for side, a, b, size in (("output", A.oshape, B.oshape, A.osize), ("input", A.ishape, B.ishape, A.isize)):
        pairs = clashing_names(a, b) if size == getattr(B, side[0] + "size") else []
        if pairs:
            sides.append(
                f"A's {side} {fmt_names(a, size)} and B's {side} {fmt_names(b, size)} "
                f"({', '.join(f'{x}↔{y}' for x, y in pairs)})"
            )
    if not sides:
        return
    fixes = []
    if (B.ishape, B.isize, B.oshape, B.osize) == (A.oshape, A.osize, A.ishape, A.isize):
        fixes.append("a forgotten (or extra) .H: B's input and output names are A's swapped, so A + B.H matches")
    fixes.append(
        f"to add them on purpose, rename one side: A + B.rename(ishape={_spec(A.ishape)}, oshape={_spec(A.oshape)})."
    )
    _names_mistake(
        f"A + B with A = {describe(A)} and B = {describe(B)}: {' and '.join(sides)} have the same sizes but "
        "different names, so they are matched by position. Likely fix: " + "; or ".join(fixes)
    )


def compose(A, B, *, user=False):
    """``A @ B`` for operators: a simplified composition (matrix semantics).

    ``user=True`` for the user's own ``A @ B`` / ``torch.matmul``: differing user-given dim names are
    reported per ``ll.set_names`` (the library's internal compositions are not checked).
    """
    if user:
        check_compose_names(A, B)
    B = join(A, B)
    ops = [*(A.ops if type(A) is Chain else (A,)), *(B.ops if type(B) is Chain else (B,))]
    return chain(ops, promote(A.dtype, B.dtype))


def as_scalar_like(op):
    """Identity as the scalar 1 so it merges with Scalars and Diagonals."""
    if type(op) is Identity:
        return Scalar(torch.ones((), dtype=op.dtype, device=op.device), op.isize, op.ishape)
    return op


@add_rule(Identity, Identity, folds=True)
@add_rule(Identity, Scalar, folds=True)
@add_rule(Scalar, Identity, folds=True)
@add_rule(Scalar, Scalar, folds=True)
def _scalars(L, R):
    # a I + b I = (a+b) I
    L, R = as_scalar_like(L), as_scalar_like(R)
    a, b = promoted_weights(L, R)
    return Scalar(a + b, L.isize, L.ishape)


def _merge(L, R, force):
    """``L + R`` as one operator by the first add rule (by type pair) that applies, else None."""
    for rule, folds in rules_for(ADD_RULES, type(L), type(R)):
        if folds and not (force or foldable(L, R)):
            continue
        merged = rule(L, R)
        if merged is not None:
            return merged
    return None


def fold_terms(ops, dtype, force=False):
    """The terms of a sum with ``Zero`` dropped and mergeable terms merged (the ``add_rule`` table).

    Fold rules (every merge today) apply to terms whose weights require grad only with ``force``
    (see ``compose.foldable``): ``add`` keeps them apart, hooks such as ``Sum._inverse`` fold them on each call.
    """
    first = ops[0]
    terms = []
    for op in in_dtype(ops, dtype) if not force else ops:
        if type(op) is Zero:
            continue
        for i, t in enumerate(terms):
            merged = _merge(t, op, force)
            if merged is not None:
                terms[i] = relabel(merged, first.ishape, first.oshape)  # merges build on one side's names
                break
        else:
            terms.append(op)
    return terms


def _dense_binary(func, a, b, hint=None):
    return densify(func, (a, b), {}, hint=hint)


def _mul_hint(c):
    """What ``A * c`` with a non-scalar ``c`` probably meant: elementwise is torch's (dense) semantics."""
    if isinstance(c, LinearOperator):
        return "A * B is the elementwise (Hadamard) product, as for dense tensors; for the operator product use A @ B."
    if isinstance(c, torch.Tensor):
        return (
            f"A * x with a tensor x of shape {tuple(c.shape)} is elementwise (broadcast), as for dense tensors; "
            "for a matrix-vector product use A @ x (or A(x) with named input)."
        )
    return None


def _scalar_like_names(S, A):
    """``c·I`` on ``A``'s names when ``A`` is square with equal names: (Rᴴ (cI) R = cI for any reshape R)."""
    if type(S) not in (Identity, Scalar) or A.ishape != A.oshape or A.isize != A.osize or S.ishape == A.ishape:
        return S
    if type(S) is Identity:
        return Identity(A.isize, A.ishape, dtype=S.dtype, device=S.device)
    return Scalar(S.weight, A.isize, A.ishape)


def add(A, B, *, user=False):
    """``A + B``; operators give a lazy (simplified) sum, anything else is dense semantics.

    ``user=True`` for the user's own ``A + B`` / ``torch.add``: differing user-given dim names are
    reported per ``ll.set_names`` (``c·I`` takes the other side's names and is never reported).
    """
    if not isinstance(A, LinearOperator) or not isinstance(B, LinearOperator):
        return _dense_binary(torch.add, A, B)
    if A.shape != B.shape:
        raise ShapeError(
            f"cannot add {describe(A)} and {describe(B)}: matrices {tuple(A.shape)} and {tuple(B.shape)} differ"
        )
    A, B = _scalar_like_names(A, B), _scalar_like_names(B, A)
    if user:
        check_add_names(A, B)
    if B.oshape != A.oshape or B.osize != A.osize:
        B = Chain(Reshape(B.osize, A.osize, B.oshape, A.oshape, dtype=B.dtype, device=B.device), B)
    if B.ishape != A.ishape or B.isize != A.isize:
        B = Chain(B, Reshape(A.isize, B.isize, A.ishape, B.ishape, dtype=B.dtype, device=B.device))
    dtype = promote(A.dtype, B.dtype)
    terms = fold_terms((*(A.ops if type(A) is Sum else (A,)), *(B.ops if type(B) is Sum else (B,))), dtype)
    if not terms:
        out = Zero(A.isize, A.osize, A.ishape, A.oshape, dtype=dtype, device=A.device)
    else:
        out = terms[0] if len(terms) == 1 else Sum(*terms)
    return out if out.dtype == dtype else out._to(dtype=dtype)


def _result_dtype(dtype, c):
    """The dtype torch gives ``dense * c`` for a dense matrix of ``dtype``."""
    return torch.result_type(torch.empty(1, dtype=dtype, device="meta"), c)


def _is_scalar(c):
    if isinstance(c, torch.Tensor) and not isinstance(c, LinearOperator):
        return c.dim() == 0
    return isinstance(c, numbers.Number) and not isinstance(c, bool)


def scale(A, c):
    """``c * A`` for a number or 0-d tensor ``c`` (dtype as dense torch gives); else dense."""
    if not _is_scalar(c):
        return _dense_binary(torch.mul, A, c, _mul_hint(c))
    dtype = _result_dtype(A.dtype, c)
    if isinstance(c, numbers.Number):
        if c == 1:
            return A if A.dtype == dtype else A._to(dtype=dtype)
        if c == 0:
            return Zero(A.isize, A.osize, A.ishape, A.oshape, dtype=dtype, device=A.device)
    w = scalar_weight(c, dtype=dtype, device=A.device)
    S = Scalar(w, A.osize, A.oshape)
    ops = [S, *(A.ops if type(A) is Chain else (A,))]
    out = chain(ops, dtype)
    kept = {"hermitian", "psd", "pd"} & set(A._tags)  # eager tags: no sync (value tags re-derive lazily)
    if kept:
        real = isinstance(c, numbers.Real) or "hermitian" in S.tags
        positive = c > 0 if isinstance(c, numbers.Real) else "pd" in S.tags
        if positive and A.shape[0] == A.shape[1]:
            out = out._with_tags(*kept)  # c > 0: c·A keeps hermitian / psd / pd
        elif real and "hermitian" in kept:
            out = out._with_tags("hermitian")  # c real: c·A keeps hermitian
    return out


def scale_div(A, c):
    """``A / c``: scaling by ``1/c`` for a non-zero scalar ``c``; otherwise dense semantics."""
    if not _is_scalar(c) or (isinstance(c, numbers.Number) and c == 0):
        return _dense_binary(torch.div, A, c)
    return scale(A, 1 / c)  # same result dtype as dense A / c: 1/c keeps c's category


def generic_normal(A):
    """``Aᴴ A`` by composition (the rules still cancel unitary pairs)."""
    return compose(A.H, A)
