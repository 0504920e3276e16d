"""The package's import graph holds the layering of DESIGN §9.

Imports go one way: errors → dims, dtypes → display → core → operators → tiling, solvers →
torch_api → the package root (and testing, demo). The only cycle is inside ``core/`` (the base
builds ``A @ B`` out of nodes defined on top of it) and it is closed by one seam: the late imports
at the bottom of ``core/base.py``. No module imports the package inside a function.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "lazylinops"
PKG = "lazylinops"

# rank of each layer: an import may only go to the same or a lower rank
LAYERS = {
    "errors": 0,
    "dims": 1,
    "dtypes": 1,
    "display": 2,
    "core": 3,
    "operators": 4,
    "tiling": 5,
    "solvers": 5,
    "torch_api": 6,
    "testing": 7,
    "interop": 7,
    "show": 7,
    "demo": 8,
    "__main__": 9,
    "": 8,  # the package root: re-exports only
}
SEAM = f"{PKG}.core.base"
MAX_CYCLE = 4


def _modules():
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(module, path, node):
    """The package modules an ``import`` node brings in (``from . import x`` gives the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PKG]
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    if name.split(".")[0] != PKG:
        return []
    return [f"{name}.{a.name}" if f"{name}.{a.name}" in MODULES else name for a in node.names]


def _imports():
    """``{module: [(target, line, where)]}`` with where in {"top", "late", "function"}."""
    out = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        found = []
        seen_code = False
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _target(module, path, node):
                    found.append((t, node.lineno, "late" if seen_code else "top"))
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                seen_code = True  # anything but the docstring
        top_ids = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top_ids:
                for t in _target(module, path, node):
                    found.append((t, node.lineno, "function"))
        out[module] = [(t, line, where) for t, line, where in found if t != module]
    return out


IMPORTS = _imports()


def _layer(module):
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else ""]


def _cycles():
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {m: {t for t, _, _ in IMPORTS[m] if t in MODULES} for m in MODULES}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return comps


def test_every_module_has_a_layer():
    unknown = [m for m in MODULES if (m.split(".")[1] if "." in m else "") not in LAYERS]
    assert not unknown, f"modules outside the layering of DESIGN §9: {unknown}; add their layer to LAYERS"


def test_no_import_of_the_package_inside_a_function():
    late = [f"{m}:{line} imports {t}" for m, found in IMPORTS.items() for t, line, w in found if w == "function"]
    assert not late, "imports of lazylinops inside functions (import at the top, or fix the layering):\n" + "\n".join(
        late
    )


def test_late_imports_only_at_the_seam():
    late = [f"{m}:{line} imports {t}" for m, found in IMPORTS.items() for t, line, where in found if where == "late"]
    assert all(s.startswith(SEAM + ":") for s in late), f"late module-level imports outside {SEAM}: {late}"
    seam = [t for m, found in IMPORTS.items() if m == SEAM for t, _, where in found if where == "late"]
    assert seam and all(t.startswith(f"{PKG}.core.") for t in seam), f"the seam imports only core modules: {seam}"


def test_imports_flow_one_way():
    wrong = [
        f"{m}:{line} ({_layer(m)}) imports {t} ({_layer(t)})"
        for m, found in IMPORTS.items()
        for t, line, _ in found
        if t in MODULES and _layer(t) > _layer(m)
    ]
    assert not wrong, "imports against the layering (a lower layer imports a higher one):\n" + "\n".join(wrong)


def test_tiling_and_solvers_are_independent():
    cross = [
        f"{m} imports {t}"
        for m, found in IMPORTS.items()
        for t, _, _ in found
        if {m.split(".")[1:2][0] if "." in m else "", t.split(".")[1] if "." in t else ""} == {"tiling", "solvers"}
    ]
    assert not cross, cross


def test_one_cycle_inside_core():
    cycles = _cycles()
    assert len(cycles) <= 1, f"more than one import cycle: {cycles}"
    for comp in cycles:
        assert all(m.startswith(f"{PKG}.core.") for m in comp), f"a cycle outside core/: {comp}"
        assert len(comp) <= MAX_CYCLE, f"the core cycle grew to {len(comp)} modules: {comp}"
        assert SEAM in comp, f"a cycle not closed by the seam in {SEAM}: {comp}"


def test_no_private_names_across_modules():
    """A helper used by another module is part of that module's interface: it has a public name."""
    bad = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PKG)):
                names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if names:
                    bad.append(f"{module}:{node.lineno} imports {names}")
    assert not bad, "private names imported across module boundaries:\n" + "\n".join(bad)


def test_package_root_exposes_its_submodules_in_a_fresh_interpreter():
    """``ll.testing``/``ll.tiling`` after a bare ``import lazylinops`` (the move once dropped the root's import)."""
    import subprocess
    import sys

    code = "import lazylinops as ll; ll.testing.check_operator; ll.tiling.split; print(len(ll.__all__))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
