"""Torch function → structured rule table, and the densify fallback (DESIGN §3, §7, §8).

``implements(*funcs)`` registers a rule. A torch call on an operator without a rule
densifies: it warns (``DensifyWarning``) or refuses (``DensifyError``) per
``set_densify``, and never builds a dense matrix over the memory limit.
"""

import contextvars
import inspect

import torch
from torch.overrides import get_testing_overrides

from ..display import fmt_bytes
from ..errors import DensifyError

_RULES = {}
_MODES = ("warn", "error", "allow")
# (mode, limit_bytes) per thread/context: a ``with set_densify(...)`` in one thread never changes another's.
# A new thread starts from the default.
_SETTING = contextvars.ContextVar("lazylinops_densify", default=("warn", 2 * 1024**3))


def rule_for(func):
    """The structured rule registered for the torch function ``func``, or None."""
    return _RULES.get(func)


def is_metadata(func):
    """Whether ``func`` is answered from the wrapper's metadata (``size``, ``dtype``, ``is_complex``…)."""
    return func in _METADATA


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
        _SETTING.set(self._previous)  # in the current context only
        return False


def set_densify(mode, limit_bytes=None):
    """Control the densify fallback: ``"warn"`` (default), ``"error"`` or ``"allow"``.

    A torch call with no structured rule computes on the dense matrix; the mode says whether
    that warns (``DensifyWarning``), is refused (``DensifyError``) or happens silently.
    ``limit_bytes`` caps any dense matrix an operator builds (explicit ``to_dense`` included);
    over it a ``DensifyError`` is raised instead of exhausting memory.

    The setting is per thread and per ``contextvars`` context: a ``with`` block in one
    thread never changes another thread's mode; a new thread starts from the default
    (``"warn"``, 2 GiB).

    Parameters
    ----------
    mode : {"warn", "error", "allow"}
        What a densifying call does: warn and compute, raise ``DensifyError``, or compute silently.
    limit_bytes : int, optional
        Largest dense matrix allowed, in bytes (positive). None keeps the limit in force
        (2 GiB unless changed).

    Returns
    -------
    context manager
        The setting is applied at once; used as ``with ll.set_densify("error"): ...``, the
        previous ``(mode, limit_bytes)`` is restored on exit.

    Raises
    ------
    ValueError
        ``mode`` is not one of the three, or ``limit_bytes`` is not a positive int.

    Examples
    --------
    >>> import lazylinops as ll
    >>> with ll.set_densify("allow", limit_bytes=1024):
    ...     ll.get_densify()
    ('allow', 1024)
    """
    if mode not in _MODES:
        raise ValueError(f"set_densify: mode must be one of {_MODES}, got {mode!r}")
    bad = isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes <= 0
    if limit_bytes is not None and bad:
        raise ValueError(f"set_densify: limit_bytes must be a positive int, got {limit_bytes!r}")
    previous = _SETTING.get()
    _SETTING.set((mode, previous[1] if limit_bytes is None else limit_bytes))
    return _DensifySetting(previous)


def get_densify():
    """The densify setting in force in the current thread/context.

    Returns
    -------
    (mode, limit_bytes) : tuple of (str, int)
        As set by ``set_densify``; ``("warn", 2 * 1024**3)`` by default.

    Examples
    --------
    >>> import lazylinops as ll
    >>> mode, limit_bytes = ll.get_densify()
    >>> mode in ("warn", "error", "allow"), limit_bytes > 0
    (True, True)
    """
    return _SETTING.get()


_NAME_MODES = ("warn", "strict", "allow")
# The named-dims check of ``A @ B`` / ``A + B``, per thread/context like the densify setting.
_NAMES = contextvars.ContextVar("lazylinops_names", default="warn")


class _NamesSetting(_DensifySetting):
    """What ``set_names`` returns: usable as a context manager that restores the old mode."""

    def __exit__(self, *exc):
        _NAMES.set(self._previous)  # in the current context only
        return False


def set_names(mode):
    """Control what ``A @ B`` and ``A + B`` do when user-given dim names disagree.

    Names are metadata: when ``A``'s input names differ from ``B``'s output names but the sizes
    agree, ``A @ B`` matches the dims by position (a names-only reshape), and ``A + B`` adds the
    matrices whatever the names. When both sides carry names the user gave, this is usually a
    mistake (a forgotten ``.H``), so by default it warns.

    Parameters
    ----------
    mode : {"warn", "strict", "allow"}
        ``"warn"`` (default): a ``NameWarning`` naming both shapes and the likely fix;
        ``"strict"``: a ``ShapeError`` instead; ``"allow"``: silent.

    Returns
    -------
    handle
        Used as ``with ll.set_names("strict"): ...``, restores the previous mode on exit.

    Notes
    -----
    Positional default names (``d0, d1, …``, ``i0, …``, ``o0, …``, as constructors give an
    operator built without names, with the ``_j`` / ``'`` suffixes ``Kronecker`` adds) are
    never user-given: a dim whose name on either side has that form never warns. Only dims at
    the same position with two different user-given names do. The library's own compositions
    (normals, solvers, tiling) are not checked. The mode is per thread and per ``contextvars``
    context, like ``set_densify``; a new thread starts from ``"warn"``.

    Examples
    --------
    >>> import lazylinops as ll
    >>> with ll.set_names("strict"):
    ...     ll.get_names()
    'strict'
    >>> ll.get_names()
    'warn'
    """
    if mode not in _NAME_MODES:
        raise ValueError(f"set_names: mode must be one of {_NAME_MODES}, got {mode!r}")
    previous = _NAMES.get()
    _NAMES.set(mode)
    return _NamesSetting(previous)


def get_names():
    """The named-dims mode (``"warn"``, ``"strict"`` or ``"allow"``) in force in the current thread/context.

    Returns
    -------
    str
        The mode ``ll.set_names`` last set in this thread/context (``"warn"`` by default).

    Examples
    --------
    >>> import lazylinops as ll
    >>> ll.get_names()
    'warn'
    """
    return _NAMES.get()


def dense_nbytes(op):
    return op.shape[0] * op.shape[1] * op.dtype.itemsize


def check_densify_limit(op, what):
    """Refuse a dense matrix over the configured limit (explicit ``to_dense`` included)."""
    n = dense_nbytes(op)
    limit = _SETTING.get()[1]
    if n > limit:
        raise DensifyError(
            f"{what} would build a dense {op.shape[0]}×{op.shape[1]} {op.dtype} matrix "
            f"({fmt_bytes(n)}) from {type(op).__name__}, over the densify limit of "
            f"{fmt_bytes(limit)}; use a structured call (A @ x, A.H, ll.solve …) "
            "or raise the limit with ll.set_densify(mode, limit_bytes=...)"
        )


_NAMESPACES = {  # C modules of torch's namespaces → the name users write
    "torch._C._linalg": "linalg",
    "torch._C._fft": "fft",
    "torch._C._special": "special",
    "torch._C._nn": "nn",
}


def torch_name(func):
    """The name a user writes: ``torch.linalg.matrix_norm``, ``Tensor.sum``, ``torch.nn.functional.relu``."""
    name = getattr(func, "__name__", None) or repr(func)
    qual = getattr(func, "__qualname__", "")
    if qual.startswith(("Tensor.", "TensorBase.")):
        return qual.replace("TensorBase.", "Tensor.", 1)
    if "." in name:
        return name
    module = getattr(func, "__module__", None) or ""
    space = _NAMESPACES.get(module)
    if space is not None:  # torch._C._linalg.linalg_matrix_norm is torch.linalg.matrix_norm
        prefix = space + "_"
        return f"torch.{space}.{name[len(prefix) :] if name.startswith(prefix) else name}"
    if module.startswith("torch.") and not module.startswith("torch._"):
        return f"{module}.{name}"  # torch.nn.functional.relu, torch.nn.init.normal_
    return f"torch.{name}"


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
    torch.Tensor.__dir__,  # tab completion: the names, never the values
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


_DIM_PARAMS = frozenset(("dim", "dims", "dim0", "dim1", "dim2"))
_POSITIONAL = {}  # func → names of its positional parameters, by torch's signature


def _positional_names(func):
    names = _POSITIONAL.get(func)
    if names is None:
        if not _POSITIONAL:  # built once (whole, then published): torch's table of every overridable signature
            table = {f: _param_names(sig) for f, sig in get_testing_overrides().items()}
            table[""] = ()  # never empty once built
            _POSITIONAL.update({f: n for f, n in table.items() if n is not None})
        names = _POSITIONAL.setdefault(func, ())
    return names


def _param_names(sig_fn):
    try:
        params = inspect.signature(sig_fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in params if p.kind in kinds and p.name != "out")


def check_dim(dim, what, ndim=2):
    """Raise ``IndexError`` (as torch does) for a dim (int or sequence of ints) outside ``[-ndim, ndim-1]``."""
    for d in dim if isinstance(dim, (tuple, list, torch.Size)) else (dim,):
        if isinstance(d, int) and not isinstance(d, bool) and not -ndim <= d < ndim:
            raise IndexError(
                f"{what}: Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {d}); "
                "an operator is a 2-D matrix"
            )


def _arity(rule):
    """How many arguments ``rule`` takes positionally (a large number for ``*args``)."""
    n = _ARITY.get(rule)
    if n is None:
        params = inspect.signature(rule).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        var = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
        n = _ARITY[rule] = 1 << 30 if var else sum(p.kind in kinds for p in params)
    return n


_ARITY = {}


_SIGNATURES = {}


def _inplace(func, args, kwargs):
    """Whether a functional form was asked to write into its input (``F.relu(A, inplace=True)``, or positionally)."""
    if "inplace" in kwargs:
        return bool(kwargs["inplace"])
    if func not in _SIGNATURES:
        try:
            sig = inspect.signature(func)
            _SIGNATURES[func] = list(sig.parameters).index("inplace") if "inplace" in sig.parameters else None
        except (TypeError, ValueError):  # builtins without a signature
            _SIGNATURES[func] = None
    pos = _SIGNATURES[func]
    return pos is not None and len(args) > pos and bool(args[pos])


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


def bind(func, args, kwargs, rule=None):
    """``(args, kwargs)`` with keyword forms of positional parameters made positional, by torch's
    signature of ``func`` (``torch.mm(A, mat2=B)`` → ``(A, B)``, ``torch.sum(input=A)`` → ``(A,)``)
    as far as ``rule`` takes them positionally."""
    if not kwargs:
        return args, kwargs
    names = _positional_names(func)
    if not names:
        return args, kwargs
    args, kwargs = list(args), dict(kwargs)
    most = min(len(names), _arity(rule)) if rule is not None else len(names)
    while len(args) < most and names[len(args)] in kwargs:
        args.append(kwargs.pop(names[len(args)]))
    return tuple(args), kwargs


def check_dims(func, args, kwargs):
    """Raise ``IndexError`` (as torch does) for a dim argument of ``func`` out of range for a 2-D matrix."""
    names = _positional_names(func)
    for name, value in (*zip(names, args), *kwargs.items()):
        if name in _DIM_PARAMS and value is not None:
            check_dim(value, torch_name(func))


def inplace_request(func, args, kwargs):
    """``"flag"`` when a functional form was asked to write into its input (``F.relu(A, inplace=True)``),
    ``"name"`` for an in-place method or dunder (``add_``, ``__iadd__``), else None."""
    if _inplace(func, args, kwargs):
        return "flag"
    name = getattr(func, "__name__", "")
    if (name.endswith("_") and not name.startswith("__")) or name in _INPLACE_DUNDERS:
        return "name"
    return None
