"""Torch function → structured rule table, and the densify fallback (DESIGN §3, §7, §8).

``implements(*funcs)`` registers a rule. A torch call on an operator without a rule
densifies: it warns (``DensifyWarning``) or refuses (``DensifyError``) per
``set_densify``, and never builds a dense matrix over the memory limit.
"""

import warnings

import torch
from torch._C import DisableTorchFunctionSubclass

from .errors import DensifyError, DensifyWarning, ImmutableError

_RULES = {}
_MODES = ("warn", "error", "allow")
_CONFIG = {"mode": "warn", "limit_bytes": 2 * 1024**3}


def implements(*funcs):
    """Register a structured rule for torch functions (called with the torch arguments)."""

    def deco(rule):
        for f in funcs:
            _RULES[f] = rule
        return rule

    return deco


class _DensifySetting:
    """What ``set_densify`` returns: usable as a context manager that restores the old setting."""

    def __init__(self, previous):
        self._previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _CONFIG.update(self._previous)
        return False


def set_densify(mode, limit_bytes=None):
    """Control the densify fallback: ``"warn"`` (default), ``"error"`` or ``"allow"``.

    ``limit_bytes`` (default 2 GiB) caps any dense matrix an operator builds; over it a
    ``DensifyError`` is raised instead of exhausting memory. Returns a handle that, used as
    ``with ll.set_densify("error"): ...``, restores the previous setting on exit.
    """
    if mode not in _MODES:
        raise ValueError(f"set_densify: mode must be one of {_MODES}, got {mode!r}")
    if limit_bytes is not None and (not isinstance(limit_bytes, int) or limit_bytes <= 0):
        raise ValueError(f"set_densify: limit_bytes must be a positive int, got {limit_bytes!r}")
    previous = dict(_CONFIG)
    _CONFIG["mode"] = mode
    if limit_bytes is not None:
        _CONFIG["limit_bytes"] = limit_bytes
    return _DensifySetting(previous)


def get_densify():
    """``(mode, limit_bytes)`` currently in force."""
    return _CONFIG["mode"], _CONFIG["limit_bytes"]


def _nbytes(op):
    return op.shape[0] * op.shape[1] * op.dtype.itemsize


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def check_densify_limit(op, what):
    """Refuse a dense matrix over the configured limit (explicit ``to_dense`` included)."""
    n = _nbytes(op)
    if n > _CONFIG["limit_bytes"]:
        raise DensifyError(
            f"{what} would build a dense {op.shape[0]}×{op.shape[1]} {op.dtype} matrix "
            f"({_fmt_bytes(n)}) from {type(op).__name__}, over the densify limit of "
            f"{_fmt_bytes(_CONFIG['limit_bytes'])}; use a structured call (A @ x, A.H, ll.solve …) "
            "or raise the limit with ll.set_densify(mode, limit_bytes=...)"
        )


def _fname(func):
    name = getattr(func, "__name__", None) or repr(func)
    qual = getattr(func, "__qualname__", "")
    return qual if qual.startswith(("Tensor.", "TensorBase.")) else f"torch.{name}" if "." not in name else name


def _walk(obj, fn):
    """Map ``fn`` over operators inside args (lists/tuples/dicts nested)."""
    from .base import LinearOperator

    if isinstance(obj, LinearOperator):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    return obj


def densify(func, args, kwargs):
    """The fallback: replace operators by their dense matrices and call ``func``."""
    mode = _CONFIG["mode"]
    name = _fname(func)

    def dense(op):
        check_densify_limit(op, name)
        if mode == "error":
            raise DensifyError(
                f"{name} has no structured rule for {type(op).__name__} {tuple(op.shape)} and "
                f"densifying is set to 'error' ({_fmt_bytes(_nbytes(op))} dense); use a structured "
                "call or ll.set_densify('warn')"
            )
        if mode == "warn":
            warnings.warn(
                f"{name} has no structured rule for {type(op).__name__} {tuple(op.shape)} {op.dtype}: "
                f"building its dense matrix ({_fmt_bytes(_nbytes(op))}). Silence with "
                "ll.set_densify('allow') or make it an error with ll.set_densify('error')",
                DensifyWarning,
                stacklevel=4,
            )
        return op._to_dense()

    return func(*_walk(args, dense), **_walk(kwargs, dense))


# Metadata calls answered from the wrapper itself, never densified.
_METADATA = {
    torch.Tensor.size,
    torch.Tensor.dim,
    torch.Tensor.ndimension,
    torch.Tensor.numel,
    torch.Tensor.nelement,
    torch.Tensor.stride,
    torch.Tensor.is_floating_point,
    torch.Tensor.is_complex,
    torch.Tensor.is_signed,
    torch.Tensor.is_contiguous,
    torch.Tensor.element_size,
    torch.Tensor.get_device,
    torch.Tensor.storage_offset,
    torch.Tensor.is_inference,
    torch.is_floating_point,
    torch.is_complex,
    torch.numel,
}
for _name in (
    "shape dtype device ndim layout is_cuda is_cpu is_meta is_sparse is_sparse_csr is_quantized "
    "is_mkldnn is_xpu is_mps is_nested is_leaf grad_fn grad names output_nr _version _base itemsize "
    "nbytes is_conj is_neg _is_view"
).split():
    _attr = getattr(torch.Tensor, _name, None)
    if _attr is not None and hasattr(_attr, "__get__"):
        _METADATA.add(_attr.__get__)
for _name in ("is_conj", "is_neg", "_is_view", "is_shared", "is_pinned", "untyped_storage"):
    if hasattr(torch.Tensor, _name):
        _METADATA.add(getattr(torch.Tensor, _name))


def torch_function(func, types, args, kwargs):
    """The body of ``LinearOperator.__torch_function__``."""
    if kwargs.get("out") is not None:
        raise ImmutableError(
            f"{_fname(func)}: out= is not supported with operators (results are new tensors "
            "or operators); drop out= and assign the result"
        )
    rule = _RULES.get(func)
    if rule is not None:
        return rule(*args, **kwargs)
    if func in _METADATA:
        with DisableTorchFunctionSubclass():
            return func(*args, **kwargs)
    from .base import LinearOperator

    name = getattr(func, "__name__", "")
    target = args[0] if args else None
    if isinstance(target, LinearOperator) and (
        (name.endswith("_") and not name.startswith("__")) or name in _INPLACE_DUNDERS
    ):
        raise ImmutableError(
            f"{_fname(func)}: operators are immutable, in-place operations are refused "
            f"(got {type(target).__name__} {tuple(target.shape)}); build a new operator, "
            "e.g. A = A + B, or densify first with A.to_dense()"
        )
    return densify(func, args, kwargs)


_INPLACE_DUNDERS = {
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
    "__ifloordiv__",
    "__imatmul__",
    "__ipow__",
    "__iand__",
    "__ior__",
    "__ixor__",
    "__ilshift__",
    "__irshift__",
    "__setitem__",
    "__imod__",
}
