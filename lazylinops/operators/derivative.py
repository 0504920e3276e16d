"""Finite differences: ``FirstDerivative``, ``SecondDerivative``, ``Laplacian``, ``Gradient``.

Stencils, edge rows and boundary rows equal PyLops 2.8's ``FirstDerivative``,
``SecondDerivative``, ``Laplacian`` and ``Gradient`` (rows a stencil cannot reach are zero).
Each stencil is a list of row segments ``(start, stop, {offset: coefficient})`` over the
rows ``range(n)[start:stop]``; apply slices, the adjoint scatters with zero padding — O(n)
per differentiated dim, no dense matrix, any number of leading batch dims.
"""

import torch
import torch.nn.functional as F

from ..core.base import LinearOperator
from ..dims import Dim, as_size, default_names
from ..dtypes import check_dtype
from ..errors import ShapeError

_KINDS = ("centered", "forward", "backward")

# PyLops 2.8 FirstDerivative (before division by the sampling step)
_FIRST = {
    "forward": [(0, -1, {0: -1.0, 1: 1.0})],
    "backward": [(1, None, {-1: -1.0, 0: 1.0})],
    3: [(1, -1, {-1: -0.5, 1: 0.5})],
    5: [(2, -2, {-2: 1 / 12, -1: -2 / 3, 1: 2 / 3, 2: -1 / 12})],
}
_FIRST_EDGE = {
    3: [(0, 1, {0: -1.0, 1: 1.0}), (-1, None, {-1: -1.0, 0: 1.0})],
    5: [
        (0, 1, {0: -1.0, 1: 1.0}),
        (1, 2, {-1: -0.5, 1: 0.5}),
        (-2, -1, {-1: -0.5, 1: 0.5}),
        (-1, None, {-1: -1.0, 0: 1.0}),
    ],
}
# PyLops 2.8 SecondDerivative (before division by the squared sampling step)
_SECOND = {
    "forward": [(0, -2, {0: 1.0, 1: -2.0, 2: 1.0})],
    "backward": [(2, None, {-2: 1.0, -1: -2.0, 0: 1.0})],
    "centered": [(1, -1, {-1: 1.0, 0: -2.0, 1: 1.0})],
}
_SECOND_EDGE = [(0, 1, {0: 1.0, 1: -2.0, 2: 1.0}), (-1, None, {-2: 1.0, -1: -2.0, 0: 1.0})]


def _check_kind(kind, who):
    if kind not in _KINDS:
        raise ValueError(f"{who}: kind must be one of {_KINDS}, got {kind!r}")
    return kind


def _check_sampling(s, who):
    if isinstance(s, bool) or not isinstance(s, (int, float)) or s == 0:
        raise ValueError(f"{who}: sampling must be a non-zero real number, got {s!r}")
    return float(s)


def first_stencil(kind, order, edge):
    """Row segments of PyLops' FirstDerivative (edge rows exist for centered stencils only)."""
    if kind != "centered":
        return _FIRST[kind]
    return _FIRST[order] + (_FIRST_EDGE[order] if edge else [])


def second_stencil(kind, edge):
    """Row segments of PyLops' SecondDerivative (edge rows exist for centered stencils only)."""
    return _SECOND[kind] + (_SECOND_EDGE if kind == "centered" and edge else [])


def resolve_segments(stencil, n, who, name):
    """Concrete ``(r0, r1, coeffs)`` sorted by row, checked to fit in ``n`` samples."""
    main = stencil[0][2]  # the interior stencil: fewer samples than its width would make a zero operator
    out = [] if n >= max(main) - min(main) + 1 else None
    for start, stop, coeffs in stencil if out is not None else ():
        r0, r1, _ = slice(start, stop).indices(n)
        if r1 <= r0:
            continue
        if r0 + min(coeffs) < 0 or r1 + max(coeffs) > n:
            out = None
            break
        out.append((r0, r1, coeffs))
    if out is None or any(a[1] > b[0] for a, b in zip(sorted(out), sorted(out)[1:])):
        width = max(max(c) for _, _, c in stencil) - min(min(c) for _, _, c in stencil) + 1
        raise ShapeError(
            f"{who}: dim {name!r} has {n} samples, too few for this stencil; it needs at least "
            f"{max(width, 2)} samples along the differentiated dim"
        )
    return sorted(out)


def stencil_apply(x, segments, n, scale):
    """``y[r] = scale·Σ c·x[r + off]`` on the last dim, zero on rows no segment covers."""
    pieces, row = [], 0
    for r0, r1, coeffs in segments:
        if r0 > row:
            pieces.append(x.new_zeros(*x.shape[:-1], r0 - row))
        term = None
        for off, c in coeffs.items():
            t = x[..., r0 + off : r1 + off] * (c * scale)
            term = t if term is None else term + t
        pieces.append(term)
        row = r1
    if row < n:
        pieces.append(x.new_zeros(*x.shape[:-1], n - row))
    return torch.cat(pieces, dim=-1)


def stencil_adjoint(y, segments, n, scale):
    """The adjoint of ``stencil_apply``: ``x[r + off] += scale·c·y[r]`` (real stencils)."""
    out = None
    for r0, r1, coeffs in segments:
        seg = y[..., r0:r1]
        for off, c in coeffs.items():
            t = F.pad(seg * (c * scale), (r0 + off, n - r1 - off))
            out = t if out is None else out + t
    return y.new_zeros(y.shape) if out is None else out


def _names(size, ioshape):
    names = Dim(ioshape)
    return default_names(len(size)) if names is None else names


def _axis(names, dim, who):
    """Index of one named dim (``None``: the last dim)."""
    if dim is None:
        if not names:
            raise ShapeError(f"{who}: needs at least one dim to differentiate")
        return len(names) - 1
    dims = Dim(dim)
    if len(dims) != 1 or dims[0] not in names:
        raise ShapeError(f"{who}: dim {dim!r} is not one of the named dims {names}; pass one name from ioshape")
    return names.index(dims[0])


def _axes(names, dims, who):
    """Indices of named dims (``None``: all dims)."""
    if dims is None:
        return tuple(range(len(names)))
    dims = Dim(dims)
    unknown = [d for d in dims if d not in names]
    if unknown or len(set(dims)) != len(dims) or not dims:
        raise ShapeError(f"{who}: dims {dims} must be distinct names among {names}")
    return tuple(names.index(d) for d in dims)


def _per_axis(value, n, default, who, what):
    if value is None:
        return (default,) * n
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{who}: {what} needs one value per differentiated dim ({n}), got {len(value)}")
    return value


def _along(x, axis, ndim, fn, *args):
    """``fn(v, *args)`` on the last dim after moving the named ``axis`` (of ``ndim`` trailing) there."""
    a = axis - ndim
    if a == -1:
        return fn(x, *args)
    return fn(x.movedim(a, -1), *args).movedim(-1, a)


def _split_other_dims(op, tile, axes, rebuild):
    """Cut along dims that are not differentiated (elementwise on both sides); refuse the others."""
    size = list(op.isize)
    for name, sl in tile.items():
        if name not in op.ishape:
            continue
        i = op.ishape.index(name)
        if i in axes:
            raise ShapeError(
                f"{type(op).__name__} cannot be split along {name!r}: it is a differentiated dim "
                "(rows couple neighbouring samples); split along the other dims"
            )
        size[i] = len(range(op.isize[i])[sl])
    return rebuild(tuple(size))


class _Derivative(LinearOperator):
    """Shared machinery: weightless, real stencils along named dims."""

    def _init(self, size, ioshape, dtype, device, who, oshape=None, osize=None):
        size = as_size(size)
        names = _names(size, ioshape)
        dtype = None if dtype is None else check_dtype(dtype, who)
        super().__init__(
            ishape=names,
            oshape=names if oshape is None else oshape,
            isize=size,
            osize=size if osize is None else osize,
            dtype=dtype,
            device=device,
        )
        return size, names

    def _conj(self):
        return self  # conj(D) = D for a real stencil

    def _params(self):
        return dict(dtype=self.dtype, device=self.device)


class FirstDerivative(_Derivative):
    """First derivative along one named dim by finite differences (PyLops 2.8 conventions).

    ``kind="centered"``: ``y[i] = (x[i+1] − x[i−1]) / (2Δ)`` (``order=3``) or
    ``(x[i−2]/12 − 2x[i−1]/3 + 2x[i+1]/3 − x[i+2]/12) / Δ`` (``order=5``); ``"forward"``:
    ``(x[i+1] − x[i]) / Δ`` (last row 0); ``"backward"``: ``(x[i] − x[i−1]) / Δ`` (first row 0).
    Rows the stencil cannot reach are 0, or with ``edge=True`` (centered only, as in PyLops)
    one-sided/reduced differences. ``dim=None`` is the last dim. O(n) apply.

    Parameters
    ----------
    size : int or tuple of int
        The signal's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of the signal; positional names ``d0, d1, …`` when None.
    dim : str, optional
        The differentiated dim, one name of ``ioshape``; the last dim when None.
    sampling : float
        Grid step ``Δ`` (non-zero).
    kind : {"centered", "forward", "backward"}
        The stencil.
    edge : bool
        Fill the rows a centered stencil cannot reach with one-sided/reduced differences
        (ignored by forward/backward stencils).
    order : {3, 5}
        Points of the centered stencil (ignored by forward/backward stencils).
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ValueError
        A bad ``kind``, ``order`` or ``sampling``.
    ShapeError
        ``dim`` is not a name of ``ioshape``, or the dim is too short for the stencil.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D = ll.FirstDerivative((5,), kind="forward")
    >>> D(torch.arange(5.0) ** 2).tolist()
    [1.0, 3.0, 5.0, 7.0, 0.0]

    Dense equivalent: ``pylops.FirstDerivative(dims, axis, sampling, kind, edge, order).todense()``.
    """

    def __init__(
        self,
        size,
        ioshape=None,
        dim=None,
        sampling=1.0,
        kind="centered",
        edge=False,
        order=3,
        *,
        dtype=None,
        device=None,
    ):
        who = "FirstDerivative"
        _check_kind(kind, who)
        if order not in (3, 5):
            raise ValueError(f"{who}: order must be 3 or 5 (centered stencils), got {order!r}")
        size, names = self._init(size, ioshape, dtype, device, who)
        self.axis = _axis(names, dim, who)
        self.sampling = _check_sampling(sampling, who)
        self.kind, self.edge, self.order = kind, bool(edge), int(order)
        self.segments = resolve_segments(
            first_stencil(kind, self.order, self.edge), size[self.axis], who, names[self.axis]
        )

    def _apply(self, x):
        n = self.isize[self.axis]
        return _along(x, self.axis, len(self.isize), stencil_apply, self.segments, n, 1 / self.sampling)

    def _apply_adjoint(self, y):
        n = self.isize[self.axis]
        return _along(y, self.axis, len(self.isize), stencil_adjoint, self.segments, n, 1 / self.sampling)

    def _split(self, tile):
        return _split_other_dims(
            self,
            tile,
            (self.axis,),
            lambda size: FirstDerivative(
                size,
                self.ishape,
                self.ishape[self.axis],
                self.sampling,
                self.kind,
                self.edge,
                self.order,
                **self._params(),
            ),
        )

    def _repr_extra(self):
        order = f" order={self.order}" if self.kind == "centered" else ""
        step = f" Δ={self.sampling:g}" if self.sampling != 1 else ""
        return f"d/d{self.ishape[self.axis]} {self.kind}{order}" + (" edge" if self.edge else "") + step


class SecondDerivative(_Derivative):
    """Second derivative along one named dim by finite differences (PyLops 2.8 conventions).

    ``kind="centered"``: ``y[i] = (x[i+1] − 2x[i] + x[i−1]) / Δ²`` (first and last rows 0, or
    with ``edge=True`` the one-sided ``x[0] − 2x[1] + x[2]``, ``x[−3] − 2x[−2] + x[−1]``);
    ``"forward"``: ``(x[i+2] − 2x[i+1] + x[i]) / Δ²``; ``"backward"``: ``(x[i] − 2x[i−1] + x[i−2]) / Δ²``.
    ``dim=None`` is the last dim. O(n) apply.

    Parameters
    ----------
    size : int or tuple of int
        The signal's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of the signal; positional names ``d0, d1, …`` when None.
    dim : str, optional
        The differentiated dim, one name of ``ioshape``; the last dim when None.
    sampling : float
        Grid step ``Δ`` (non-zero).
    kind : {"centered", "forward", "backward"}
        The stencil.
    edge : bool
        With ``kind="centered"``, fill the first and last rows with one-sided differences.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ValueError
        A bad ``kind`` or ``sampling``.
    ShapeError
        ``dim`` is not a name of ``ioshape``, or the dim is too short for the stencil.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D2 = ll.SecondDerivative((5,))
    >>> D2(torch.arange(5.0) ** 2).tolist()
    [0.0, 2.0, 2.0, 2.0, 0.0]

    Dense equivalent: ``pylops.SecondDerivative(dims, axis, sampling, kind, edge).todense()``.
    """

    def __init__(
        self, size, ioshape=None, dim=None, sampling=1.0, kind="centered", edge=False, *, dtype=None, device=None
    ):
        who = "SecondDerivative"
        _check_kind(kind, who)
        size, names = self._init(size, ioshape, dtype, device, who)
        self.axis = _axis(names, dim, who)
        self.sampling = _check_sampling(sampling, who)
        self.kind, self.edge = kind, bool(edge)
        self.segments = resolve_segments(second_stencil(kind, self.edge), size[self.axis], who, names[self.axis])

    def _scale(self):
        return 1 / self.sampling**2

    def _apply(self, x):
        n = self.isize[self.axis]
        return _along(x, self.axis, len(self.isize), stencil_apply, self.segments, n, self._scale())

    def _apply_adjoint(self, y):
        n = self.isize[self.axis]
        return _along(y, self.axis, len(self.isize), stencil_adjoint, self.segments, n, self._scale())

    def _split(self, tile):
        return _split_other_dims(
            self,
            tile,
            (self.axis,),
            lambda size: SecondDerivative(
                size, self.ishape, self.ishape[self.axis], self.sampling, self.kind, self.edge, **self._params()
            ),
        )

    def _repr_extra(self):
        return f"d²/d{self.ishape[self.axis]}² {self.kind}" + (" edge" if self.edge else "")


class Laplacian(_Derivative):
    """Weighted sum of second derivatives ``Σ_d w_d ∂²/∂d²`` over named dims (all by default).

    Each term is ``SecondDerivative(size, dim=d, sampling=Δ_d, kind=kind, edge=edge)``, as
    in PyLops 2.8's ``Laplacian`` (``weights`` and ``sampling`` default to ones). One
    deliberate difference: PyLops passes ``kind`` only to the first axis (later axes fall back
    to centered); here ``kind`` applies to every dim, as documented by both. O(n·len(dims)).

    Parameters
    ----------
    size : int or tuple of int
        The signal's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of the signal; positional names ``d0, d1, …`` when None.
    dims : str or tuple of str, optional
        Distinct names of ``ioshape`` to differentiate along; all dims when None.
    weights : float or sequence of float, optional
        ``w_d``, one per dim of ``dims`` (a number applies to all); ones when None.
    sampling : float or sequence of float, optional
        Grid steps ``Δ_d`` (non-zero), one per dim of ``dims`` (a number applies to all); ones
        when None.
    edge : bool
        With ``kind="centered"``, one-sided differences in each dim's first and last rows.
    kind : {"centered", "forward", "backward"}
        The stencil.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ValueError
        A bad ``kind`` or ``sampling``, or ``weights``/``sampling`` of the wrong length.
    ShapeError
        ``dims`` are not distinct names of ``ioshape``, or a dim is too short for the stencil.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> L = ll.Laplacian((4, 5), "HW")
    >>> x = torch.arange(4.0)[:, None] ** 2 + torch.arange(5.0) ** 2
    >>> L(x)[1:-1, 1:-1].tolist()
    [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]

    Dense equivalent: ``pylops.Laplacian(dims, axes, weights, sampling, edge, kind).todense()``.
    """

    def __init__(
        self,
        size,
        ioshape=None,
        dims=None,
        weights=None,
        sampling=None,
        edge=False,
        kind="centered",
        *,
        dtype=None,
        device=None,
    ):
        who = "Laplacian"
        _check_kind(kind, who)
        size, names = self._init(size, ioshape, dtype, device, who)
        self.axes = _axes(names, dims, who)
        n = len(self.axes)
        self.dim_weights = tuple(float(w) for w in _per_axis(weights, n, 1.0, who, "weights"))
        self.sampling = tuple(_check_sampling(s, who) for s in _per_axis(sampling, n, 1.0, who, "sampling"))
        self.kind, self.edge = kind, bool(edge)
        self.segments = tuple(
            resolve_segments(second_stencil(kind, self.edge), size[a], who, names[a]) for a in self.axes
        )

    def _terms(self, x, fn):
        nd = len(self.isize)
        out = None
        for a, seg, w, s in zip(self.axes, self.segments, self.dim_weights, self.sampling):
            t = _along(x, a, nd, fn, seg, self.isize[a], w / s**2)
            out = t if out is None else out + t
        return out

    def _apply(self, x):
        return self._terms(x, stencil_apply)

    def _apply_adjoint(self, y):
        return self._terms(y, stencil_adjoint)

    def _split(self, tile):
        dims = tuple(self.ishape[a] for a in self.axes)
        return _split_other_dims(
            self,
            tile,
            self.axes,
            lambda size: Laplacian(
                size, self.ishape, dims, self.dim_weights, self.sampling, self.edge, self.kind, **self._params()
            ),
        )

    def _repr_extra(self):
        dims = " ".join(self.ishape[a] for a in self.axes)
        return f"∇² over {dims} {self.kind}" + (" edge" if self.edge else "")


class Gradient(_Derivative):
    """The gradient: first derivatives along named dims stacked in a new leading output dim.

    ``y[g] = FirstDerivative(size, dim=dims[g], sampling=Δ_g, kind=kind, edge=edge)(x)``, the
    output named ``(gdim, *ioshape)`` of size ``(len(dims), *size)`` — PyLops 2.8's
    ``Gradient`` (its VStack of first derivatives, centered order 3). ``dims=None``: all dims.
    The adjoint sums the directional adjoints (a negative divergence). O(n·len(dims)).

    Parameters
    ----------
    size : int or tuple of int
        The signal's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of the signal; positional names ``d0, d1, …`` when None.
    dims : str or tuple of str, optional
        Distinct names of ``ioshape`` to differentiate along, in output order; all dims when None.
    sampling : float or sequence of float, optional
        Grid steps ``Δ_g`` (non-zero), one per dim of ``dims`` (a number applies to all); ones
        when None.
    edge : bool
        With ``kind="centered"``, one-sided differences in each dim's first and last rows.
    kind : {"centered", "forward", "backward"}
        The stencil.
    gdim : str
        Name of the new leading output dim that indexes the directions.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    ValueError
        A bad ``kind`` or ``sampling``.
    ShapeError
        ``dims`` are not distinct names of ``ioshape``, or ``gdim`` is not one new name.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> G = ll.Gradient((4, 5), "HW", kind="forward")
    >>> G.oshape, G(torch.ones(4, 5)).abs().sum().item()
    (('G', 'H', 'W'), 0.0)

    Dense equivalent: ``pylops.Gradient(dims, sampling, edge, kind).todense()``.
    """

    def __init__(
        self,
        size,
        ioshape=None,
        dims=None,
        sampling=None,
        edge=False,
        kind="centered",
        *,
        gdim="G",
        dtype=None,
        device=None,
    ):
        who = "Gradient"
        _check_kind(kind, who)
        size = as_size(size)
        names = _names(size, ioshape)
        axes = _axes(names, dims, who)
        gname = Dim(gdim)
        if len(gname) != 1 or gname[0] in names:
            raise ShapeError(f"Gradient: gdim {gdim!r} must be one new dim name not in {names}; pass gdim='…'")
        super().__init__(
            ishape=names,
            oshape=(gname[0], *names),
            isize=size,
            osize=(len(axes), *size),
            dtype=None if dtype is None else check_dtype(dtype, who),
            device=device,
        )
        self.axes = axes
        self.sampling = tuple(_check_sampling(s, who) for s in _per_axis(sampling, len(axes), 1.0, who, "sampling"))
        self.kind, self.edge = kind, bool(edge)
        self.segments = tuple(resolve_segments(first_stencil(kind, 3, self.edge), size[a], who, names[a]) for a in axes)

    def _apply(self, x):
        nd = len(self.isize)
        outs = [
            _along(x, a, nd, stencil_apply, seg, self.isize[a], 1 / s)
            for a, seg, s in zip(self.axes, self.segments, self.sampling)
        ]
        return torch.stack(outs, dim=-nd - 1)

    def _apply_adjoint(self, y):
        nd = len(self.isize)
        out = None
        for g, (a, seg, s) in enumerate(zip(self.axes, self.segments, self.sampling)):
            t = _along(y.select(-nd - 1, g), a, nd, stencil_adjoint, seg, self.isize[a], 1 / s)
            out = t if out is None else out + t
        return out

    def _split(self, tile):
        dims = [self.ishape[a] for a in self.axes]
        sampling = list(self.sampling)
        g = self.oshape[0]
        if g in tile:  # rows of a block of directions: the gradient over those dims
            rows = range(len(dims))[tile[g]]
            dims, sampling = [dims[i] for i in rows], [sampling[i] for i in rows]
            if not dims:
                raise ShapeError(f"Gradient: the tile selects no direction along {g!r}")
        rest = {k: v for k, v in tile.items() if k != g}
        return _split_other_dims(
            self,
            rest,
            self.axes,
            lambda size: Gradient(
                size, self.ishape, tuple(dims), tuple(sampling), self.edge, self.kind, gdim=g, **self._params()
            ),
        )

    def _repr_extra(self):
        dims = " ".join(self.ishape[a] for a in self.axes)
        return f"∇ over {dims} {self.kind}" + (" edge" if self.edge else "")
