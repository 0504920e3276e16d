"""Readable ``repr`` trees and Jupyter HTML for operators; they never touch data."""

import html as _html

from .dims import fmt_names


def _shapes(op):
    if op.ishape == op.oshape and op.isize == op.osize:
        return fmt_names(op.ishape, op.isize)
    return f"{fmt_names(op.ishape, op.isize)}→{fmt_names(op.oshape, op.osize)}"


def _line(op, root):
    parts = [type(op).__name__, _shapes(op)]
    extra = op._repr_extra()
    if extra:
        parts.append(extra)
    if root:
        parts.append(f"{op.dtype} {op.device}".replace("torch.", ""))
    if op._tags and root:
        parts.append("[" + ", ".join(op._tags) + "]")
    return "  ".join(parts).replace("torch.", "")


def tree(op, max_children=32):
    """A multi-line tree: one line per node with named shapes; dtype and device on the root."""
    lines = [_line(op, True)]

    def walk(node, prefix):
        kids = node.children()
        shown = kids[:max_children]
        for i, child in enumerate(shown):
            last = i == len(shown) - 1 and len(kids) <= max_children
            lines.append(prefix + ("└─ " if last else "├─ ") + _line(child, False))
            walk(child, prefix + ("   " if last else "│  "))
        if len(kids) > max_children:
            lines.append(prefix + f"└─ … {len(kids) - max_children} more")

    walk(op, "")
    return "\n".join(lines)


def weight_bytes(op):
    """Bytes held by an operator's own weights and its children's (shared tensors once)."""
    seen, total = set(), 0

    def walk(node):
        nonlocal total
        for w in node.weights().values():
            if id(w) not in seen:
                seen.add(id(w))
                total += w.numel() * w.element_size()
        for c in node.children():
            walk(c)

    walk(op)
    return total


def html(op):
    """Nested ``<details>`` of the tree with sizes and weight memory, for Jupyter."""
    def node(o, open_):
        label = _html.escape(_line(o, o is op))
        mem = fmt_bytes(weight_bytes(o))
        kids = o.children()
        head = f"<summary><code>{label}</code> <small>matrix {o.shape[0]}×{o.shape[1]}, weights {mem}</small></summary>"
        body = "".join(node(c, False) for c in kids)
        if not kids:
            return f"<div style='margin-left:1.2em'><code>{label}</code> <small>weights {mem}</small></div>"
        return f"<details{' open' if open_ else ''} style='margin-left:1.2em'>{head}{body}</details>"

    return f"<div class='lazylinops'>{node(op, True)}</div>"


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"
