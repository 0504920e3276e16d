"""Block operators: ``Concat`` along an existing named dim and ``Stack`` along a new one."""

import functools

import torch

from ..core.algebra import add, compose
from ..core.base import LinearOperator
from ..core.basic import Zero
from ..core.combinators import check_ops, dense_children, describe, lazy_tags, promote_all
from ..core.tiles import relevant
from ..dims import Dim, fmt_names
from ..errors import DeviceError, ShapeError
from .select import make_window


def _one_name(spec, who, what):
    if spec is None:
        return None
    names = Dim(spec)
    if len(names) != 1:
        raise ShapeError(f"{who}: {what} must name exactly one dim, got {spec!r}")
    return names[0]


def _side(ops, side, dim, new, who):
    """Joined ``(names, sizes, axis, block sizes)`` of one side (``"i"`` or ``"o"``)."""
    first = ops[0]
    names, size = getattr(first, side + "shape"), getattr(first, side + "size")
    what = "input" if side == "i" else "output"
    for op in ops[1:]:
        n, s = getattr(op, side + "shape"), getattr(op, side + "size")
        if dim is None or new:
            same = n == names and s == size
        else:
            same = n == names and all(a == b for k, (a, b) in enumerate(zip(s, size)) if n[k] != dim)
        if not same:
            hint = f"all {what}s must agree except along {dim!r}" if dim and not new else f"all {what}s must be equal"
            raise ShapeError(
                f"{who}: {describe(op)} does not fit {describe(first)}: {what} {fmt_names(n, s)} vs "
                f"{fmt_names(names, size)}; {hint} (use .rename() or ll.Reshape)"
            )
    if dim is None:
        return names, size, None, None
    if new:
        if dim in names:
            raise ShapeError(f"{who}: new dim {dim!r} already exists in the {what} {fmt_names(names, size)}")
        return (dim, *names), (len(ops), *size), 0, (1,) * len(ops)
    if dim not in names:
        raise ShapeError(
            f"{who}: dim {dim!r} is not in the {what} {fmt_names(names, size)}; use ll.Stack for a new dim"
        )
    axis = names.index(dim)
    blocks = tuple(getattr(op, side + "size")[axis] for op in ops)
    return names, (*size[:axis], sum(blocks), *size[axis + 1 :]), axis, blocks


def _block_tags(ops, tags, iaxis, oaxis):
    """diag(A, B) is hermitian / psd / pd / unitary when every block is (``tags``: the blocks' tags).

    Only when inputs and outputs are laid out alike (same joined axis, every block ``isize ==
    osize``): the matrix is then ``P diag(A, B) Pᵀ`` for one permutation ``P``; names do not matter.
    """
    if iaxis is None or oaxis is None or iaxis != oaxis or any(op.isize != op.osize for op in ops):
        return ()
    common = functools.reduce(lambda a, b: a & b, (set(t) for t in tags))
    return tuple(t for t in ("hermitian", "psd", "pd", "unitary") if t in common)


def _pick(blocks, s):
    """Blocks meeting the slice ``s``: ``[(k, local slice, abs start, abs stop)]``."""
    out, off = [], 0
    lo, hi = s.start or 0, sum(blocks) if s.stop is None else s.stop
    for k, n in enumerate(blocks):
        a, b = max(lo, off), min(hi, off + n)
        if a < b:
            out.append((k, slice(a - off, b - off), a, b))
        off += n
    return out


class Concat(LinearOperator):
    """Blocks joined along named dims: ``odim`` stacks outputs, ``idim`` splits the input
    and sums the results, both give a block-diagonal operator.

    ``Concat(A, B, odim="M")`` is ``[A; B]`` (``y = cat(A x, B x)`` along ``M``);
    ``Concat(A, B, idim="N")`` is ``[A  B]`` (``y = A x₁ + B x₂``); with both,
    ``diag(A, B)``. Blocks run in the promoted dtype; apply costs the blocks' applies.
    Block-diagonal operators invert, normalise and take diagonals blockwise.

    Parameters
    ----------
    *ops : LinearOperator
        The blocks, on one device. Their names must agree; sizes may differ only along the joined dims.
    idim : str, optional
        Input dim, present in every block, along which the input is split (results summed).
    odim : str, optional
        Output dim, present in every block, along which the outputs are concatenated.

    Raises
    ------
    ValueError
        Neither ``idim`` nor ``odim`` is given, or no block.
    TypeError
        A block is not a LinearOperator.
    ShapeError
        The blocks' named shapes do not fit together, or ``idim``/``odim`` is not one existing dim name.
    DeviceError
        The blocks are on different devices.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A, B = ll.Dense(torch.ones(2, 3)), ll.Dense(2 * torch.ones(1, 3))
    >>> V = ll.Concat(A, B.rename(oshape=A.oshape), odim=A.oshape[0])
    >>> V(torch.ones(3)).tolist()
    [3.0, 3.0, 6.0]

    Dense equivalent: ``torch.cat`` of the blocks (``torch.block_diag`` for both dims).
    """

    _new_dims = False

    def __init__(self, *ops, idim=None, odim=None):
        who = type(self).__name__
        check_ops(ops, who)
        idim, odim = _one_name(idim, who, "idim"), _one_name(odim, who, "odim")
        if idim is None and odim is None:
            raise ValueError(
                f"{who}: give odim (outputs stacked), idim (input split, results summed) or both (block-diagonal)"
            )
        new = self._new_dims
        ishape, isize, iaxis, iblocks = _side(ops, "i", idim, new, who)
        oshape, osize, oaxis, oblocks = _side(ops, "o", odim, new, who)
        for op in ops[1:]:
            if op.device != ops[0].device:
                raise DeviceError(
                    f"{who}: blocks on {ops[0].device} and {op.device}; move them to one device with .to()"
                )
        super().__init__(
            ishape=ishape,
            oshape=oshape,
            isize=isize,
            osize=osize,
            dtype=promote_all(ops),
            device=ops[0].device,
            tags=_block_tags(ops, [op._tags for op in ops], iaxis, oaxis),  # structural only: see _lazy_tags
        )
        self.ops = tuple(ops)
        self.idim, self.odim = idim, odim
        self.iaxis, self.oaxis = iaxis, oaxis
        self.iblocks, self.oblocks = iblocks, oblocks

    def _lazy_tags(self):
        return lazy_tags(self, lambda: _block_tags(self.ops, [op.tags for op in self.ops], self.iaxis, self.oaxis))

    def _like(self, ops, idim, odim):
        # names as 1-tuples: a stored name such as "H·W" (torch.cat's joined name) is one dim, not a spec to parse
        return type(self)(*ops, idim=None if idim is None else (idim,), odim=None if odim is None else (odim,))

    def _chunks(self, x):
        ax = self.iaxis - len(self.isize)
        return x.unbind(ax) if self._new_dims else x.split(self.iblocks, dim=ax)

    def _join(self, ys):
        if self.odim is None:
            return functools.reduce(torch.add, ys)
        ax = self.oaxis - len(self.osize)
        return torch.stack(ys, ax) if self._new_dims else torch.cat(ys, ax)

    def _apply(self, x):
        if self.idim is None:
            return self._join([op._apply(x) for op in self.ops])
        return self._join([op._apply(xk) for op, xk in zip(self.ops, self._chunks(x))])

    def _apply_adjoint(self, y):
        return self.H._apply(y)

    def _adjoint(self):
        return self._like(
            [op.H for op in self.ops], self.odim, self.idim
        )  # [A; B]ᴴ = [Aᴴ  Bᴴ], diag(A, B)ᴴ = diag(Aᴴ, Bᴴ)

    def _conj(self):
        return self._like([op.conj() for op in self.ops], self.idim, self.odim)

    def _normal(self):
        if self.idim is not None and self.odim is not None:
            return self._like(
                [op.N for op in self.ops], self.idim, self.idim
            )  # diag(A, B)ᴴ diag(A, B) = diag(AᴴA, BᴴB)
        if self.idim is None:
            return functools.reduce(add, [op.N for op in self.ops])  # [A; B]ᴴ [A; B] = AᴴA + BᴴB
        return super()._normal()

    def _inverse(self):
        if self.idim is None or self.odim is None:
            return None
        invs = [op._inverse() for op in self.ops]
        if any(i is None for i in invs):
            return None
        return self._like(invs, self.odim, self.idim)  # diag(A, B)⁻¹ = diag(A⁻¹, B⁻¹)

    def _diagonal(self):
        if self.idim is None or self.idim != self.odim or self.iaxis != self.oaxis:
            return None
        if any(op.ishape != op.oshape or op.isize != op.osize for op in self.ops):
            return None
        ds = [op._diagonal() for op in self.ops]
        if any(d is None for d in ds):
            return None
        ds = [d.to(self.dtype).reshape(op.osize) for d, op in zip(ds, self.ops)]  # diag(diag(A, B)) = (diag A, diag B)
        return (torch.stack(ds, self.iaxis) if self._new_dims else torch.cat(ds, self.iaxis)).reshape(-1)

    def _renamed(self, ishape, oshape):
        cut = 1 if self._new_dims else 0
        idim = None if self.idim is None else ishape[self.iaxis]
        odim = None if self.odim is None else oshape[self.oaxis]
        ish = ishape[cut:] if self.idim is not None else ishape
        osh = oshape[cut:] if self.odim is not None else oshape
        return self._like([op.rename(ish, osh) for op in self.ops], idim, odim)

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self  # a tile naming none of its dims: the whole operator (no block is asked to cut)
        rest = {k: v for k, v in tile.items() if k not in (self.idim, self.odim)}
        M, N = sum(self.oblocks or (0,)), sum(self.iblocks or (0,))
        rs = tile.get(self.odim, slice(0, M)) if self.odim else None
        cs = tile.get(self.idim, slice(0, N)) if self.idim else None
        rows = {k: (loc, a, b) for k, loc, a, b in _pick(self.oblocks, rs)} if rs else None
        cols = {k: (loc, a, b) for k, loc, a, b in _pick(self.iblocks, cs)} if cs else None
        keep = [k for k in range(len(self.ops)) if (rows is None or k in rows) and (cols is None or k in cols)]
        parts = []
        for k in keep:
            sub = dict(rest)
            if not self._new_dims:  # a block is cut only where the tile cuts it (blocks may refuse any cut)
                if rows is not None and rows[k][0] != slice(0, self.oblocks[k]):
                    sub[self.odim] = rows[k][0]
                if cols is not None and cols[k][0] != slice(0, self.iblocks[k]):
                    sub[self.idim] = cols[k][0]
            parts.append(self.ops[k]._split(sub))
        if not parts:
            probe = self._like([op._split(rest) for op in self.ops], self.idim, self.odim)
            isize = [cs.stop - cs.start if n == self.idim else s for n, s in zip(probe.ishape, probe.isize)]
            osize = [rs.stop - rs.start if n == self.odim else s for n, s in zip(probe.oshape, probe.osize)]
            return Zero(isize, osize, probe.ishape, probe.oshape, dtype=self.dtype, device=self.device)
        inner = self._like(parts, self.idim, self.odim)
        out = inner
        if rows is not None and cols is not None:  # block-diagonal: zero rows/columns of blocks cut on one side
            r0, r1 = rows[keep[0]][1], rows[keep[-1]][2]
            c0, c1 = cols[keep[0]][1], cols[keep[-1]][2]
            ow = tuple((r0 - rs.start, rs.stop - r1) if n == self.odim else (0, 0) for n in inner.oshape)
            iw = tuple((cs.start - c0, c1 - cs.stop) if n == self.idim else (0, 0) for n in inner.ishape)
            if any(w != (0, 0) for w in iw):  # columns outside the kept blocks: crop them away first
                big = [s - b - a for s, (b, a) in zip(inner.isize, iw)]
                crop = make_window(big, iw, inner.ishape, inner.ishape, self.dtype, self.device)
                out = compose(out, crop)
            if any(w != (0, 0) for w in ow):
                pad = make_window(inner.osize, ow, inner.oshape, inner.oshape, self.dtype, self.device)
                out = compose(pad, out)
        return out if out.dtype == self.dtype else out._to(dtype=self.dtype)  # a lone block keeps the promoted dtype

    def _to_dense(self):
        # [A; B] = cat of denses (rows), [A B] (columns), diag(A, B) = block_diag — when the stacked
        # dims lead (row blocks are contiguous); otherwise by applying to the identity

        if (self.idim is not None and self.iaxis != 0) or (self.odim is not None and self.oaxis != 0):
            return super()._to_dense()
        dense = dense_children(self.ops, self.dtype)
        if dense is None:
            return super()._to_dense()
        if self.idim is not None and self.odim is not None:
            return torch.block_diag(*dense)
        return torch.cat(dense, 0 if self.odim is not None else 1)

    def _repr_extra(self):
        if self.idim is not None and self.odim is not None:
            return f"block-diagonal {self.idim}→{self.odim}"
        return f"along input {self.idim}" if self.idim else f"along output {self.odim}"


class Stack(Concat):
    """Blocks joined along a *new* leading named dim: ``odim`` stacks outputs
    (``y[k] = Aₖ x``), ``idim`` splits the input (``y = Σₖ Aₖ x[k]``), both give a
    batched block-diagonal operator (``y[k] = Aₖ x[k]``). All blocks share one shape.

    Parameters
    ----------
    *ops : LinearOperator
        The blocks, on one device. All blocks share one named shape.
    idim : str, optional
        New leading input dim, of size ``len(ops)``, whose slices feed the blocks (results summed).
    odim : str, optional
        New leading output dim, of size ``len(ops)``, along which the outputs are stacked.

    Raises
    ------
    ValueError
        Neither ``idim`` nor ``odim`` is given, or no block.
    TypeError
        A block is not a LinearOperator.
    ShapeError
        The blocks' named shapes do not fit together, or ``idim``/``odim`` is not one new dim name.
    DeviceError
        The blocks are on different devices.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D1, D2 = ll.Diagonal(torch.ones(3), "N"), ll.Diagonal(2 * torch.ones(3), "N")
    >>> S = ll.Stack(D1, D2, idim="B", odim="B")
    >>> S(torch.ones(2, 3)).tolist(), S.ishape
    ([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], ('B', 'N'))

    Dense equivalent: ``torch.block_diag`` (both dims) or ``torch.cat`` of the blocks.
    """

    _new_dims = True

    def __init__(self, *ops, idim=None, odim=None):
        super().__init__(*ops, idim=idim, odim=odim)
