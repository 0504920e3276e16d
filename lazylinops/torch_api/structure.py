"""Structured torch functions for block and Kronecker structure:
``A[i:j, k:l]``, ``torch.cat``, ``torch.kron``, ``torch.block_diag``
(registered with ``implements``; anything else densifies)."""

import torch

from ..core.algebra import compose
from ..core.base import LinearOperator, densify
from ..core.basic import Reshape
from ..core.combinators import describe
from ..core.dispatch import implements
from ..dims import prod
from ..errors import ShapeError
from ..operators.dense import Dense
from ..operators.kron import Kronecker
from ..operators.select import make_window
from ..operators.stack import Concat

T = torch.Tensor


def _as_op(x):
    """Operators pass through; a plain 2-D tensor becomes ``Dense``; anything else None."""
    if isinstance(x, LinearOperator):
        return x
    if isinstance(x, torch.Tensor) and x.dim() == 2:
        return Dense(x)
    return None


def _flat_name(names):
    return names[0] if len(names) == 1 else "·".join(names)


def _between(op, ishape, isize, oshape, osize):
    """``op`` seen between the given named shapes: renamed, or joined by ``Reshape`` nodes."""
    ishape, oshape, isize, osize = tuple(ishape), tuple(oshape), tuple(isize), tuple(osize)
    if tuple(op.isize) == isize and tuple(op.osize) == osize:
        return op if (op.ishape, op.oshape) == (ishape, oshape) else op.rename(ishape, oshape)
    out = op
    if tuple(op.osize) == osize:
        out = out.rename(oshape=oshape)
    else:
        out = compose(Reshape(op.osize, osize, op.oshape, oshape, dtype=op.dtype, device=op.device), out)
    if tuple(out.isize) == isize:
        return out.rename(ishape=ishape)
    return compose(out, Reshape(isize, out.isize, ishape, out.ishape, dtype=op.dtype, device=op.device))


# ------------------------------------------------------------------ torch.cat / block_diag / kron
@implements(torch.cat, torch.concat, torch.concatenate)
def cat(tensors, dim=0, *, out=None):  # out is None here: torch_function refuses out= before any rule
    """``torch.cat`` of operators: ``Concat`` along rows (``dim=0``) or columns (``dim=1``)."""
    ops = [_as_op(t) for t in tensors]
    if not ops or any(o is None for o in ops) or dim not in (0, 1, -1, -2):
        return densify(torch.cat, (tensors,), {"dim": dim})
    rows = dim % 2 == 0
    first = ops[0]
    k = 0 if rows else 1
    for op in ops[1:]:
        if op.shape[1 - k] != first.shape[1 - k]:
            raise ShapeError(
                f"torch.cat(dim={dim}): {describe(op)} has {op.shape[1 - k]} {'columns' if rows else 'rows'} but "
                f"{describe(first)} has {first.shape[1 - k]}; sizes must match except along dim {dim}"
            )
    if len(ops) == 1:
        return first
    side = "o" if rows else "i"
    names = getattr(first, side + "shape")
    sizes = [getattr(op, side + "size") for op in ops]
    if all(getattr(op, side + "shape") == names and s[1:] == sizes[0][1:] for op, s in zip(ops, sizes)):
        joined = [(names, s) for s in sizes]  # same trailing dims: join along the leading one
    else:
        joined = [((_flat_name(names),), (prod(s),)) for s in sizes]
    blocks = []
    for op, (n, s) in zip(ops, joined):
        if rows:
            blocks.append(_between(op, first.ishape, first.isize, n, s))
        else:
            blocks.append(_between(op, n, s, first.oshape, first.osize))
    name = joined[0][0][0]
    # names as 1-tuples: a joined name such as "H·W" is one dim, not a spec to parse
    return Concat(*blocks, odim=(name,)) if rows else Concat(*blocks, idim=(name,))  # [A; B] or [A  B]


@implements(torch.block_diag)
def block_diag(*tensors):
    """``torch.block_diag`` of operators: a block-diagonal ``Concat`` (names of the first block)."""
    ops = [_as_op(t) for t in tensors]
    if not ops or any(o is None for o in ops):
        return densify(torch.block_diag, tensors, {})
    if len(ops) == 1:
        return ops[0]
    first = ops[0]
    iname, oname = _flat_name(first.ishape), _flat_name(first.oshape)
    blocks = [_between(op, (iname,), (op.shape[1],), (oname,), (op.shape[0],)) for op in ops]
    return Concat(*blocks, idim=(iname,), odim=(oname,))  # diag(A, B)


@implements(torch.kron, T.kron)
def kron(a, b, *, out=None):  # out is None here: torch_function refuses out= before any rule
    """``torch.kron`` of two matrices, at least one an operator: a lazy ``Kronecker``."""
    A, B = _as_op(a), _as_op(b)
    if A is None or B is None:
        return densify(torch.kron, (a, b), {})
    return Kronecker(A, B)  # A ⊗ B, first factor slowest


# ------------------------------------------------------------------ indexing
def _range(s, n):
    if not isinstance(s, slice) or s.step not in (None, 1):
        return None
    a, b, _ = s.indices(n)
    return (a, b) if a < b else None


def submatrix(A, key):
    """``A[r0:r1, c0:c1]`` as a lazy operator, or None when the key is not two plain slices."""
    key = key if isinstance(key, tuple) else (key,)
    if not 1 <= len(key) <= 2:
        return None
    M, N = A.shape
    rows = _range(key[0], M)
    cols = _range(key[1], N) if len(key) == 2 else (0, N)
    if rows is None or cols is None:
        return None
    if rows == (0, M) and cols == (0, N):
        return A
    sub = _by_split(A, rows, cols)
    return sub if sub is not None else _by_window(A, rows, cols)


def _by_split(A, rows, cols):
    """The block from ``A._split`` when the slices cut whole rows of the leading named dims."""
    tile = {}
    for (a, b), names, size, full in ((rows, A.oshape, A.osize, A.shape[0]), (cols, A.ishape, A.isize, A.shape[1])):
        if (a, b) == (0, full):
            continue
        inner = prod(size[1:])
        if not names or a % inner or b % inner:
            return None
        s = slice(a // inner, b // inner)
        if tile.get(names[0], s) != s:
            return None
        tile[names[0]] = s
    both = set(A.ishape) & set(A.oshape)
    for name in tile:  # a name on both sides is cut on both: only right when the key cuts both alike
        if name in both:
            ri = A.oshape.index(name) == 0 and rows != (0, A.shape[0])
            ci = A.ishape.index(name) == 0 and cols != (0, A.shape[1])
            if not (ri and ci):
                return None
    try:
        sub = A._split(tile)
    except ShapeError:
        return None
    return sub if sub.shape == (rows[1] - rows[0], cols[1] - cols[0]) else None


def _by_window(A, rows, cols):
    """``Crop ∘ A ∘ Pad`` on flattened rows/columns: rows r0:r1 kept, columns c0:c1 fed."""
    M, N = A.shape
    out = A
    if rows != (0, M):
        name = _flat_name(A.oshape)
        crop = make_window((M,), ((-rows[0], rows[1] - M),), (name,), (name,), A.dtype, A.device)
        out = compose(crop, _between(out, out.ishape, out.isize, (name,), (M,)))
    if cols != (0, N):
        name = _flat_name(A.ishape)
        pad = make_window((cols[1] - cols[0],), ((cols[0], N - cols[1]),), (name,), (name,), A.dtype, A.device)
        out = compose(_between(out, (name,), (N,), out.oshape, out.osize), pad)
    return out


@implements(T.__getitem__)
def getitem(a, key):
    """``A[i:j, k:l]`` (step-1 slices) is a lazy sub-operator; other indexing densifies."""
    sub = submatrix(a, key) if isinstance(a, LinearOperator) else None
    return sub if sub is not None else densify(T.__getitem__, (a, key), {})
