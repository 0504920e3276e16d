"""The operator registry: one example of every operator and composite.

Each module in this folder defines ``ENTRIES``, a list of ``Entry``; this package
collects them all, so a new operator is one entry away from the whole contract test.
Capabilities are data on the entry, never ``if op is X`` chains in tests.
"""

import importlib
import pkgutil
from dataclasses import dataclass, field

import torch

DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@dataclass(frozen=True)
class Entry:
    """An operator example. ``build(dtype)`` returns a fresh operator computing in ``dtype``
    (or its complex counterpart for inherently complex operators such as FFT)."""

    name: str
    build: callable
    invertible: bool = False  # square and non-singular (solve tests)
    hermitian: bool = False
    pd: bool = False  # Hermitian positive definite
    split_dims: tuple = ()  # named dims it can be tiled along
    rtol: float = 1.0  # tolerance multiplier (approximate operators)
    dtypes: tuple = DTYPES
    tags: tuple = field(default_factory=tuple)  # free-form labels: "tall", "wide", "complex-only" …

    def __str__(self):
        return self.name


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*size, dtype, seed=0):
    """Reproducible random tensor (complex dtypes get independent real and imaginary parts)."""
    return torch.randn(*size, generator=gen(seed), dtype=dtype)


def _collect():
    entries = []
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        entries.extend(getattr(module, "ENTRIES", ()))
    names = [e.name for e in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise RuntimeError(f"registry: duplicate entry names {sorted(dup)}")
    return entries


REGISTRY = _collect()
