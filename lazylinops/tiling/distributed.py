"""Past one machine: the tiles of an operator shared out over ``torch.distributed`` ranks.

Every rank builds the same operator and calls ``shard`` on it; each keeps only its own
tiles (a contiguous block of the tile grid). An apply computes the local tiles and
combines them with one collective chosen by the reassembly: tiles with disjoint output
blocks (split dims, ``Concat``) are exchanged with ``all_gather``; tiles that add up
(reduced dims, ``Sum``) or a mix of both are combined with ``all_reduce``. Every rank ends
with the whole output, so the operator is collective-consistent: any solver that calls it
the same number of times on every rank (a Krylov loop on identical data does) works.
The backend is the process group's: gloo on CPUs, NCCL on GPUs.

>>> import lazylinops as ll
>>> ll.tiling.distributed.is_ready()
False
"""

import torch
import torch.distributed as dist

from ..base import LinearOperator, as_device, promote
from ..dims import prod
from .distribute import WeightMover, region
from .spec import BatchSpec
from .split import split


def is_ready():
    """True inside an initialised ``torch.distributed`` process group."""
    return dist.is_available() and dist.is_initialized()


def _real(t):
    return torch.view_as_real(t) if t.is_complex() else t


def _index(region):
    return (Ellipsis, *(slice(a, b) for a, b in region))


class Sharded(LinearOperator):
    """Tiles of one operator spread over the ranks of a process group (built by ``shard``).

    ``tiles[k]`` is the tile on this rank, or ``None`` when rank ``owners[k]`` holds it.
    Apply: local tiles, then one ``all_gather`` (disjoint output blocks) or one
    ``all_reduce`` (blocks that add up). ``.H`` and ``.N`` stay sharded. Gradients do not
    flow through the collectives.
    """

    def __init__(
        self, tiles, iregions, oregions, owners, *, ishape, oshape, isize, osize, dtype, device, group=None, tags=()
    ):
        super().__init__(ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=dtype, device=device, tags=tags)
        self.tiles = tuple(tiles)
        self.iregions, self.oregions = tuple(iregions), tuple(oregions)
        self.owners = tuple(owners)
        self.group = group

    def _like(self, tiles, iregions, oregions, ishape, oshape, isize, osize, tags):
        dtypes = [t.dtype for t in tiles if t is not None] or [self.dtype]
        dtype = dtypes[0]
        for d in dtypes[1:]:
            dtype = promote(dtype, d)
        return Sharded(
            tiles,
            iregions,
            oregions,
            self.owners,
            ishape=ishape,
            oshape=oshape,
            isize=isize,
            osize=osize,
            dtype=dtype,
            device=self.device,
            group=self.group,
            tags=tags,
        )

    def _run(self, x, adjoint):
        ins, outs = (self.oregions, self.iregions) if adjoint else (self.iregions, self.oregions)
        osize = self.isize if adjoint else self.osize
        nb = x.dim() - len(ins[0])
        batch = x.shape[:nb]
        dtype = promote(self.dtype, x.dtype)
        local = []
        for k, T in enumerate(self.tiles):
            if T is not None:
                y = (T._apply_adjoint if adjoint else T._apply)(x[_index(ins[k])])
                local.append((k, y.to(dtype)))
        if len(set(outs)) == len(outs):
            return self._gather(local, outs, batch, osize, dtype, x.device)
        out = torch.zeros(*batch, *osize, dtype=dtype, device=x.device)
        for k, y in local:
            out[_index(outs[k])] += y
        dist.all_reduce(_real(out), group=self.group)  # Σ over ranks of their tiles' blocks
        return out

    def _gather(self, local, outs, batch, osize, dtype, device):
        # each rank's tile outputs flattened into one row per batch element, padded alike
        B = prod(batch)
        counts = [prod(b - a for a, b in r) for r in outs]
        per_rank = {}
        for k, owner in enumerate(self.owners):
            per_rank.setdefault(owner, []).append(k)
        world = dist.get_world_size(self.group)
        L = max([sum(counts[k] for k in per_rank.get(r, ())) for r in range(world)] + [1])
        buf = torch.zeros(B, L, dtype=dtype, device=device)
        offset = 0
        for k, y in local:
            buf[:, offset : offset + counts[k]] = y.reshape(B, counts[k])
            offset += counts[k]
        parts = [torch.empty_like(_real(buf)) for _ in range(world)]
        dist.all_gather(parts, _real(buf), group=self.group)  # every rank receives every block
        out = torch.empty(*batch, *osize, dtype=dtype, device=device)
        for r in range(world):
            got = torch.view_as_complex(parts[r]) if dtype.is_complex else parts[r]
            offset = 0
            for k in per_rank.get(r, ()):
                sub = tuple(b - a for a, b in outs[k])
                out[_index(outs[k])] = got[:, offset : offset + counts[k]].reshape(*batch, *sub)
                offset += counts[k]
        return out

    def _apply(self, x):
        return self._run(x, False)

    def _apply_adjoint(self, y):
        return self._run(y, True)

    def _adjoint(self):
        # Aᴴ = Σₖ Qₖ Aₖᴴ Pₖᵀ: the same owners, blocks swapped
        return self._like(
            [None if T is None else T.H for T in self.tiles],
            self.oregions,
            self.iregions,
            self.oshape,
            self.ishape,
            self.osize,
            self.isize,
            self.tags,
        )

    def _conj(self):
        return self._like(
            [None if T is None else T.conj() for T in self.tiles],
            self.iregions,
            self.oregions,
            self.ishape,
            self.oshape,
            self.isize,
            self.osize,
            self.tags,
        )

    def _normal(self):
        # disjoint output blocks: Aᴴ A = Σₖ Qₖ (Aₖᴴ Aₖ) Qₖᵀ — one collective per apply
        if len(set(self.oregions)) != len(self.oregions):
            return super()._normal()
        return self._like(
            [None if T is None else T.N for T in self.tiles],
            self.iregions,
            self.iregions,
            self.ishape,
            self.ishape,
            self.isize,
            self.isize,
            (),
        )

    def _repr_extra(self):
        mine = sum(T is not None for T in self.tiles)
        return f"{mine} of {len(self.tiles)} tiles on this rank"

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "Sharded operators hold one rank's tiles and a process group; shard the operator on "
            "each rank instead of pickling it"
        )


def shard(A, spec, *, group=None, device=None):
    """``A`` with its tiles shared out over the ranks of ``group`` (default: the world).

    ``spec`` is a ``BatchSpec`` (its ``batch_sizes`` cut the grid; its devices are ignored:
    a rank's tiles live on ``device``) or a plain ``{dim: tile size}`` dict. Call it on every
    rank with the same ``A``. ``device`` defaults to this rank's current CUDA device under
    NCCL and to ``A.device`` otherwise. Rank ``r`` keeps tiles ``k`` with
    ``k * world // ntiles == r``; the others are dropped.
    """
    if not is_ready():
        raise RuntimeError(
            "shard: torch.distributed is not initialised; call torch.distributed.init_process_group("
            "'gloo' or 'nccl', ...) on every rank first (or use ll.distribute on one machine)"
        )
    if not isinstance(A, LinearOperator):
        raise TypeError(f"shard: expected a LinearOperator, got {type(A).__name__}")
    batch_sizes = spec.batch_sizes if isinstance(spec, BatchSpec) else spec
    if device is None:
        nccl = dist.get_backend(group) == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else A.device
    device = as_device(device, "shard device")
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    tiles, ins, outs = split(A, batch_sizes)
    flat, n = list(tiles.reshape(-1)), tiles.size
    owners = [k * world // n for k in range(n)]
    mover = WeightMover()
    mine = [mover.move(T, device) if owners[k] == rank else None for k, T in enumerate(flat)]
    iregions = [region(sl, A.isize) for sl in ins.reshape(-1)]
    oregions = [region(sl, A.osize) for sl in outs.reshape(-1)]
    return Sharded(
        mine,
        iregions,
        oregions,
        owners,
        ishape=A.ishape,
        oshape=A.oshape,
        isize=A.isize,
        osize=A.osize,
        dtype=A.dtype,
        device=device,
        group=group,
        tags=A.tags,
    )
