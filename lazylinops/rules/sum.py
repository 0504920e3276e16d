"""Sums and scalings: ``A + B``, ``c * A``, ``A / c`` with simplification."""

import numbers

import torch

from ..base import LinearOperator, promote
from ..operators.basic import Identity, Scalar, Zero, scalar_weight
from ..operators.compose import Chain, Sum, relabel
from ..operators.diagonal import Diagonal
from ..operators.reshape import Reshape
from .compose import chain, foldable, in_dtype, promoted_weights
from .tables import ADD_RULES, add_rule, rules_for


def _as_scalar_like(op):
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
    L, R = _as_scalar_like(L), _as_scalar_like(R)
    a, b = promoted_weights(L, R)
    return Scalar(a + b, L.isize, L.ishape)


@add_rule(Diagonal, Diagonal, folds=True)
@add_rule(Identity, Diagonal, folds=True)
@add_rule(Diagonal, Identity, folds=True)
@add_rule(Scalar, Diagonal, folds=True)
@add_rule(Diagonal, Scalar, folds=True)
def _diagonals(L, R):
    # diag(a) + diag(b) = diag(a+b) ; a I + diag(b) = diag(a+b)
    L, R = _as_scalar_like(L), _as_scalar_like(R)
    a, b = promoted_weights(L, R)
    return Diagonal(a + b, L.ishape, L.isize)


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


def _dense_binary(func, a, b):
    from ..dispatch import densify

    return densify(func, (a, b), {})


def _scalar_like_names(S, A):
    """``c·I`` on ``A``'s names when ``A`` is square with equal names: (Rᴴ (cI) R = cI for any reshape R)."""
    if type(S) not in (Identity, Scalar) or A.ishape != A.oshape or A.isize != A.osize or S.ishape == A.ishape:
        return S
    if type(S) is Identity:
        return Identity(A.isize, A.ishape, dtype=S.dtype, device=S.device)
    return Scalar(S.weight, A.isize, A.ishape)


def add(A, B):
    """``A + B``; operators give a lazy (simplified) sum, anything else is dense semantics."""
    if not isinstance(A, LinearOperator) or not isinstance(B, LinearOperator):
        return _dense_binary(torch.add, A, B)
    if A.shape != B.shape:
        from ..errors import ShapeError
        from ..operators.compose import describe

        raise ShapeError(
            f"cannot add {describe(A)} and {describe(B)}: matrices {tuple(A.shape)} and {tuple(B.shape)} differ"
        )
    A, B = _scalar_like_names(A, B), _scalar_like_names(B, A)
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
        return _dense_binary(torch.mul, A, c)
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
