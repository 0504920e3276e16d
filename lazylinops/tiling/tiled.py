"""``Tiled``: one operator held as a grid of tiles on their devices, reassembled on apply.

``A = Σₖ Pₖ Aₖ Qₖᵀ`` where ``Qₖᵀ`` cuts tile ``k``'s input block and ``Pₖ`` writes its
output block: blocks along split dims are disjoint (what ``Concat`` does), blocks along
reduced dims coincide and add up (what ``Sum`` does). A tile on another device than the
base device is entered and left through ``ToDevice`` moves.
"""

import torch

from ..core.base import LinearOperator
from ..dtypes import as_device, promote
from ..errors import ShapeError
from ..operators.diagonal import Diagonal
from .execute import Step, run


def _bound(op, name):
    return None if op is None else getattr(op, name)


def _index(region):
    return (Ellipsis, *(slice(a, b) for a, b in region))


def _regions(regions, size, n, what):
    out = tuple(tuple((int(a), int(b)) for a, b in r) for r in regions)
    if len(out) != n:
        raise ShapeError(f"Tiled: {n} tiles but {len(out)} {what} regions")
    for r in out:
        if len(r) != len(size) or any(not 0 <= a <= b <= s for (a, b), s in zip(r, size)):
            raise ShapeError(f"Tiled: {what} region {r} does not fit the sizes {tuple(size)}")
    return out


class Tiled(LinearOperator):
    """Tiles of one operator on their devices, joined like ``Concat`` (split dims) and
    ``Sum`` (reduced dims); built by ``ll.distribute``.

    Apply runs every tile on its device (concurrently on CUDA streams, in order on CPU):
    cost Σ of the tiles' applies plus the moves of their blocks. ``to_dense`` builds each
    tile's block on its device and gathers the blocks on the base device. ``.H`` and ``.N``
    stay tiled; a normal whose tile normals are all diagonal and on the base device is one
    ``Diagonal`` tile (its apply is one pass, with no gather).

    Parameters
    ----------
    tiles : sequence of LinearOperator
        The tiles (at least one); the dtype is their promoted dtype.
    iregions : sequence
        Per tile, the ``(start, stop)`` per input dim of the block of the input it reads.
    oregions : sequence
        Per tile, the ``(start, stop)`` per output dim of the block of the output it adds to.
    ishape : str or tuple of str
        Input dim names of the whole operator.
    oshape : str or tuple of str
        Output dim names of the whole operator.
    isize : tuple of int
        Input sizes of the whole operator.
    osize : tuple of int
        Output sizes of the whole operator.
    device : torch.device or str, optional
        The base device (inputs and outputs); the first tile's device when None.
    moves_in : sequence of ToDevice or None, optional
        Per tile, the move of its input block from the base device to the tile's device (None:
        no move); no moves when None.
    moves_out : sequence of ToDevice or None, optional
        Per tile, the move of its output block back to the base device; no moves when None.
    tags : iterable of str
        Structural tags of the whole operator (``"hermitian"``, ``"psd"``, ``"pd"``, ``"unitary"``).

    Raises
    ------
    ValueError
        No tile.
    ShapeError
        A region does not fit the sizes, the counts of tiles and regions differ, or a tile's
        sizes differ from its regions'.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.Dense(torch.randn(6, 4), ishape="N", oshape="M")
    >>> T = ll.distribute(A, ll.BatchSpec({"M": 2}))
    >>> type(T).__name__, len(T.tiles), torch.allclose(T.to_dense(), A.to_dense())
    ('Tiled', 3, True)

    Dense equivalent: ``A.to_dense()`` of the operator it tiles.
    """

    def __init__(
        self,
        tiles,
        iregions,
        oregions,
        *,
        ishape,
        oshape,
        isize,
        osize,
        device=None,
        moves_in=None,
        moves_out=None,
        tags=(),
    ):
        tiles = tuple(tiles)
        n = len(tiles)
        if n == 0:
            raise ValueError("Tiled: needs at least one tile")
        iregions = _regions(iregions, isize, n, "input")
        oregions = _regions(oregions, osize, n, "output")
        for T, ri, ro in zip(tiles, iregions, oregions):
            if tuple(T.isize) != tuple(b - a for a, b in ri) or tuple(T.osize) != tuple(b - a for a, b in ro):
                raise ShapeError(
                    f"Tiled: tile {type(T).__name__} {tuple(T.osize)}←{tuple(T.isize)} does not fit its "
                    f"regions {ro}←{ri}"
                )
        dtype = tiles[0].dtype
        for T in tiles[1:]:
            dtype = promote(dtype, T.dtype)
        device = tiles[0].device if device is None else as_device(device)
        super().__init__(ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=dtype, device=device, tags=tags)
        self.tiles = tiles
        self.iregions, self.oregions = iregions, oregions
        self.moves_in = tuple(moves_in) if moves_in is not None else (None,) * n
        self.moves_out = tuple(moves_out) if moves_out is not None else (None,) * n

    @property
    def devices(self):
        """The device of every tile, in tile order."""
        return tuple(T.device for T in self.tiles)

    def _like(self, tiles, iregions, oregions, moves_in, moves_out, ishape, oshape, isize, osize, tags=None):
        return Tiled(
            tiles,
            iregions,
            oregions,
            ishape=ishape,
            oshape=oshape,
            isize=isize,
            osize=osize,
            device=self.device,
            moves_in=moves_in,
            moves_out=moves_out,
            tags=self.tags if tags is None else tags,
        )

    # ------------------------------------------------------------------ apply

    def _retiled(self, tiles):
        """The same block layout and moves with new tiles (adjoint-free maps: conj, casts …)."""
        return self._like(
            tiles,
            self.iregions,
            self.oregions,
            self.moves_in,
            self.moves_out,
            self.ishape,
            self.oshape,
            self.isize,
            self.osize,
        )

    def _steps(self, adjoint):
        key = "steps_adjoint" if adjoint else "steps"

        def build():
            steps = []
            for T, ri, ro, mi, mo in zip(self.tiles, self.iregions, self.oregions, self.moves_in, self.moves_out):
                if adjoint:  # moves are operators: test them against None, never for truth
                    pre, fn, post = _bound(mo, "_apply_adjoint"), T._apply_adjoint, _bound(mi, "_apply_adjoint")
                    ri, ro = ro, ri
                else:
                    pre, fn, post = _bound(mi, "_apply"), T._apply, _bound(mo, "_apply")
                steps.append(Step(pre, fn, post, _index(ri), _index(ro), T.device))
            return steps

        return self._memo(key, build)

    def _apply(self, x):
        return run(self._steps(False), x, self.osize, promote(self.dtype, x.dtype))

    def _apply_adjoint(self, y):
        return run(self._steps(True), y, self.isize, promote(self.dtype, y.dtype))

    # ------------------------------------------------------------------ structure
    def _adjoint(self):
        # Aᴴ = Σₖ Qₖ Aₖᴴ Pₖᵀ: tile adjoints with input and output blocks (and moves) swapped
        return self._like(
            [T.H for T in self.tiles],
            self.oregions,
            self.iregions,
            [m if m is None else m.H for m in self.moves_out],
            [m if m is None else m.H for m in self.moves_in],
            self.oshape,
            self.ishape,
            self.osize,
            self.isize,
        )

    def _conj(self):
        return self._retiled([T.conj() for T in self.tiles])

    def _normal(self):
        # disjoint output blocks: Aᴴ A = Σₖ Qₖ (Aₖᴴ Aₖ) Qₖᵀ, each tile's normal on its own device
        if len(set(self.oregions)) != len(self.oregions):
            return super()._normal()  # shared output blocks couple tiles: Aᴴ A as a chain of two tiled ops
        normals = [T.N for T in self.tiles]
        folded = self._folded(normals)
        if folded is not None:
            return folded
        back = [m if m is None else m.H for m in self.moves_in]
        return self._like(
            normals,
            self.iregions,
            self.iregions,
            self.moves_in,
            back,
            self.ishape,
            self.ishape,
            self.isize,
            self.isize,
            tags=(),
        )

    def _folded(self, normals):
        """The normal as one ``Diagonal`` tile when every tile's normal is diagonal and on this device.

        Σₖ Qₖ diag(wₖ) Qₖᵀ = diag(Σₖ Qₖ wₖ): one elementwise pass, where separate tiles would add a
        second pass gathering their blocks and bound no intermediate (a diagonal has none).
        Tiles on other devices stay distributed; so do broadcast weights (folding would grow them).
        """

        if len(normals) < 2 or any(m is not None for m in self.moves_in):
            return None
        for T, N in zip(self.tiles, normals):
            if T.device != self.device or type(N) is not Diagonal or N.weight.shape != N.isize:
                return None
        dtype = normals[0].dtype
        for N in normals[1:]:
            dtype = promote(dtype, N.dtype)
        w = torch.zeros(self.isize, dtype=dtype, device=self.device)
        for T, N, r in zip(self.tiles, normals, self.iregions):
            w[_index(r)] += N.weight  # overlapping input blocks add up
            T._fresh_cache().pop("N", None)  # the tile's own normal is no longer needed: hold w once
        whole = (tuple((0, n) for n in self.isize),)
        one = Diagonal(w, self.ishape)
        return self._like([one], whole, whole, None, None, self.ishape, self.ishape, self.isize, self.isize, tags=())

    def _to_dense(self):
        # block by block: each tile's dense block is built on its device, then gathered here
        D = torch.zeros(*self.osize, *self.isize, dtype=self.dtype, device=self.device)
        for T, ri, ro in zip(self.tiles, self.iregions, self.oregions):
            block = T.to_dense().to(self.device).reshape(*T.osize, *T.isize)
            D[(*(slice(a, b) for a, b in ro), *(slice(a, b) for a, b in ri))] += block
        return D.reshape(self.shape)

    def _to(self, device=None, dtype=None, non_blocking=False, copy=False):
        if device is None or as_device(device) == self.device:
            # a cast keeps every tile on its device
            tiles = [T._to(None, dtype, non_blocking, copy) for T in self.tiles]
            return self._retiled(tiles)
        # a move gathers every tile onto that device: no moves left
        tiles = [T._to(device, dtype, non_blocking, copy) for T in self.tiles]
        return Tiled(
            tiles,
            self.iregions,
            self.oregions,
            ishape=self.ishape,
            oshape=self.oshape,
            isize=self.isize,
            osize=self.osize,
            device=device,
            tags=self.tags,
        )

    # ------------------------------------------------------------------ display
    def _repr_extra(self):
        devs = sorted({str(d) for d in self.devices})
        return f"{len(self.tiles)} tiles on {', '.join(devs)}"

    def _repr_children(self):
        # each tile labelled with its block and device (its ToDevice moves are said, not shown)
        out = []
        for k, (T, ri, ro, mi) in enumerate(zip(self.tiles, self.iregions, self.oregions, self.moves_in)):
            move = f" (moved {self.device}⇄{T.device})" if mi is not None else ""
            out.append((f"tile {k} {describe_block(self, ri, ro)} on {T.device}{move}", T))
        return out


def describe_block(op, ri, ro):
    """A tile's block in words: the cut dims with their ranges (``C[1:2] N[0:4]``), or ``(whole)``."""
    parts = []
    for names, sizes, region in ((op.ishape, op.isize, ri), (op.oshape, op.osize, ro)):
        for d, s, (a, b) in zip(names, sizes, region):
            if (a, b) != (0, s):
                part = f"{d}[{a}:{b}]"
                if part not in parts:
                    parts.append(part)
    return " ".join(parts) if parts else "(whole)"
