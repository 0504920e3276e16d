"""Past one machine: the tiles of an operator shared out over ``torch.distributed`` ranks.

Every rank builds the same operator and calls ``shard`` on it; each keeps only its own
tiles (a contiguous block of the tile grid). An apply computes the local tiles and
combines them with one collective chosen by the reassembly: tiles with disjoint output
blocks (split dims, ``Concat``) are exchanged with ``all_gather``; tiles that add up
(reduced dims, ``Sum``) or a mix of both are combined with ``all_reduce``. Every rank ends
with the whole output, so the operator is collective-consistent: any solver that calls it
the same number of times on every rank (a Krylov loop on identical data does) works.
The backend is the process group's: gloo on CPUs, NCCL on GPUs.

Faults: before its data collective every apply runs one small agreement (an ``all_gather``
of a few integers per rank: an error flag, the dtype, the batch shape and the tile layout).
A rank whose own work raised (a wrong input, an error inside a tile) still joins it and then
re-raises its error; every other rank raises ``DistributedError`` naming it and its message,
and the group stays usable. Ranks that disagree on dtype or batch shape all raise
``DistributedError`` listing each rank's input, before any data moves. Every collective waits
at most ``timeout`` seconds (default 60): a rank that died or never called the apply makes the
others raise ``DistributedError`` then, not after the process group's 30 minutes.

Examples
--------
>>> import lazylinops as ll
>>> ll.tiling.distributed.is_ready()
False
"""

import datetime
import numbers
import zlib

import torch
import torch.distributed as dist

from ..core.base import LinearOperator
from ..dims import prod
from ..dtypes import as_device, promote
from ..errors import DistributedError
from .distribute import WeightMover, region
from .spec import BatchSpec
from .split import split
from .tiled import describe_block


def is_ready():
    """True inside an initialised ``torch.distributed`` process group."""
    return dist.is_available() and dist.is_initialized()


def _real(t):
    return torch.view_as_real(t) if t.is_complex() else t


def _index(region):
    return (Ellipsis, *(slice(a, b) for a, b in region))


DEFAULT_TIMEOUT = 60.0  # seconds a sharded apply's collective waits for the other ranks
_DTYPES = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex32,
    torch.complex64,
    torch.complex128,
)
_MAX_BATCH = 8  # batch dims sent verbatim in the agreement (all of them enter its checksum)
_HEADER = 6 + _MAX_BATCH  # status, adjoint, dtype, layout, number of batch dims, batch checksum, dims
_MESSAGE_BYTES = 1024  # an error message sent to the other ranks (only when a rank failed)


def _seconds(timeout):
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(
            f"shard: timeout must be a positive number of seconds (or a datetime.timedelta), got {timeout!r}; "
            "e.g. timeout=60"
        )
    return float(timeout)


def _crc(value):
    return zlib.crc32(repr(value).encode())


class Sharded(LinearOperator):
    """Tiles of one operator spread over the ranks of a process group (built by ``shard``).

    ``tiles[k]`` is the tile on this rank, or ``None`` when rank ``owners[k]`` holds it.
    Apply: local tiles, one small agreement ``all_gather`` (every rank healthy, same dtype,
    batch shape and operator?), then one ``all_gather`` (disjoint output blocks) or one
    ``all_reduce`` (blocks that add up). A failure on any rank raises on every rank
    (``DistributedError`` on the others); each collective waits at most ``timeout`` seconds.
    ``.H`` and ``.N`` stay sharded. Gradients do not flow through the collectives.

    Parameters
    ----------
    tiles : sequence of LinearOperator or None
        Every tile of the grid, in order: the operator on this rank, None on the others.
    iregions : sequence
        Per tile, the ``(start, stop)`` per input dim of the block of the input it reads.
    oregions : sequence
        Per tile, the ``(start, stop)`` per output dim of the block of the output it gives.
    owners : sequence of int
        Per tile, the rank (in ``group``) that holds it.
    ishape : str or tuple of str
        Input dim names of the whole operator.
    oshape : str or tuple of str
        Output dim names of the whole operator.
    isize : tuple of int
        Input sizes of the whole operator.
    osize : tuple of int
        Output sizes of the whole operator.
    dtype : torch.dtype
        Dtype of the whole operator.
    device : torch.device or str
        This rank's device (inputs, outputs and its tiles).
    group : torch.distributed.ProcessGroup, optional
        The process group; the world when None.
    timeout : float or datetime.timedelta
        Longest wait of each collective, in seconds (positive).
    tags : iterable of str
        Structural tags of the whole operator.

    Raises
    ------
    ValueError
        ``timeout`` is not a positive number of seconds.

    """

    def __init__(
        self,
        tiles,
        iregions,
        oregions,
        owners,
        *,
        ishape,
        oshape,
        isize,
        osize,
        dtype,
        device,
        group=None,
        timeout=DEFAULT_TIMEOUT,
        tags=(),
    ):
        super().__init__(ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=dtype, device=device, tags=tags)
        self.tiles = tuple(tiles)
        self.iregions, self.oregions = tuple(iregions), tuple(oregions)
        self.owners = tuple(owners)
        self.group = group
        self.timeout = _seconds(timeout)
        self.layout_key = _crc((self.iregions, self.oregions, self.owners))  # ranks compare it: same operator?

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
            timeout=self.timeout,
            tags=tags,
        )

    # ------------------------------------------------------------------ faults
    def _wait(self, work, what):
        """Wait for an async collective at most ``self.timeout`` seconds; a failure is a ``DistributedError``."""
        try:
            work.wait(timeout=datetime.timedelta(seconds=self.timeout))
        except Exception as exc:
            raise DistributedError(
                f"Sharded apply on rank {dist.get_rank()}: the {what} did not complete within {self.timeout:g} s "
                f"({type(exc).__name__}: {exc}); another rank of the group died, is stuck, or did not make the "
                "same call (every rank must apply the sharded operator the same number of times). The process "
                "group is now out of step: destroy it (torch.distributed.destroy_process_group) and start again, "
                "or raise the timeout with ll.shard(..., timeout=seconds)"
            ) from exc

    def _ranks(self):
        """Global rank of every group rank (what error messages name)."""
        world = dist.get_world_size(self.group)
        return list(range(world)) if self.group is None else [dist.get_global_rank(self.group, r) for r in range(world)]

    def _header(self, x, adjoint, nb):
        batch = tuple(x.shape[:nb])
        passed = getattr(x, "_ll_passed_dtype", x.dtype)
        code = _DTYPES.index(passed) if passed in _DTYPES else -1
        dims = list(batch[:_MAX_BATCH]) + [-1] * (_MAX_BATCH - min(nb, _MAX_BATCH))
        return [0, int(adjoint), code, self.layout_key, nb, _crc(batch), *dims]

    def _agree(self, header, device, error=None):
        """One ``all_gather`` of every rank's header (``None`` with ``error``: this rank failed).

        Raises ``DistributedError`` on a healthy rank when any rank failed or the ranks differ
        (dtype, batch shape, adjoint or not, operator); a failed rank returns and raises its own error.
        """
        world = dist.get_world_size(self.group)
        if world == 1:
            return
        mine = torch.tensor(header if header is not None else [1] + [0] * (_HEADER - 1), dtype=torch.int64)
        mine = mine.to(device)
        parts = [torch.empty_like(mine) for _ in range(world)]
        self._wait(dist.all_gather(parts, mine, group=self.group, async_op=True), "agreement all_gather")
        rows = torch.stack(parts).tolist()
        ranks = self._ranks()
        failed = [r for r in range(world) if rows[r][0]]
        if failed:
            messages = self._messages(error, device, world)  # every rank knows a rank failed: one more collective
            if error is not None:
                return
            reasons = "; ".join(f"rank {ranks[r]}: {messages[r]}" for r in failed)
            raise DistributedError(
                f"Sharded apply: rank(s) {[ranks[r] for r in failed]} of the group failed ({reasons}); every rank "
                "raises so none waits for them. Fix the failing rank's input or operator; the process group is "
                "still usable",
                ranks=[ranks[r] for r in failed],
            )
        if any(row[1:] != rows[0][1:] for row in rows):
            layouts = {row[3] for row in rows}
            which = " and different sharded operators (tile layouts)" if len(layouts) > 1 else ""
            described = "; ".join(f"rank {ranks[r]}: {_describe(row)}" for r, row in enumerate(rows))
            differ = [ranks[r] for r, row in enumerate(rows) if row[1:] != rows[0][1:]]  # vs the first rank
            raise DistributedError(
                f"Sharded apply: the ranks made different calls{which} ({described}); a sharded apply needs the same "
                "call with the same input dtype and batch shape on every rank, or its collectives would mix "
                "mismatched buffers. Pass the same dtype and batch shape everywhere (e.g. x.to(dtype))",
                ranks=differ,
            )

    def _messages(self, error, device, world):
        """Every rank's error text (empty for healthy ranks): one fixed-size ``all_gather``."""
        text = "" if error is None else f"{type(error).__name__}: {error}"
        raw = text.encode()[:_MESSAGE_BYTES]
        mine = torch.zeros(_MESSAGE_BYTES, dtype=torch.uint8)
        if raw:
            mine[: len(raw)] = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        mine = mine.to(device)
        parts = [torch.empty_like(mine) for _ in range(world)]
        self._wait(dist.all_gather(parts, mine, group=self.group, async_op=True), "error-message all_gather")
        return [bytes(p.tolist()).rstrip(b"\0").decode(errors="replace") for p in parts]

    def _fail(self, error, device):
        """Join the apply's agreement as a failed rank, so the others raise too (then raise ``error``)."""
        try:
            self._agree(None, device, error)
        except DistributedError as exc:  # the agreement itself failed: say so on this rank's own error
            error.add_note(str(exc))

    def _prepare(self, x, size, what):
        try:
            out = super()._prepare(x, size, what)
        except Exception as exc:  # a rank with a bad input must still meet the others
            self._fail(exc, x.device if isinstance(x, torch.Tensor) else self.device)
            raise
        if out.dtype != x.dtype:
            out._ll_passed_dtype = x.dtype  # a fresh copy: the agreement compares the dtype each rank passed
        return out

    def _matmul_error(self, x, what):
        error = super()._matmul_error(x, what)
        self._fail(error, x.device)
        return error

    # ------------------------------------------------------------------ apply
    def _run(self, x, adjoint):
        ins, outs = (self.oregions, self.iregions) if adjoint else (self.iregions, self.oregions)
        osize = self.isize if adjoint else self.osize
        nb = x.dim() - len(ins[0])
        batch = x.shape[:nb]
        dtype = promote(self.dtype, x.dtype)
        try:
            local = []
            for k, T in enumerate(self.tiles):
                if T is not None:
                    y = (T._apply_adjoint if adjoint else T._apply)(x[_index(ins[k])])
                    local.append((k, y.to(dtype)))
        except Exception as exc:  # this rank's tiles failed: the others must not wait for its data
            self._fail(exc, x.device)
            raise
        self._agree(self._header(x, adjoint, nb), x.device)  # healthy and consistent everywhere, or raise
        if len(set(outs)) == len(outs):
            return self._gather(local, outs, batch, osize, dtype, x.device)
        out = torch.zeros(*batch, *osize, dtype=dtype, device=x.device)
        for k, y in local:
            out[_index(outs[k])] += y
        work = dist.all_reduce(_real(out), group=self.group, async_op=True)  # Σ over ranks of their tiles' blocks
        self._wait(work, "all_reduce")
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
        work = dist.all_gather(parts, _real(buf), group=self.group, async_op=True)  # every rank gets every block
        self._wait(work, "all_gather")
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
            self._tags,
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
            self._tags,
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

    def _repr_children(self):
        # every tile with its block and place: the ones held here as operators, the others by owner
        out = []
        for k, (T, ri, ro, r) in enumerate(zip(self.tiles, self.iregions, self.oregions, self.owners)):
            block = describe_block(self, ri, ro)
            if T is None:
                out.append((f"tile {k} {block} on rank {r} (not held here)", None))
            else:
                out.append((f"tile {k} {block} on {T.device} (rank {r}, here)", T))
        return out

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "Sharded operators hold one rank's tiles and a process group; shard the operator on "
            "each rank instead of pickling it"
        )


def _describe(row):
    """One rank's agreement header in words."""
    _, adjoint, code, _, nb, _, *dims = row
    dtype = _DTYPES[code] if 0 <= code < len(_DTYPES) else "a non-floating dtype"
    shown = ", ".join(map(str, dims[: min(nb, _MAX_BATCH)])) + (", …" if nb > _MAX_BATCH else "")
    shown = f"({shown},)" if nb == 1 else f"({shown})"
    return f"{'adjoint' if adjoint else 'apply'} of a {dtype} input with batch shape {shown}"


def shard(A, spec, *, group=None, device=None, timeout=DEFAULT_TIMEOUT):
    """``A`` with its tiles shared out over the ranks of ``group`` (default: the world).

    ``spec`` is a ``BatchSpec`` (its ``batch_sizes`` cut the grid; its devices are ignored:
    a rank's tiles live on ``device``) or a plain ``{dim: tile size}`` dict. Call it on every
    rank with the same ``A``. ``device`` defaults to this rank's current CUDA device under
    NCCL and to ``A.device`` otherwise. Rank ``r`` keeps tiles ``k`` with
    ``k * world // ntiles == r``; the others are dropped.

    Every collective of an apply waits at most ``timeout`` seconds (a number or a
    ``datetime.timedelta``; default 60) before raising ``ll.DistributedError`` on the ranks
    still waiting. Each apply first agrees on health and input (one small ``all_gather``): a
    rank that raises makes every other rank raise ``DistributedError`` at once, and ranks
    passing different dtypes or batch shapes all raise, naming each rank's input. The timeout
    also bounds how long the fastest rank waits for the slowest one's local tiles: keep it
    above the time one rank's share of an apply takes.

    Parameters
    ----------
    A : LinearOperator
        The operator, the same on every rank.
    spec : BatchSpec or dict
        The tile sizes, ``{dim name: tile size}`` (a BatchSpec's devices are ignored).
    group : torch.distributed.ProcessGroup, optional
        The process group; the world when None.
    device : torch.device or str, optional
        Where this rank's tiles, inputs and outputs live; the current CUDA device under NCCL,
        else ``A.device``, when None.
    timeout : float or datetime.timedelta
        Longest wait of each collective, in seconds (positive; 60 by default).

    Returns
    -------
    Sharded
        Equal to ``A`` on every rank; this rank holds only its own tiles.

    Raises
    ------
    RuntimeError
        ``torch.distributed`` is not initialised.
    TypeError
        ``A`` is not an operator.
    ValueError
        A bad ``timeout`` or tile size.
    ShapeError
        ``A`` cannot be split as asked (see ``ll.split``).

    Examples
    --------
    >>> import torch, torch.distributed as dist, lazylinops as ll
    >>> dist.init_process_group("gloo", ...)  # doctest: +SKIP
    >>> S = ll.shard(ll.Diagonal(torch.rand(8, 4), "CN"), {"C": 2})  # doctest: +SKIP
    >>> S(torch.ones(8, 4)).shape  # doctest: +SKIP
    torch.Size([8, 4])

    """
    timeout = _seconds(timeout)
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
        timeout=timeout,
        tags=A._tags,  # structural only: value-derived tags of A would go stale in a copy
    )
