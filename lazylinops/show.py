"""``ll.show(A)``: a picture of an operator (matplotlib, an optional dependency: the ``plot`` extra).

A small operator is drawn as its matrix (values when real; magnitude and phase when complex);
a composite too big for that as its tree of boxes (the nodes ``repr`` shows, tiles with their
devices, cut the same way), built from metadata only; anything else is refused with what to do.
"""

import io
import math

import numpy as np
import torch

from .core.base import LinearOperator
from .core.dispatch import get_densify
from .dims import fmt_names
from .display import fmt_bytes, layout
from .errors import ShapeError

MAX_ENTRIES = 2048 * 2048  # largest matrix drawn entry by entry (more pixels than a figure has)
_MODES = ("auto", "matrix", "blocks")
_FIGURE = []  # the figure class, built once matplotlib is imported


def _matplotlib():
    """The ``Figure`` class ``show`` draws into (matplotlib imported on first use)."""
    try:
        import matplotlib  # noqa: F401, PLC0415  optional dependency, imported only when drawing
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(
            "ll.show needs matplotlib, an optional dependency: pip install -e '.[plot]' (or pip install matplotlib)"
        ) from e
    if _FIGURE:
        return _FIGURE[0]

    class ShownFigure(Figure):
        """A figure outside pyplot (no global state) that Jupyter displays as PNG when returned."""

        def _repr_png_(self):
            buf = io.BytesIO()
            self.savefig(buf, format="png")
            return buf.getvalue()

    _FIGURE.append(ShownFigure)
    return ShownFigure


def _fits(A, max_entries):
    """None when ``A``'s matrix may be drawn, else why not (in words)."""
    M, N = A.shape
    nbytes = M * N * A.dtype.itemsize
    limit = get_densify()[1]
    if M * N > max_entries:
        return f"{M}×{N} = {M * N:,} entries, over max_entries={max_entries:,}"
    if nbytes > limit:
        return f"its dense matrix ({fmt_bytes(nbytes)}) is over the densify limit ({fmt_bytes(limit)})"
    if A.device.type == "meta":
        return "it is on the meta device (no values to draw)"
    return None


def _axes(ax, n, fig_size, Figure):
    """``(figure, [axes])``: ``ax`` as given (one Axes or a sequence of ``n``) or a new figure's."""
    if ax is None:
        fig = Figure(figsize=fig_size, layout="constrained")
        return fig, list(fig.subplots(1, n, squeeze=False)[0])
    axes = list(ax) if isinstance(ax, (list, tuple)) else [ax]
    if len(axes) != n:
        raise ValueError(f"ll.show: this picture needs {n} axes, got ax with {len(axes)}; pass ax=(ax1, ..., ax{n})")
    return axes[0].get_figure(), axes


def _label(ax, A):
    ax.set_xlabel(f"input {fmt_names(A.ishape, A.isize)}")
    ax.set_ylabel(f"output {fmt_names(A.oshape, A.osize)}")


def _draw_matrix(A, ax, Figure):
    D = A.to_dense().detach()
    D = D.to("cpu", torch.complex64 if D.is_complex() else torch.float32).numpy()
    title = f"{type(A).__name__} {A.shape[0]}×{A.shape[1]}"
    if not A.dtype.is_complex:
        fig, (a,) = _axes(ax, 1, (5, 4), Figure)
        m = float(abs(D).max()) if D.size else 1.0
        m = m if m > 0 and math.isfinite(m) else 1.0
        im = a.imshow(D, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        a.set_title(f"{title}: values")
        fig.colorbar(im, ax=a)
        _label(a, A)
        return fig
    fig, (a, b) = _axes(ax, 2, (9, 4), Figure)
    mag = np.abs(D)
    im = a.imshow(mag, cmap="viridis", vmin=0, vmax=max(float(mag.max()) if mag.size else 0, 1e-30))
    a.set_title(f"{title}: |A|")
    fig.colorbar(im, ax=a)
    im = b.imshow(np.angle(D), cmap="twilight", vmin=-math.pi, vmax=math.pi, interpolation="nearest")
    b.set_title("arg A (radians)")
    fig.colorbar(im, ax=b)
    _label(a, A)
    _label(b, A)
    return fig


def _draw_blocks(A, ax, Figure, max_nodes):
    from matplotlib.patches import Rectangle  # noqa: PLC0415  optional dependency

    root, shown, total = layout(A, max_nodes=max_nodes)
    widths = {}

    def width(node):
        w = sum(width(k) for k in node.kids) + (1 if node.hidden is not None else 0)
        widths[id(node)] = max(1, w)
        return widths[id(node)]

    width(root)
    depth = [0]

    def place(node, x0, level):
        depth[0] = max(depth[0], level + 1)
        w = widths[id(node)]
        op = node.op
        if op is None:
            text, color = node.label, "0.85"
        else:
            head = f"{node.label}\n" if node.label else ""
            text = f"{head}{type(op).__name__}\n{op.shape[0]}×{op.shape[1]}"
            color = "#cfe3f7" if op.children() else "#f7e3cf"
        boxes.append((x0, level, w, text, color))
        x = x0
        for k in node.kids:
            place(k, x, level + 1)
            x += widths[id(k)]
        if node.hidden is not None:
            k, m = node.hidden
            boxes.append((x, level + 1, 1, f"… {k} more\n({m} node{'s' * (m != 1)})", "0.92"))
            depth[0] = max(depth[0], level + 2)

    boxes = []
    place(root, 0, 0)
    W, H = widths[id(root)], depth[0]
    fig, (a,) = _axes(ax, 1, (min(2 + 1.6 * W, 16), 1 + 1.1 * H), Figure)
    for x0, level, w, text, color in boxes:
        a.add_patch(Rectangle((x0 + 0.03, -level - 0.95), w - 0.06, 0.9, facecolor=color, edgecolor="0.3"))
        a.text(x0 + w / 2, -level - 0.5, text, ha="center", va="center", fontsize=7 if w > 1 else 5, clip_on=True)
    a.set_xlim(0, W)
    a.set_ylim(-H, 0)
    a.set_axis_off()
    note = f" ({shown} of {total} nodes)" if shown < total else ""
    a.set_title(f"{type(A).__name__} {A.shape[0]}×{A.shape[1]} {A.dtype} {A.device}{note}".replace("torch.", ""))
    return fig


def show(A, *, mode="auto", ax=None, max_entries=MAX_ENTRIES, max_nodes=40):
    """Draw an operator with matplotlib: its matrix when small, else its block structure.

    ``mode="matrix"`` draws the dense matrix: the values of a real operator (one image, a
    diverging colour map), ``|A|`` and ``arg A`` of a complex one (two images), each with its
    colour bar; it densifies ``A`` explicitly, so only up to ``max_entries`` entries and the
    densify limit (``ll.set_densify``). ``mode="blocks"`` draws the operator's tree as boxes (the
    nodes ``repr`` shows: composites blue, leaves orange, tiles labelled with their blocks and
    devices, large trees cut to ``max_nodes`` with the hidden counts); it reads no weight.
    ``mode="auto"`` picks the matrix when it fits, else the boxes of a composite, and refuses a
    leaf too big to draw. The figure is returned, never shown: Jupyter displays it; in a script
    call ``fig.savefig(path)``, or pass pyplot axes (``ax=plt.gca()``) and call ``plt.show()``.

    Parameters
    ----------
    A : LinearOperator
        The operator to draw.
    mode : {"auto", "matrix", "blocks"}
        What to draw (see above).
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these (two for a complex matrix: magnitude, phase); default: a new figure.
    max_entries : int
        Largest matrix (rows × columns) drawn entry by entry; default ``2048 * 2048``.
    max_nodes : int
        Boxes drawn at most in the block view; the rest are counted in "… k more" boxes.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into (``ax``'s figure when given).

    Raises
    ------
    ShapeError
        The matrix is too big to draw (or ``A`` is on the meta device) and ``A`` is no
        composite, or ``mode="matrix"`` was asked for such an operator.
    ImportError
        matplotlib is not installed (``pip install -e '.[plot]'``).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> fig = ll.show(ll.FFT((8,)))                                # complex: |A| and arg A
    >>> [a.get_title() for a in fig.axes if a.images]
    ['FFT 8×8: |A|', 'arg A (radians)']
    >>> big = ll.Diagonal(torch.rand(10**4)) @ ll.FFT((10**4,))
    >>> len(ll.show(big).axes)                                     # too big: its tree of boxes
    1
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"ll.show: expected a LinearOperator, got {type(A).__name__}; for a tensor use plt.imshow")
    if mode not in _MODES:
        raise ValueError(f"ll.show: mode must be one of {_MODES}, got {mode!r}")
    Figure = _matplotlib()
    why = _fits(A, max_entries)
    if mode == "auto":
        mode = "matrix" if why is None else "blocks" if A.children() else None
    if mode is None or (mode == "matrix" and why is not None):
        M, N = A.shape
        raise ShapeError(
            f"ll.show: cannot draw {type(A).__name__} ({M}×{N}) as a matrix: {why}. Draw a corner of it "
            f"(ll.show(A[:512, :512])), raise max_entries, or draw its structure with mode='blocks'"
        )
    if mode == "matrix":
        return _draw_matrix(A, ax, Figure)
    return _draw_blocks(A, ax, Figure, max_nodes)
