"""Every public class and function documents every parameter (numpy style), as ``ll.FFT?`` shows it."""

import inspect
import re

import pytest

import lazylinops as ll

# Names whose docstrings are still being written elsewhere: expected to fail until then. The
# list only shrinks: an entry that starts passing fails here (strict xfail), so remove it.
PENDING = {}  # name → why its docstring is not complete yet (strict: a finished one must leave this set)


def _constructor_is_builtin(obj):
    """Exceptions, warnings and enums: their constructor is Python's, not ours, so there is nothing to list."""
    return isinstance(obj, type) and (issubclass(obj, BaseException) or issubclass(obj, ll.Status))


PUBLIC = sorted(
    n
    for n in ll.__all__
    if (inspect.isclass(getattr(ll, n)) or inspect.isfunction(getattr(ll, n)))
    and not _constructor_is_builtin(getattr(ll, n))
)
TESTING = ["assert_close", "check_operator", "default_rtol", "dottest"]
TARGETS = [(f"ll.{n}", getattr(ll, n)) for n in PUBLIC] + [(f"ll.testing.{n}", getattr(ll.testing, n)) for n in TESTING]


def sections(doc):
    """``{title: [lines]}`` of a numpy-style docstring (a title underlined with dashes of its length)."""
    lines = doc.splitlines()
    out, current = {}, None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"\s*-{3,}\s*", nxt) and len(nxt.strip()) == len(line.strip()):
            current = line.strip()
            out[current] = []
        elif current is not None and not re.fullmatch(r"\s*-{3,}\s*", line):
            out[current].append(line)
    return out


def documented_names(block):
    """Names at the left margin of a Parameters block: ``name : type``, ``a, b : type``, ``*ops : …``."""
    names = set()
    for line in block:
        if not line or line[0].isspace():
            continue  # a description line
        head = line.split(" : ")[0].rstrip(":").strip()
        if re.fullmatch(r"\**\w+(\s*,\s*\**\w+)*", head):
            names.update(n.strip().lstrip("*") for n in head.split(","))
    return names


def public_parameters(obj):
    return [p for p in inspect.signature(obj).parameters if not p.startswith("_")]


def undocumented(obj):
    """What ``obj``'s docstring is missing: a list of problems (empty when complete)."""
    doc = inspect.getdoc(obj) or ""
    problems = []
    if not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    params = public_parameters(obj)
    if params and "Parameters" not in found:
        problems.append("no 'Parameters' section (numpy style: 'Parameters' underlined with '----------')")
    else:
        missing = [p for p in params if p not in documented_names(found.get("Parameters", []))]
        if missing:
            problems.append(f"parameters not documented: {missing}")
    if inspect.isfunction(obj) and "Returns" not in found:
        problems.append("no 'Returns' section")
    return problems


@pytest.mark.parametrize(
    ("name", "obj"),
    [
        pytest.param(n, o, marks=pytest.mark.xfail(reason=PENDING[n.split(".")[-1]], strict=True))
        if n.split(".")[-1] in PENDING
        else (n, o)
        for n, o in TARGETS
    ],
    ids=[n for n, _ in TARGETS],
)
def test_every_parameter_is_documented(name, obj):
    problems = undocumented(obj)
    assert not problems, f"{name}{inspect.signature(obj)}: " + "; ".join(problems)


def test_pending_names_exist():
    """A stale PENDING entry (renamed, removed) is an error, not a silent skip."""
    assert set(PENDING) <= set(PUBLIC)


def test_the_check_catches_an_undocumented_parameter():
    def documented(a, b=1, *rest, _private=None):
        """Do a thing.

        Parameters
        ----------
        a, b : int
            Two numbers.
        *rest : int
            More.

        Returns
        -------
        int
        """

    def forgot_one(a, c):
        """Do a thing.

        Parameters
        ----------
        a : int
            A number; ``c`` is mentioned here but not listed.

        Returns
        -------
        int
        """

    def no_returns(a):
        """Do a thing.

        Parameters
        ----------
        a : int
        """

    assert undocumented(documented) == []
    assert undocumented(forgot_one) == ["parameters not documented: ['c']"]
    assert undocumented(no_returns) == ["no 'Returns' section"]
    assert undocumented(lambda x: x) == ["no docstring"]


def test_every_public_name_is_covered():
    """The sweep sees the operators, the tiling names and the solvers (not only what is already documented)."""
    covered = {n.split(".")[-1] for n, _ in TARGETS}
    assert {"FFT", "LinearOperator", "split", "Tiled", "solve", "fista", "Dim", "set_densify"} <= covered
