"""Readable ``repr`` trees and Jupyter HTML for operators; they never touch data.

What a node shows comes from hooks on the operator (duck typed: this layer imports no operator
class): ``_repr_extra()`` (its parameters), ``_repr_children()`` (``[(label, child)]``: a tiled
operator labels its tiles with their regions and devices; a label-only entry has no child) and
``_repr_tags()`` (``(tags, complete)``: ``A.tags`` when known without reading weights, else the
structural tags, marked ``+value tags on request``).

Large trees are cut: at most ``max_children`` children per node, ``max_depth`` levels and
``max_nodes`` lines in all (breadth first, so the top of the tree stays visible); every cut says
exactly how many children and nodes it hides (a node shared by several parents counts once per
place it appears, as the tree prints it).
"""

import html as _html
from collections import deque

from .dims import fmt_names

MAX_CHILDREN = 16  # children shown under one node
MAX_DEPTH = 8  # levels shown below the root
MAX_NODES = 64  # lines of the text repr (the HTML view shows more: it folds)
HTML_MAX_NODES = 256


def _shapes(op):
    if op.ishape == op.oshape and op.isize == op.osize:
        return fmt_names(op.ishape, op.isize)
    return f"{fmt_names(op.ishape, op.isize)}→{fmt_names(op.oshape, op.osize)}"


def fmt_value(w):
    """A 0-d tensor as text without a host sync: its number on the CPU, ``(on cuda:0)`` elsewhere.

    Examples
    --------
    >>> import torch
    >>> fmt_value(torch.tensor(2.5)), fmt_value(torch.tensor(1 - 2j)), fmt_value(torch.empty((), device="meta"))
    ('2.5', '(1.0-2.0j)', '(on meta)')
    """
    if w.device.type != "cpu":
        return f"(on {w.device})"  # reading it would wait for the device: A.weight.item() does
    try:
        v = w.detach().item()
    except RuntimeError:  # no data behind it (traced, functionalised)
        return "(no data)"
    if isinstance(v, complex):
        return f"({_num(v.real)}{_num(v.imag, sign=True)}j)"
    return _num(v)


def _num(x, sign=False):
    text = f"{x:+.6g}" if sign else f"{x:.6g}"
    return text + ".0" if isinstance(x, float) and text.lstrip("+-").isdigit() else text


def fmt_tags(op):
    """The root's tags as shown: ``[hermitian, psd]``; ``+value tags on request`` when ``A.tags`` may hold more.

    What is listed is always a subset of ``A.tags``, equal to it unless marked (value-derived tags
    need the weights: they are listed once ``A.tags`` has been asked for).
    """
    tags, complete = op._repr_tags()
    shown = ", ".join(sorted(tags))
    if complete:
        return f"[{shown}]" if shown else ""
    return f"[{shown} +value tags on request]" if shown else "[value tags on request]"


def _line(op, root, label=None, parent=None):
    parts = [f"{label} · {type(op).__name__}" if label else type(op).__name__, _shapes(op)]
    extra = op._repr_extra()
    if extra:
        parts.append(extra)
    if root:
        parts.append(f"{op.dtype} {op.device}")
        tags = fmt_tags(op)
        if tags:
            parts.append(tags)
    elif label is None and parent is not None and op.device != parent.device:
        parts.append(f"on {op.device}")  # a child somewhere else than its parent (tile labels say it themselves)
    return "  ".join(parts).replace("torch.", "")


class _Node:
    __slots__ = ("label", "op", "parent", "kids", "hidden", "depth")

    def __init__(self, label, op, parent, depth):
        self.label, self.op, self.parent, self.depth = label, op, parent, depth
        self.kids = []
        self.hidden = None  # (children, nodes) cut below this node

    def line(self):
        if self.op is None:
            return self.label
        return _line(self.op, self.parent is None, self.label, None if self.parent is None else self.parent.op)


def _entries(op):
    return [] if op is None else list(op._repr_children())


def _counter():
    """``count(op)``: the nodes of ``op``'s tree as printed (shared subtrees once per place; memoised per call)."""
    memo = {}

    def count(op):
        if op is None:
            return 1
        hit = memo.get(id(op))
        if hit is None:
            hit = 1 + sum(count(child) for _, child in _entries(op))
            memo[id(op)] = (op, hit)  # the op kept alive: its id stays unique during this call
            return hit
        return hit[1]

    return count


def layout(op, max_children=MAX_CHILDREN, max_depth=MAX_DEPTH, max_nodes=MAX_NODES):
    """The shown tree: ``(root, shown, total)``, nodes admitted breadth first within the limits."""
    count = _counter()
    root = _Node(None, op, None, 0)
    shown, queue = 1, deque([root])
    while queue:
        node = queue.popleft()
        entries = _entries(node.op)
        for i, (label, child) in enumerate(entries):
            if i >= max_children or node.depth >= max_depth or shown >= max_nodes:
                rest = entries[i:]
                node.hidden = (len(rest), sum(count(c) for _, c in rest))
                break
            kid = _Node(label, child, node, node.depth + 1)
            node.kids.append(kid)
            queue.append(kid)
            shown += 1
    return root, shown, count(op)


def _hidden_text(node):
    k, m = node.hidden
    more = "more " if node.kids else ""
    return f"… {k} {more}{'child' if k == 1 else 'children'} hidden ({m} {'node' if m == 1 else 'nodes'})"


def tree(op, max_children=MAX_CHILDREN, max_depth=MAX_DEPTH, max_nodes=MAX_NODES):
    """A multi-line tree: one line per node with named shapes; dtype, device and tags on the root.

    Parameters
    ----------
    op : LinearOperator
        The operator; no weight is read (a 0-d weight on the CPU is printed).
    max_children, max_depth, max_nodes : int
        Limits of what is shown; each cut says how many children and nodes it hides.

    Returns
    -------
    str

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> print(tree(ll.Scalar(2.0, (3,), "N") @ ll.FFT((3,), "N")))
    Chain  ⟨N:3⟩  complex64 cpu  [value tags on request]
    ├─ Scalar  ⟨N:3⟩  value 2.0 float32
    └─ FFT  ⟨N:3⟩  FFT over N norm=ortho
    """
    root, shown, total = layout(op, max_children, max_depth, max_nodes)
    lines = [root.line()]

    def walk(node, prefix):
        for i, kid in enumerate(node.kids):
            last = i == len(node.kids) - 1 and node.hidden is None
            lines.append(prefix + ("└─ " if last else "├─ ") + kid.line())
            walk(kid, prefix + ("   " if last else "│  "))
        if node.hidden is not None:
            lines.append(prefix + "└─ " + _hidden_text(node))

    walk(root, "")
    if shown < total:
        lines.append(f"({shown} of {total} nodes shown; lazylinops.display.tree(A, max_nodes=…) shows more)")
    return "\n".join(lines)


def weight_bytes(op):
    """Bytes held by an operator's own weights and its children's (shared tensors and nodes once; meta holds none)."""
    seen, nodes, total = set(), set(), 0
    stack = [op]
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        nodes.add(id(node))
        for w in node.weights().values():
            if id(w) not in seen and w.device.type != "meta":
                seen.add(id(w))
                total += w.numel() * w.element_size()
        stack.extend(node.children())
    return total


def html(op, max_children=MAX_CHILDREN, max_depth=MAX_DEPTH, max_nodes=HTML_MAX_NODES):
    """Nested ``<details>`` of the tree with sizes and weight memory, for Jupyter.

    The same nodes, labels, tags and cuts as ``tree`` (with room for more nodes: levels fold).

    Parameters
    ----------
    op : LinearOperator
        The operator; no weight is read.
    max_children, max_depth, max_nodes : int
        Limits of what is shown; each cut says how many children and nodes it hides.

    Returns
    -------
    str
        An HTML fragment.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> "<details open" in html(ll.Diagonal(torch.ones(3)) @ ll.FFT((3,)))
    True
    """
    root, shown, total = layout(op, max_children, max_depth, max_nodes)

    def render(n):
        label = _html.escape(n.line())
        if n.op is None:
            return f"<div style='margin-left:1.2em'><code>{label}</code></div>"
        o = n.op
        mem = fmt_bytes(weight_bytes(o))
        body = "".join(render(k) for k in n.kids)
        if n.hidden is not None:
            body += f"<div style='margin-left:1.2em'><small>{_html.escape(_hidden_text(n))}</small></div>"
        if not body:
            return f"<div style='margin-left:1.2em'><code>{label}</code> <small>weights {mem}</small></div>"
        size = f"matrix {o.shape[0]}×{o.shape[1]}, weights {mem}"
        head = f"<summary><code>{label}</code> <small>{size}</small></summary>"
        return f"<details{' open' if n is root else ''} style='margin-left:1.2em'>{head}{body}</details>"

    note = f"<small>{shown} of {total} nodes shown</small>" if shown < total else ""
    return f"<div class='lazylinops'>{render(root)}{note}</div>"


def fmt_bytes(n):
    """``1536`` → ``'1.5 KiB'``.

    Examples
    --------
    >>> fmt_bytes(1536), fmt_bytes(12)
    ('1.5 KiB', '12 B')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"
