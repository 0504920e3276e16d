"""Named dims: parsing ``Dim`` specs and checking named shapes (DESIGN §2)."""

import math
import re

import torch

from .errors import ShapeError

_NAME_START = re.compile(r"[A-Z][^A-Z]*|[^A-Z]+")


def Dim(spec):
    """Parse a named-dim spec into a tuple of names.

    A new name starts at each capital letter and at each space; tuples pass through.

    Parameters
    ----------
    spec : str, tuple of str, list of str or None
        ``"HW"``, ``"KxKy"``, ``"H W"`` or ``("H", "W")``; None passes through.

    Returns
    -------
    tuple of str or None
        The dim names, in order (None for None).

    Raises
    ------
    ShapeError
        ``spec`` is of another type, or a tuple holds an empty or non-string name.

    Examples
    --------
    >>> Dim("HW"), Dim("KxKy"), Dim("H W"), Dim(""), Dim("xy")
    (('H', 'W'), ('Kx', 'Ky'), ('H', 'W'), (), ('xy',))
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        names = []
        for word in spec.split():
            names.extend(_NAME_START.findall(word))
        return tuple(names)
    if isinstance(spec, (tuple, list)):
        names = tuple(spec)
        for n in names:
            if not isinstance(n, str) or not n:
                raise ShapeError(
                    f"dim names must be non-empty strings, got {n!r} in {spec!r}; "
                    "pass a string like 'HW' or a tuple like ('H', 'W')"
                )
        return names
    raise ShapeError(f"a named-dim spec must be a string or a tuple of strings, got {type(spec).__name__} {spec!r}")


def as_size(size, what="size"):
    """A ``torch.Size`` from an int or a sequence of non-negative ints."""
    if isinstance(size, int):
        size = (size,)
    try:
        out = torch.Size(int(s) for s in size)
    except (TypeError, ValueError):
        raise ShapeError(f"{what} must be a tuple of ints, got {size!r}") from None
    if any(s < 0 for s in out):
        raise ShapeError(f"{what} must be non-negative, got {tuple(out)}")
    return out


def default_names(n, prefix="d"):
    """Positional names ``d0, d1, …`` for ``n`` dims."""
    return tuple(f"{prefix}{i}" for i in range(n))


def check_names(names, size, what):
    """Validate one named shape against its sizes; returns the names tuple."""
    if len(names) != len(size):
        raise ShapeError(
            f"{what} names {fmt_names(names)} do not match its sizes {tuple(size)}: "
            f"got {len(names)} names for {len(size)} dims"
        )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ShapeError(f"{what} {fmt_names(names)} repeats the name(s) {dup}; names must be unique")
    return names


def resolve_shapes(ishape, oshape, isize, osize):
    """Names for both sides: square unnamed operators get the same names both sides."""
    ishape, oshape = Dim(ishape), Dim(oshape)
    if ishape is None and oshape is None:
        if tuple(isize) == tuple(osize):
            ishape = oshape = default_names(len(isize))
        else:
            ishape, oshape = default_names(len(isize), "i"), default_names(len(osize), "o")
    elif ishape is None:
        ishape = oshape if tuple(isize) == tuple(osize) else default_names(len(isize), "i")
    elif oshape is None:
        oshape = ishape if tuple(isize) == tuple(osize) else default_names(len(osize), "o")
    return check_names(ishape, isize, "ishape"), check_names(oshape, osize, "oshape")


def fmt_names(names, size=None):
    """``⟨H:4 W:5⟩`` (or ``⟨H W⟩`` without sizes)."""
    if size is None:
        return "⟨" + " ".join(names) + "⟩"
    return "⟨" + " ".join(f"{n}:{s}" for n, s in zip(names, size)) + "⟩"


def prod(size):
    return math.prod(size)
