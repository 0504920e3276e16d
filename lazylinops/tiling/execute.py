"""Running the tiles of a ``Tiled`` operator: concurrently on CUDA devices, in order on CPU.

A tile on a CUDA device other than the input's is *launched*: its input moves on that
device's copy stream, it computes on the device's compute stream, its output moves back
on the copy stream, each stage ordered by CUDA events — the host never waits inside a
tile. Tiles on the input's device (or on the CPU) run in place meanwhile. Results are then
*collected* in tile order: the base stream waits on each tile's last event (a CUDA base)
or the host does (a CPU base, which must read the data). On a CPU-only machine there is
nothing to launch, so the same code runs every tile in order.

Examples
--------
>>> import torch
>>> from lazylinops.tiling.execute import Step, run
>>> steps = [Step(None, lambda x: 2 * x, None, (Ellipsis, slice(0, 2)), (Ellipsis, slice(0, 2)), torch.device("cpu"))]
>>> run(steps, torch.ones(2), (2,), torch.float32).tolist()
[2.0, 2.0]
"""

from dataclasses import dataclass, field

import torch

_STREAMS = {}  # device -> (copy stream, compute stream), created once per device


def streams(device):
    """The (copy, compute) CUDA streams of ``device`` (one pair per device per process)."""
    pair = _STREAMS.get(device)
    if pair is None:
        pair = _STREAMS[device] = (torch.cuda.Stream(device), torch.cuda.Stream(device))
    return pair


@dataclass(frozen=True)
class Step:
    """One tile's work: ``post(fn(pre(x[iidx])))`` is added into ``out[oidx]``."""

    pre: object  # move to the tile's device (None: already there)
    fn: object  # the tile's apply
    post: object  # move back to the base device (None: already there)
    iidx: tuple  # index of the tile's input block (Ellipsis first: batch dims lead)
    oidx: tuple  # index of its output block
    device: torch.device
    block: tuple = field(init=False, repr=False, compare=False)  # oidx as hashable (start, stop) pairs

    def __post_init__(self):
        object.__setattr__(self, "block", tuple((s.start, s.stop) for s in self.oidx[1:]))


def _settle(t, src):
    """A CUDA→CPU move may be asynchronous: wait for it before the host reads ``t``."""
    if src.type == "cuda" and t.device.type == "cpu":
        torch.cuda.current_stream(src).synchronize()
    return t


def _launch(step, x, ready):
    """Enqueue one tile on its device's streams; returns (output on the base device, event)."""
    copy, compute = streams(step.device)
    xin = x[step.iidx]
    with torch.cuda.stream(copy):
        if ready is not None:
            copy.wait_event(ready)
        xd = step.pre(xin) if step.pre is not None else xin
        moved = copy.record_event()
    compute.wait_event(moved)
    with torch.cuda.stream(compute):
        if xd.device == step.device:
            xd.record_stream(compute)  # allocated on the copy stream, read on the compute stream
        yd = step.fn(xd)
        done = compute.record_event()
    copy.wait_event(done)
    with torch.cuda.stream(copy):
        yd.record_stream(copy)
        y = step.post(yd) if step.post is not None else yd
        back = copy.record_event()
    return y, back


def _covers(idx, size):
    """True when the block index ``(..., a:b, …)`` is the whole of ``size``."""
    return all(s.start == 0 and s.stop == n for s, n in zip(idx[1:], size))


def _alone(steps, x, osize, dtype):
    """The output of a lone step that takes all of ``x`` and gives all of the output here, else None."""
    (s,) = steps
    if s.pre is not None or s.post is not None or s.device != x.device:
        return None
    if not (_covers(s.oidx, osize) and _covers(s.iidx, x.shape[x.dim() - len(s.iidx) + 1 :])):
        return None
    y = s.fn(x)  # the tile is the whole operator: its output is the result, no gather pass
    return y if y.dtype == dtype else y.to(dtype)


def run(steps, x, osize, dtype):
    """Apply every step to ``x`` (``(*batch, *isize)``) into a new ``(*batch, *osize)`` tensor."""
    if len(steps) == 1:
        y = _alone(steps, x, osize, dtype)
        if y is not None:
            return y
    base = x.device
    nb = x.dim() - len(steps[0].iidx) + 1
    out = torch.empty(*x.shape[:nb], *osize, dtype=dtype, device=base)
    written = set()

    def write(step, y):
        if step.block in written:
            out[step.oidx] += y  # a reduced dim: tiles add up
        else:
            out[step.oidx] = y  # a split dim: the tile's block of the output
            written.add(step.block)

    launched = []
    remote = [s for s in steps if s.device.type == "cuda" and s.device != base]
    if remote:
        ready = torch.cuda.current_stream(base).record_event() if base.type == "cuda" else None
        launched = [(s, _launch(s, x, ready)) for s in remote]
    for s in steps:
        if s.device.type == "cuda" and s.device != base:
            continue
        xin = x[s.iidx]
        xd = _settle(s.pre(xin), base) if s.pre is not None else xin
        yd = s.fn(xd)
        write(s, _settle(s.post(yd), yd.device) if s.post is not None else yd)
    for s, (y, back) in launched:
        if base.type == "cuda":
            current = torch.cuda.current_stream(base)
            current.wait_event(back)
            y.record_stream(current)
        else:
            back.synchronize()  # the host reads a CPU output: the one wait per tile, at the end
        write(s, y)
    return out
