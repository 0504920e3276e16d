"""Selection operators: ``Pad``, ``Crop`` (an adjoint pair), ``Mask`` and ``Sample``."""

import torch
import torch.nn.functional as F

from ..core.algebra import compose_rule
from ..core.base import LinearOperator, swapped
from ..core.basic import Identity, Zero
from ..dims import Dim, as_size, default_names, fmt_names, prod
from ..dtypes import as_device, promote
from ..errors import ShapeError
from .diagonal import Diagonal


def _pair(w, name, who):
    if w is None:
        return (0, 0)
    if isinstance(w, int) and not isinstance(w, bool):
        return (w, w)
    if isinstance(w, (tuple, list)) and len(w) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in w):
        return (int(w[0]), int(w[1]))
    raise ShapeError(f"{who}: width for dim {name!r} must be an int or a (before, after) pair of ints, got {w!r}")


def parse_widths(spec, names, who):
    """Per-dim ``(before, after)`` from ``{name: w}`` or a sequence aligned with ``names``."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ShapeError(f"{who}: dims {unknown} are not among the named dims {fmt_names(names)}")
        items = [spec.get(n) for n in names]
    elif isinstance(spec, (tuple, list)):
        if len(names) == 1 and len(spec) == 2 and all(isinstance(v, int) for v in spec):
            spec = [tuple(spec)]  # one dim: (before, after)
        if len(spec) != len(names):
            raise ShapeError(
                f"{who}: got {len(spec)} widths for the {len(names)} dims {fmt_names(names)}; "
                "pass one int or (before, after) per dim, or a dict {name: width}"
            )
        items = list(spec)
    elif isinstance(spec, int) and not isinstance(spec, bool):
        items = [spec] * len(names)  # the same width on every dim
    else:
        raise ShapeError(f"{who}: widths must be a dict {{name: width}} or a sequence, got {type(spec).__name__}")
    return tuple(_pair(w, n, who) for n, w in zip(names, items))


def _names(ioshape, n):
    names = Dim(ioshape)
    return default_names(n) if names is None else names


class Pad(LinearOperator):
    """Zero padding ``y = pad(x)`` of named dims; ``Pad(...).H`` is the matching ``Crop``.

    ``pad`` is ``{name: w}``, one entry per dim, or one int for every dim; each width is
    an int (both sides) or a ``(before, after)`` pair; negative widths crop, as in ``torch.nn.functional.pad``.
    The output keeps the input names unless ``oshape`` is given. ``Pad.N`` is the
    identity. O(n) apply.

    Parameters
    ----------
    size : int or tuple of int
        Input sizes.
    pad : int, dict or sequence
        Widths: ``{name: w}``, one ``w`` per dim, or one int for every dim; each ``w`` an int
        (both sides) or ``(before, after)``; negative widths crop.
    ioshape : str or tuple of str, optional
        Input dim names; positional names ``d0, d1, …`` when None.
    oshape : str or tuple of str, optional
        Output dim names; the input names when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ShapeError
        Unknown dim names, the wrong number of widths, or widths removing more than the size.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> P = ll.Pad((2, 3), {"W": (1, 2)}, "HW")
    >>> P(torch.ones(2, 3)).shape, type(P.N).__name__
    (torch.Size([2, 6]), 'Identity')

    Dense equivalent: ``torch.nn.functional.pad(x, (1, 2))`` on each input basis vector.
    """

    def __init__(self, size, pad, ioshape=None, oshape=None, dtype=None, device=None, *, _widths=None):
        size = as_size(size)
        names = _names(ioshape, len(size))
        who = type(self).__name__
        widths = _widths if _widths is not None else self._parse(pad, names, who)
        osize = [s + b + a for s, (b, a) in zip(size, widths)]
        if any(o < 0 for o in osize) or any(s + min(b, 0) + min(a, 0) < 0 for s, (b, a) in zip(size, widths)):
            raise ShapeError(f"{who}: widths {widths} remove more than the size {tuple(size)} of {fmt_names(names)}")
        oshape = names if oshape is None else Dim(oshape)
        super().__init__(ishape=names, oshape=oshape, isize=size, osize=osize, dtype=dtype, device=device)
        self.widths = widths

    @staticmethod
    def _parse(pad, names, who):
        return parse_widths(pad, names, who)

    def _crops(self):
        return all(b <= 0 and a <= 0 for b, a in self.widths)

    def _apply(self, x):
        return window(x, self.widths, self.isize)

    def _apply_adjoint(self, y):
        return window(y, tuple((-b, -a) for b, a in self.widths), self.osize)

    def _adjoint(self):
        return make_window(
            self.osize, tuple((-b, -a) for b, a in self.widths), self.oshape, self.ishape, self.dtype, self.device
        )  # Padᴴ = Crop of the same widths

    def _conj(self):
        return self

    def _normal(self):
        if all(b >= 0 and a >= 0 for b, a in self.widths):
            return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)  # Pᴴ P = I
        keep = torch.zeros(tuple(self.isize), dtype=torch.bool, device=self.device)
        keep[tuple(slice(max(-b, 0), s - max(-a, 0)) for s, (b, a) in zip(self.isize, self.widths))] = True
        return Mask(keep, self.ishape, dtype=self.dtype, device=self.device)  # Cᴴ C = diag(kept)

    def _diagonal(self):
        if self.isize != self.osize:
            return None
        # P[q, p] = 1 only where q = p + before in every dim: on the diagonal iff every before is 0
        # (equal sizes make every after 0 too, so the window is then the identity)
        fill = torch.ones if all(b == 0 for b, _ in self.widths) else torch.zeros
        return fill(self.shape[0], dtype=self.dtype, device=self.device)

    def _renamed(self, ishape, oshape):
        return make_window(self.isize, self.widths, ishape, oshape, self.dtype, self.device)

    def _split(self, tile):
        # block [o0:o1, i0:i1] of a window is again a window: input p ↦ output p + before
        widths, isize = [], []
        bad = [n for n, w in zip(self.ishape, self.widths) if w != (0, 0) and n in tile and n in self.oshape]
        if bad:
            raise ShapeError(
                f"{type(self).__name__} cannot be split along the padded/cropped dims {bad} named on "
                "both sides (not elementwise); give the output another name or split other dims"
            )
        for k, (s, (b, _)) in enumerate(zip(self.isize, self.widths)):
            i = tile.get(self.ishape[k], slice(0, s))
            o = tile.get(self.oshape[k], slice(0, self.osize[k]))
            i0, i1 = i.start or 0, s if i.stop is None else i.stop
            o0, o1 = o.start or 0, self.osize[k] if o.stop is None else o.stop
            nb = i0 + b - o0
            widths.append((nb, (o1 - o0) - (i1 - i0) - nb))
            isize.append(i1 - i0)
        return make_window(isize, tuple(widths), self.ishape, self.oshape, self.dtype, self.device)

    def _repr_extra(self):
        if self._crops():
            return "crop " + " ".join(f"{n}({-b}, {-a})" for n, (b, a) in zip(self.ishape, self.widths) if b or a)
        return "pad " + " ".join(f"{n}({b}, {a})" for n, (b, a) in zip(self.ishape, self.widths) if b or a)


class Crop(Pad):
    """Cropping ``y = x[..., b:n-a]`` of named dims; ``Crop(...).H`` is the matching ``Pad``.

    ``crop`` is ``{name: w}`` or one entry per dim, each an int (both sides) or a
    ``(before, after)`` pair of elements removed. ``Crop.N`` is a 0/1 ``Mask``. O(n) apply.

    Parameters
    ----------
    size : int or tuple of int
        Input sizes.
    crop : int, dict or sequence
        Non-negative widths removed: ``{name: w}``, one ``w`` per dim, or one int for every
        dim; each ``w`` an int (both sides) or ``(before, after)``.
    ioshape : str or tuple of str, optional
        Input dim names; positional names ``d0, d1, …`` when None.
    oshape : str or tuple of str, optional
        Output dim names; the input names when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ShapeError
        Unknown dim names, the wrong number of widths, negative widths, or widths removing
        more than the size.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> C = ll.Crop((4, 6), {"W": 1}, "HW")
    >>> C(torch.ones(4, 6)).shape, type(C.N).__name__
    (torch.Size([4, 4]), 'Mask')

    Dense equivalent: the rows of ``torch.eye(24)`` that are kept.
    """

    def __init__(self, size, crop, ioshape=None, oshape=None, dtype=None, device=None, *, _widths=None):
        super().__init__(size, crop, ioshape, oshape, dtype, device, _widths=_widths)

    @staticmethod
    def _parse(crop, names, who):
        widths = parse_widths(crop, names, who)
        if any(b < 0 or a < 0 for b, a in widths):
            raise ShapeError(f"{who}: crop widths must be non-negative, got {widths}; use Pad to add zeros")
        return tuple((-b, -a) for b, a in widths)


def make_window(isize, widths, ishape, oshape, dtype, device):
    """A ``Crop`` when every width removes, else a ``Pad`` (negative widths crop)."""
    cls = Crop if all(b <= 0 and a <= 0 for b, a in widths) and any(w != (0, 0) for w in widths) else Pad
    return cls(isize, None, ishape, oshape, dtype, device, _widths=tuple(widths))


def window(x, widths, size):
    """Pad (positive) or crop (negative) the trailing ``len(size)`` dims of ``x``."""
    if all(b <= 0 and a <= 0 for b, a in widths):
        return x[(Ellipsis, *(slice(-b, s + a) for s, (b, a) in zip(size, widths)))]
    flat = [v for b, a in reversed(widths) for v in (b, a)]
    return F.pad(x, flat)


def _as_mask(mask, who):
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{who}: mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return mask
    m = mask.detach()
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError(f"{who}: mask entries must be 0 or 1 (or a bool tensor); use Diagonal for general weights")
    return m != 0


class Mask(LinearOperator):
    """Elementwise 0/1 masking ``y = m ⊙ x`` (a Hermitian projector: ``Mᴴ = M = M.N``).

    ``mask`` is bool (or 0/1) and broadcasts to ``size`` like a ``Diagonal`` weight.
    Weightless in dtype: computes in its input's dtype (``dtype=`` sets the matrix dtype).

    Parameters
    ----------
    mask : torch.Tensor
        Bool (or 0/1-valued) mask broadcasting to ``size``.
    ioshape : str or tuple of str, optional
        Dim names of input and output; positional names when None.
    size : int or tuple of int, optional
        The named shape's sizes; ``mask.shape`` when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Where the mask (and the operator) is placed; ``mask``'s device when None.

    Raises
    ------
    TypeError
        ``mask`` is not a tensor.
    ValueError
        ``mask`` has entries other than 0 and 1.
    ShapeError
        ``mask`` does not broadcast to ``size``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> M = ll.Mask(torch.tensor([True, False, True]), "N")
    >>> M(torch.ones(3)).tolist(), M.N is M
    ([1.0, 0.0, 1.0], True)

    Dense equivalent: ``torch.diag(mask.expand(size).flatten().float())``.
    """

    def __init__(self, mask, ioshape=None, size=None, dtype=None, device=None):
        mask = _as_mask(mask, "Mask")
        size = mask.shape if size is None else as_size(size)
        try:
            ok = torch.broadcast_shapes(mask.shape, size) == size
        except RuntimeError:
            ok = False
        if not ok:
            raise ShapeError(f"Mask: mask of shape {tuple(mask.shape)} does not broadcast to size {tuple(size)}")
        if device is not None:
            mask = mask.to(as_device(device))
        super().__init__(
            ishape=ioshape,
            oshape=ioshape,
            isize=size,
            osize=size,
            dtype=dtype,
            device=mask.device,
            tags=("hermitian", "psd"),
        )
        self.mask = mask

    def _apply(self, x):
        return x * self.mask

    _apply_adjoint = _apply

    def _adjoint(self):
        return swapped(self, self)  # Mᴴ = M

    def _conj(self):
        return self

    def _normal(self):
        if self.ishape == self.oshape:
            return self  # Mᴴ M = M for a 0/1 mask
        return Mask(self.mask, self.ishape, self.isize, self.dtype, self.device)

    def _inverse(self):
        real = self.dtype.to_real() if self.dtype.is_complex else self.dtype
        w = torch.where(self.mask, 1.0, float("inf")).to(real)  # M⁻¹ = I where m = 1; a zero pivot (∞) elsewhere
        inv = Diagonal(w, self.oshape, size=self.osize)
        return inv if self.ishape == self.oshape else inv.rename(ishape=self.oshape, oshape=self.ishape)

    def _diagonal(self):
        return self.mask.expand(self.isize).reshape(-1).to(self.dtype)

    def _split(self, tile):
        if self.ishape != self.oshape and any(n in tile for n in (*self.ishape, *self.oshape)):
            # renamed: rows and columns are cut independently, not elementwise
            raise ShapeError("Mask with different input and output names cannot be split; rename it back first")
        m, off = self.mask, len(self.isize) - self.mask.dim()
        idx = [slice(None)] * m.dim()
        size = list(self.isize)
        for k, n in enumerate(self.ishape):
            s = tile.get(n)
            if s is not None:
                size[k] = len(range(*s.indices(self.isize[k])))
                if k >= off and m.shape[k - off] != 1:
                    idx[k - off] = s
        return Mask(m[tuple(idx)], self.ishape, size, self.dtype, self.device)

    def _repr_extra(self):
        return f"mask {tuple(self.mask.shape)}"


class Sample(LinearOperator):
    """Sampling ``y[..., k, ...] = x[..., indices[k], ...]`` over a contiguous run of named dims.

    ``indices`` is ``(K,)`` for one sampled dim or ``(K, D)`` (one multi-index per row)
    for ``D`` sampled dims ``dims`` (default: all). The adjoint scatters-adds, so repeated
    indices accumulate; ``Sample.N`` is the ``Diagonal`` of sample counts. O(K) apply.

    Parameters
    ----------
    indices : torch.Tensor
        Integer indices, ``(K,)`` for one sampled dim or ``(K, D)`` for ``D`` sampled dims.
    size : int or tuple of int
        Input sizes.
    ishape : str or tuple of str, optional
        Input dim names; positional names ``d0, d1, …`` when None.
    oshape : str or tuple of str, optional
        Output dim names: all of them, or one name for the points dim that replaces the
        sampled run; ``"K"`` for that dim when None.
    dims : str or tuple of str, optional
        The sampled dims, adjacent names of ``ishape``; all dims when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Where the indices (and the operator) are placed; ``indices``' device when None.

    Raises
    ------
    TypeError
        ``indices`` is not an integer tensor.
    ShapeError
        ``dims`` are unknown or not adjacent, or ``indices`` has the wrong shape.
    IndexError
        An index is out of range.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> S = ll.Sample(torch.tensor([[0, 1], [2, 2]]), (3, 3), "HW", oshape="K")
    >>> S(torch.arange(9.0).reshape(3, 3)).tolist()
    [1.0, 8.0]

    Dense equivalent: the rows ``torch.eye(n)[flat_indices]``.
    """

    def __init__(self, indices, size, ishape=None, oshape=None, *, dims=None, dtype=None, device=None, _flat=None):
        size = as_size(size)
        names = _names(ishape, len(size))
        if _flat is not None:
            flat, start, n = _flat
        else:
            flat, start, n = _flat_indices(indices, size, names, dims)
        if device is not None:
            flat = flat.to(as_device(device))
        osize = (*size[:start], flat.shape[0], *size[start + n :])
        oshape = Dim(oshape)
        if oshape is None:
            oshape = (*names[:start], "K", *names[start + n :])
        elif len(oshape) == 1 and len(osize) > 1:
            oshape = (*names[:start], oshape[0], *names[start + n :])
        super().__init__(ishape=names, oshape=oshape, isize=size, osize=osize, dtype=dtype, device=flat.device)
        self.flat_index = flat
        self.run = (start, n)

    def _new(self, index, ishape, oshape, isize):
        start, n = self.run
        return Sample(None, isize, ishape, oshape, dtype=self.dtype, _flat=(index, start, n))

    def _apply(self, x):
        start, n = self.run
        ax = x.dim() - len(self.isize) + start
        return x.flatten(ax, ax + n - 1).index_select(ax, self.flat_index)

    def _apply_adjoint(self, y):
        start, n = self.run
        ax = y.dim() - len(self.osize) + start  # the sample axis
        shape = list(y.shape)
        shape[ax] = prod(self.isize[start : start + n])
        x = torch.index_add(y.new_zeros(shape), ax, self.flat_index, y)  # scatter-add: repeated samples accumulate
        return x.reshape(*y.shape[:ax], *self.isize[start:])

    def _normal(self):
        start, n = self.run
        sub = self.isize[start : start + n]
        counts = torch.bincount(self.flat_index, minlength=prod(sub)).to(self.dtype)
        counts = counts.reshape(*sub, *[1] * (len(self.isize) - start - n))
        return Diagonal(counts, self.ishape, self.isize)  # Sᴴ S = diag(times each entry is sampled)

    def _renamed(self, ishape, oshape):
        return self._new(self.flat_index, ishape, oshape, self.isize)

    def _split(self, tile):
        start, n = self.run
        bad = [d for d in self.ishape[start : start + n] if d in tile]
        if bad:
            raise ShapeError(
                f"Sample cannot be split along the sampled input dims {bad}; split along the samples "
                f"{self.oshape[start]!r} instead"
            )
        index, isize = self.flat_index, list(self.isize)
        ks = tile.get(self.oshape[start])
        if ks is not None:
            index = index[ks]
        for k, name in enumerate(self.ishape):
            if name in tile and not start <= k < start + n:
                isize[k] = len(range(*tile[name].indices(self.isize[k])))
        return self._new(index, self.ishape, self.oshape, isize)

    def _repr_extra(self):
        return f"{self.flat_index.shape[0]} samples"


def _flat_indices(indices, size, names, dims):
    """Validate ``indices`` and flatten them over the sampled run of dims."""
    dims = names if dims is None else Dim(dims)
    unknown = [d for d in dims if d not in names]
    if unknown or not dims:
        raise ShapeError(f"Sample: dims {dims} must be a non-empty subset of the named dims {fmt_names(names, size)}")
    pos = sorted(names.index(d) for d in dims)
    start, n = pos[0], len(pos)
    if pos != list(range(start, start + n)):
        raise ShapeError(f"Sample: sampled dims {dims} must be adjacent in {fmt_names(names, size)}")
    sub = tuple(size[start : start + n])
    if (
        not isinstance(indices, torch.Tensor)
        or indices.dtype.is_floating_point
        or indices.dtype.is_complex
        or indices.dtype == torch.bool
    ):
        raise TypeError(f"Sample: indices must be an integer torch.Tensor of shape (K,) or (K, {n})")
    idx = indices.to(torch.long)
    if idx.dim() == 1 and n == 1:
        idx = idx[:, None]
    if idx.dim() != 2 or idx.shape[1] != n:
        raise ShapeError(
            f"Sample: indices of shape {tuple(indices.shape)} do not index the {n} dims "
            f"{fmt_names(names[start : start + n], sub)}; pass shape (K, {n})"
        )
    bound = torch.tensor(sub, dtype=torch.long, device=idx.device)
    if idx.numel() and bool(((idx < 0) | (idx >= bound)).any()):
        raise IndexError(f"Sample: indices out of range for {fmt_names(names[start : start + n], sub)}")
    strides = torch.tensor([prod(sub[k + 1 :]) for k in range(n)], dtype=torch.long, device=idx.device)
    return (idx * strides).sum(-1), start, n


def _kept(s, b, a):
    """The input positions ``[lo, hi)`` a window of widths ``(b, a)`` on size ``s`` keeps (empty as (0, 0))."""
    lo, hi = max(0, -b), min(s, s + a)
    return (lo, hi) if lo < hi else (0, 0)


def _merged_widths(L, R):
    """Widths of the single window equal to ``L R`` (two windows), or None when ``L R`` is not one window.

    Per dim, R maps input p to p + b_R and L maps that to p + b_R + b_L: one window of widths
    (b_R + b_L, a_R + a_L) moves entries the same way, and equals ``L R`` when it also keeps the
    same input positions (``Pad(1, 1) Crop(1, 1)`` zeroes the border: diag(0, 1, …, 1, 0) ≠ I).
    """
    widths = []
    for s, m, (bl, al), (br, ar) in zip(R.isize, R.osize, L.widths, R.widths):
        b, a = bl + br, al + ar
        lo, hi = _kept(s, br, ar)
        both = _kept(s, b, a)
        inner = (max(lo, -br + max(0, -bl)), min(hi, -br + min(m, m + al)))  # kept by R, then by L
        if (inner if inner[0] < inner[1] else (0, 0)) != both:
            return None
        widths.append((b, a))
    return tuple(widths)


@compose_rule(Pad, Pad)
def window_rule(L, R):
    # Pad(a) Pad(b) = Pad(a + b) when no entry dropped by one is kept by the other (Crop(w) Pad(w) = I,
    # but Pad(w) Crop(w) = diag(border zeroed) stays a chain)
    if L.ishape == R.oshape and L.isize == R.osize:
        widths = _merged_widths(L, R)
        if widths is None:
            return None
        dtype = promote(L.dtype, R.dtype)
        if any(_kept(s, b, a) == (0, 0) for s, (b, a) in zip(R.isize, widths)):
            return [Zero(R.isize, L.osize, R.ishape, L.oshape, dtype, R.device)]  # every entry dropped
        if all(w == (0, 0) for w in widths):
            return [Identity(R.isize, R.ishape, dtype=dtype, device=R.device)]
        return [make_window(R.isize, widths, R.ishape, L.oshape, dtype, R.device)]
    return None


@compose_rule(Mask, Mask)
def mask_rule(L, R):
    # M₁ M₂ = (m₁ ∧ m₂)
    if L.ishape == R.oshape and L.isize == R.osize:
        return [Mask(L.mask & R.mask, R.ishape, R.isize, promote(L.dtype, R.dtype), R.device)]  # m₁ ⊙ m₂ ⊙ x
    return None
