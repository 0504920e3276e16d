"""``LinearOperator``: a storage-less ``torch.Tensor`` wrapper subclass (DESIGN §3, §8).

To torch an operator is a 2-D tensor ``(prod(osize), prod(isize))`` with a dtype and a
device and no storage. Subclasses implement ``_apply(x)`` / ``_apply_adjoint(y)`` on named
shapes (batch dims lead); everything else — matmul semantics, adjoint, dense, dtype and
device moves, serialization — is derived here once.
"""

import copy
import functools
import inspect

import numpy as np
import torch
from torch._C import DisableTorchFunctionSubclass

from ..dims import Dim, as_size, check_names, fmt_names, prod, resolve_shapes
from ..display import fmt_bytes, html, tree
from ..dtypes import as_device, check_dtype, complex_dtype, promote, real_dtype
from ..errors import DensifyError, DensifyWarning, DeviceError, DtypeError, ImmutableError, ShapeError, warn
from .dispatch import (
    bind,
    check_densify_limit,
    check_dim,
    check_dims,
    dense_nbytes,
    get_densify,
    inplace_request,
    is_metadata,
    rule_for,
    torch_name,
)

# Metadata every operator carries in its ``__dict__``; everything else there is its state.
_META = ("_ishape", "_oshape", "_isize", "_osize", "_shape", "_dtype", "_device", "_tags", "_fast")
_CACHE = "_cache"
_VERSIONS = "__versions__"  # key in the cache: the weights' version counters it was computed at
_TENSORS = "__tensors__"  # key in the cache: every tensor of the tree (fixed after construction)
_TENSORS_EPOCH = "__tensors_epoch__"  # key in the cache: the _EPOCH that list was collected at
_EPOCH = [0]  # bumped by every copy_ (the one call that swaps an operator's tensors)
_SEP = "__ll"
_MISSING = object()  # a memo entry that was never computed (None is a valid memo value)


_Tensor = torch.Tensor


def _is_op(x):
    return isinstance(x, LinearOperator)


def _rebuild(cls, state):
    """Make the wrapper for ``cls`` from a complete state dict (no ``__init__`` run)."""
    obj = torch.Tensor._make_wrapper_subclass(cls, state["_shape"], dtype=state["_dtype"], device=state["_device"])
    obj.__dict__.update(state)
    obj.__dict__[_CACHE] = {}
    _set_fast(obj.__dict__)
    return obj


def unaliased_from_weights(t, ops):
    """``t``, copied when it shares memory with a weight of one of ``ops`` (a result never aliases a weight).

    ``Dense.to_dense()`` would otherwise be the live weight, and a caller writing into it
    (``F.relu(D, inplace=True)``, ``F.embedding(max_norm=)``) would change the operator.
    """
    if t.__class__ is not _Tensor or t.layout is not torch.strided or t.device.type == "meta":
        return t
    ptr, device = t.untyped_storage().data_ptr(), t.device
    for op in ops:
        for w in op._tree_tensors():
            if w.device == device and w.layout is torch.strided and w.untyped_storage().data_ptr() == ptr:
                return t.clone()
    return t


def _set_fast(d):
    """Cache what the ``A @ x`` hot path checks: (vector size or None, dtype, device).

    None where the hot path does not apply: not a vector operator, or a size-0 dim (whose
    empty results the general path builds without calling ``_apply``).
    """
    isize, osize = d["_isize"], d["_osize"]
    vec = isize if len(isize) == 1 and len(osize) == 1 and isize[0] and osize[0] else None
    d["_fast"] = (vec, d["_dtype"], d["_device"])


def unaliased(y, x):
    """``y``, copied when it shares memory with the caller's tensor ``x`` (``x`` itself or a view of it).

    Results never alias inputs (``I @ x``, ``Reshape(x)``, ``Crop(x)`` would be views); a view
    of a fresh intermediate (the usual case) is returned as is, at the cost of two attribute reads.
    """
    if y is x:
        return y.clone()
    base = y._base
    if base is not None and (base is x or base is x._base):
        return y.clone()
    return y


def _rebuild_operator(cls, state):
    """Unpickling entry point (registered with ``torch.serialization.add_safe_globals``)."""
    state = dict(state)
    state["_isize"] = torch.Size(state["_isize"])
    state["_osize"] = torch.Size(state["_osize"])
    state["_shape"] = torch.Size(state["_shape"])
    return _rebuild(cls, state)


def _inverse_with_swapped_names(hook):
    """``hook`` (an ``_inverse`` override) whose result maps ``A``'s output names back to its input names.

    Hooks build ``A⁻¹`` from one side's names (``Diagonal(1/w, A.ishape)``); for a renamed square
    ``A: ishape → oshape`` the inverse is ``oshape → ishape``, so the names are put right here, once.
    """

    @functools.wraps(hook)
    def _inverse(self):
        inv = hook(self)
        if inv is None or (inv._ishape == self._oshape and inv._oshape == self._ishape):
            return inv
        if inv._isize != self._osize or inv._osize != self._isize:
            raise ShapeError(
                f"{type(self).__name__}._inverse() returned {type(inv).__name__} with sizes "
                f"{tuple(inv._osize)}←{tuple(inv._isize)}; the inverse of a {tuple(self._osize)}←{tuple(self._isize)} "
                "operator must map its output sizes back to its input sizes"
            )

        return swapped(inv, self)  # A⁻¹: oshape → ishape

    _inverse._swaps_names = True
    return _inverse


def _normalize_tags(tags):
    """Sorted tags with their implications: pd ⇒ psd ⇒ hermitian."""
    tags = set(tags)
    if "pd" in tags:
        tags.add("psd")
    if "psd" in tags:
        tags.add("hermitian")
    return tuple(sorted(tags))


class _FrozenOp(tuple):
    """A comparable description ``(cls, items)`` of a weightless operator (flatten context)."""


def _freeze(v):
    if not _is_op(v):
        return v
    items = []
    for k, c in v._state().items():
        if isinstance(c, (tuple, list)):
            c = type(c)(_freeze(e) for e in c)
        items.append((k, _freeze(c)))
    return _FrozenOp((type(v), tuple(items)))


def _thaw(v):
    if isinstance(v, _FrozenOp):
        cls, items = v
        return _rebuild(
            cls,
            {
                k: (
                    type(c)(_thaw(e) for e in c)
                    if isinstance(c, (tuple, list)) and not isinstance(c, _FrozenOp)
                    else _thaw(c)
                )
                for k, c in items
            },
        )
    return v


_SAFE_KEYS = {}  # class → attribute names already checked for shadowing (checked once, not per build)


def _check_shadowing(cls, state):
    """Refuse state attributes that hide a Tensor/LinearOperator member (``FFT.norm`` would break ``A.norm()``)."""
    safe = _SAFE_KEYS.setdefault(cls, set())
    new = [k for k in state if k not in safe and k not in _META and k != _CACHE]
    shadowed = [k for k in new if hasattr(cls, k)]
    if shadowed:
        raise TypeError(
            f"{cls.__name__}.__init__ stores attribute(s) {shadowed} that hide methods or properties of "
            "LinearOperator/torch.Tensor (e.g. 'weights', 'inverse', 'T'); rename them"
        )
    safe.update(new)


def _init_signature(cls):
    """``cls(...)``'s signature: its ``__init__`` without ``self`` (``inspect.signature(ll.FFT)``)."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # an __init__ without introspectable signature
        return None
    params = list(sig.parameters.values())
    return sig.replace(parameters=params[1:])


class _OperatorMeta(torch._C._TensorMeta):
    """Runs a subclass's plain ``__init__`` first, then builds the wrapper of the right size.

    A wrapper subclass must know its size, dtype and device when the tensor is created,
    but an ordinary ``__init__`` only learns them when it calls ``super().__init__``. So
    ``__init__`` runs on a placeholder instance; its ``__dict__`` moves to the real wrapper.
    """

    def __call__(cls, *args, **kwargs):
        proto = torch.Tensor._make_wrapper_subclass(cls, (0, 0))
        proto.__dict__[_CACHE] = {}
        cls.__init__(proto, *args, **kwargs)
        state = proto.__dict__
        if "_shape" not in state:
            raise TypeError(
                f"{cls.__name__}.__init__ must call super().__init__(ishape=..., oshape=..., "
                "isize=..., osize=..., dtype=..., device=...)"
            )
        _check_shadowing(cls, state)
        state[_CACHE].pop(_TENSORS, None)  # collected during __init__, perhaps before every weight was stored
        obj = torch.Tensor._make_wrapper_subclass(cls, state["_shape"], dtype=state["_dtype"], device=state["_device"])
        obj.__dict__.update(state)
        state.clear()
        return obj


class LinearOperator(torch.Tensor, metaclass=_OperatorMeta):
    """A lazy linear map between named shapes that torch sees as a 2-D matrix.

    Subclass it with a plain ``__init__`` that calls ``super().__init__(...)`` and stores
    weights as attributes, then implement ``_apply(x)`` and ``_apply_adjoint(y)``:

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> class Double(ll.LinearOperator):
    ...     def __init__(self, n):
    ...         super().__init__(ishape="N", oshape="N", isize=(n,), osize=(n,))
    ...     def _apply(self, x):
    ...         return 2 * x
    ...     def _apply_adjoint(self, y):
    ...         return 2 * y
    >>> A = Double(3)
    >>> A.shape, (A @ torch.ones(3)).tolist()
    (torch.Size([3, 3]), [2.0, 2.0, 2.0])

    Parameters
    ----------
    ishape : str or tuple of str, optional
        Input dim names (``"HW"`` or ``("H", "W")``), one per input dim, unique. When None:
        ``oshape`` if the sizes agree, else positional names (``d0, …`` when both are None
        and the sizes agree, ``i0, …`` otherwise).
    oshape : str or tuple of str, optional
        Output dim names; when None, ``ishape`` if the sizes agree, else positional names
        (``o0, …``).
    isize : int or tuple of int
        Input sizes (keyword-only, required); the matrix has ``prod(isize)`` columns.
    osize : int or tuple of int
        Output sizes (keyword-only, required); the matrix has ``prod(osize)`` rows.
    dtype : torch.dtype, optional
        Dtype of the dense matrix (floating or complex); ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Where inputs live; the CPU when None.
    tags : iterable of str
        Structural properties: ``"hermitian"``, ``"psd"``, ``"pd"``, ``"unitary"``
        (``pd`` implies ``psd``, which implies ``hermitian``).

    Raises
    ------
    ShapeError
        Sizes that are not non-negative ints, or names that do not fit the sizes or repeat.
    DtypeError
        ``dtype`` is not a floating or complex dtype.

    The hooks, in one table. A subclass overrides only those its structure answers; each
    default is correct for any operator, and ``ll.testing.check_operator`` checks every hook a
    class defines against its dense matrix.

    =====================  ==========================================  =========================
    hook                   returns                                     default
    =====================  ==========================================  =========================
    ``_apply(x)``          ``A x`` on named input ``(*batch, *isize)``  required
    ``_apply_adjoint(y)``  ``Aᴴ y`` on ``(*batch, *osize)``              required
    ``_adjoint()``         the operator ``Aᴴ`` (names swapped)           lazy ``Adjoint``
    ``_conj()``            the operator ``Ā``                           lazy ``Conj``
    ``_normal()``          the operator ``AᴴA`` (``A.N``)                ``Aᴴ @ A``, simplified
    ``_diagonal()``        the main diagonal as a vector, or None       None
    ``_inverse()``         an exact structural ``A⁻¹``, or None          None (solvers iterate)
    ``_slogdet()``         ``(sign, log|det|)`` of a square A, or None  None (densify/refuse)
    ``_split(tile)``       the block for ``{dim: slice}``               refuse with ShapeError
    ``_to_dense()``        the dense ``(M, N)`` matrix                   apply to the identity
    ``_renamed(i, o)``     the operator with new dim names              rebuilt state
    ``_lazy_tags()``       value-derived tags (computed on request)     none
    ``_repr_extra()``      a short parameter string for ``repr``        ""
    =====================  ==========================================  =========================

    Pair structure (``L @ R``, ``L + R``) is not a hook but a rule: ``compose_rule`` /
    ``add_rule`` in ``core/algebra.py``, used beside the family's classes.
    """

    # Names of floating weights that stay real when the operator is cast to complex
    # (locations, tables); other floating/complex weights follow the operator's dtype.
    _real_weights = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        torch.serialization.add_safe_globals([cls])
        cls.__signature__ = _init_signature(cls)  # what ll.FFT? and Shift-Tab show (the metaclass hides __init__)
        hook = cls.__dict__.get("_inverse")
        if hook is not None and not getattr(hook, "_swaps_names", False):
            cls._inverse = _inverse_with_swapped_names(hook)  # every hook's result passes through here

    def __init__(self, *, ishape=None, oshape=None, isize, osize, dtype=None, device=None, tags=()):
        isize, osize = as_size(isize, "isize"), as_size(osize, "osize")
        ishape, oshape = resolve_shapes(ishape, oshape, isize, osize)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        d = self.__dict__
        d["_ishape"], d["_oshape"] = ishape, oshape
        d["_isize"], d["_osize"] = isize, osize
        d["_shape"] = torch.Size((prod(osize), prod(isize)))
        d["_dtype"] = check_dtype(dtype, type(self).__name__)
        d["_device"] = as_device(device)
        d["_tags"] = _normalize_tags(tags)
        d.setdefault(_CACHE, {})
        _set_fast(d)

    # ------------------------------------------------------------------ metadata
    ishape = property(lambda self: self._ishape, doc="Input dim names (tuple of str).")
    oshape = property(lambda self: self._oshape, doc="Output dim names (tuple of str).")
    isize = property(lambda self: self._isize, doc="Input sizes (torch.Size).")
    osize = property(lambda self: self._osize, doc="Output sizes (torch.Size).")
    shape = property(lambda self: self._shape, doc="``(prod(osize), prod(isize))``.")
    dtype = property(lambda self: self._dtype, doc="The dtype of ``to_dense()``.")
    device = property(lambda self: self._device, doc="Where inputs live (``idevice``).")
    idevice = property(lambda self: self._device, doc="Device of inputs (the operator's ``device``).")
    odevice = property(lambda self: self._device, doc="Device of outputs (differs across ``ToDevice``).")
    ndim = property(lambda self: 2)

    @property
    def tags(self):
        """Structural properties (hermitian, psd, pd, unitary): set at construction, plus any
        derived from weight values on first request (``_lazy_tags``; one host sync, cached)."""
        if type(self)._lazy_tags is LinearOperator._lazy_tags:
            return frozenset(self._tags)

        def build():
            extra = self._lazy_tags()
            return frozenset(_normalize_tags((*self._tags, *extra)) if extra else self._tags)

        return self._memo("tags", build)  # memoised: the repr shows them once asked for (_repr_tags)

    def _lazy_tags(self):
        """Hook: tags that need the weight values; computed only when asked for (never in repr)."""
        return ()

    def _repr_tags(self):
        """``(tags, complete)`` for the repr without touching data: ``A.tags`` when known (no value-derived
        tags, or ``A.tags`` already asked for), else the structural tags and ``complete=False``."""
        if type(self)._lazy_tags is LinearOperator._lazy_tags:
            return frozenset(self._tags), True
        known = self._fresh_cache().get("tags")
        return (known, True) if known is not None else (frozenset(self._tags), False)

    is_cuda = property(lambda self: self._device.type == "cuda")
    is_cpu = property(lambda self: self._device.type == "cpu")
    is_meta = property(lambda self: self._device.type == "meta")

    def size(self, dim=None):
        return self._shape if dim is None else self._shape[dim]

    def dim(self):
        return 2

    def numel(self):
        return self._shape[0] * self._shape[1]

    def __len__(self):
        return self._shape[0]

    def __hash__(self):
        return id(self)

    # ------------------------------------------------------------------ state
    def _state(self):
        """Everything in ``__dict__`` but the cache and derived fields (metadata included)."""
        return {k: v for k, v in self.__dict__.items() if k != _CACHE and k != "_fast"}

    def _items(self):
        """``(key, value)`` of the operator's own state (no metadata, no cache)."""
        return [(k, v) for k, v in self.__dict__.items() if k != _CACHE and k not in _META]

    def children(self):
        """The child operators, in state order."""
        out = []
        for _, v in self._items():
            if _is_op(v):
                out.append(v)
            elif isinstance(v, (tuple, list)):
                out.extend(c for c in v if _is_op(c))
        return out

    def weights(self):
        """``{name: tensor}`` of this operator's own weights (not its children's)."""
        out = {}
        for k, v in self._items():
            if isinstance(v, torch.Tensor) and not _is_op(v):
                out[k] = v
            elif isinstance(v, (tuple, list)):
                for i, c in enumerate(v):
                    if isinstance(c, torch.Tensor) and not _is_op(c):
                        out[f"{k}.{i}"] = c
        return out

    def _map(self, fn_weight, fn_child, **meta):
        """A new operator of the same class with weights/children mapped and metadata set."""

        def one(key, v):
            if _is_op(v):
                return fn_child(v)
            if isinstance(v, torch.Tensor):
                return fn_weight(key, v)
            if isinstance(v, (tuple, list)) and any(isinstance(c, torch.Tensor) for c in v):
                return type(v)(one(key, c) for c in v)
            return v

        state = {k: (v if k in _META else one(k, v)) for k, v in self._state().items()}
        state.update(meta)
        return _rebuild(type(self), state)

    def _flat_weights(self, out=None):
        """The floating/complex weights of the whole tree, in ``_map`` order (children recursed)."""
        out = [] if out is None else out
        for _, v in self._items():
            for item in v if isinstance(v, (tuple, list)) else (v,):
                if _is_op(item):
                    item._flat_weights(out)
                elif isinstance(item, torch.Tensor) and (item.is_floating_point() or item.is_complex()):
                    out.append(item)
        return out

    def _with_weights(self, weights):
        """This operator rebuilt with its floating weights (``_flat_weights`` order) replaced."""
        it = iter(weights)

        def weight(key, w):
            return next(it) if (w.is_floating_point() or w.is_complex()) else w

        def child(c):
            return c._map(weight, child)

        return self._map(weight, child)

    @property
    def requires_grad(self):
        return any(w.requires_grad for w in self.weights().values()) or any(c.requires_grad for c in self.children())

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every floating leaf weight (recursively); returns self."""
        for w in self.weights().values():
            if (w.is_floating_point() or w.is_complex()) and w.is_leaf:
                w.requires_grad_(requires_grad)
        for c in self.children():
            c.requires_grad_(requires_grad)
        return self

    def detach(self):
        """The same operator with detached weights."""
        return self._map(lambda k, w: w.detach(), lambda c: c.detach())

    def clone(self, *args, **kwargs):
        """The same operator with cloned weights (operators are immutable: rarely needed)."""
        return self._map(lambda k, w: w.clone(), lambda c: c.clone())

    def contiguous(self, *args, **kwargs):
        return self

    def copy_(self, src, non_blocking=False):
        """Take the weights of an identically structured operator (``load_state_dict``).

        The operator's weight tensors are replaced by copies of ``src``'s: no tensor the
        caller passed in is written to.
        """
        if not _is_op(src) or type(src) is not type(self) or src.shape != self.shape:
            raise ImmutableError(
                f"copy_ into {type(self).__name__} {self.shape} needs an identically structured "
                f"operator, got {type(src).__name__} {tuple(getattr(src, 'shape', ()))}; operators are "
                "immutable — build a new one instead"
            )
        mine, theirs = self._items(), dict(src._items())
        for k, v in mine:
            w = theirs.get(k)
            if _is_op(v):
                v.copy_(w, non_blocking)
            elif isinstance(v, torch.Tensor):
                if not isinstance(w, torch.Tensor) or w.shape != v.shape:
                    raise ImmutableError(f"copy_: weight {k!r} of {type(self).__name__} differs in structure")
                self.__dict__[k] = w.detach().to(v.device, v.dtype, copy=True).requires_grad_(v.requires_grad)
            elif isinstance(v, (tuple, list)):
                new = []
                for a, b in zip(v, w):
                    if _is_op(a):
                        a.copy_(b, non_blocking)
                        new.append(a)
                    elif isinstance(a, torch.Tensor):
                        new.append(b.detach().to(a.device, a.dtype, copy=True))
                    else:
                        new.append(a)
                self.__dict__[k] = type(v)(new)
        self.__dict__[_CACHE] = {}
        _EPOCH[0] += 1  # parents holding this operator collect their tensors again (never stale)
        return self

    # ------------------------------------------------------------------ serialization
    def __reduce_ex__(self, protocol):
        state = self._state()
        state["_isize"], state["_osize"] = tuple(self._isize), tuple(self._osize)
        state["_shape"] = tuple(self._shape)
        return (_rebuild_operator, (type(self), state))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = _rebuild(type(self), copy.deepcopy(self._state(), memo))
        memo[id(self)] = out
        return out

    def __copy__(self):
        return _rebuild(type(self), self._state())

    def __tensor_flatten__(self):
        """Inner tensors (weights, weighted children) by attribute name; the rest is context.

        Weightless children (FFT, Identity …) go into the context as frozen descriptions:
        torch expects every inner "tensor" of a traceable subclass to hold real tensors.
        """
        names, static, seqs = [], {}, {}
        for k, v in self._state().items():
            if isinstance(v, torch.Tensor) and not (_is_op(v) and not v._has_tensors()):
                names.append(k)
            elif isinstance(v, (tuple, list)) and any(isinstance(c, torch.Tensor) for c in v):
                kinds = []
                for i, c in enumerate(v):
                    tensor = isinstance(c, torch.Tensor) and not (_is_op(c) and not c._has_tensors())
                    if tensor:
                        names.append(f"{k}{_SEP}{i}")
                    kinds.append((tensor, None if tensor else _freeze(c)))
                seqs[k] = (type(v), tuple(kinds))
            else:
                static[k] = _freeze(v)
        return names, (type(self), static, seqs)

    @staticmethod
    def __tensor_unflatten__(inner_tensors, ctx, outer_size, outer_stride):
        cls, static, seqs = ctx
        state = {k: _thaw(v) for k, v in static.items()}
        for k, (typ, kinds) in seqs.items():
            state[k] = typ(inner_tensors[f"{k}{_SEP}{i}"] if t else _thaw(c) for i, (t, c) in enumerate(kinds))
        state.update((k, t) for k, t in inner_tensors.items() if _SEP not in k)
        return _rebuild(cls, state)

    def _has_tensors(self):
        """Whether any weight is held in this operator's tree."""
        return bool(self.weights()) or any(c._has_tensors() for c in self.children())

    def __getattr__(self, name):
        # ``__tensor_flatten__`` names tensors inside tuples as "key__lli" (no dots: dynamo).
        key, dot, idx = name.rpartition(_SEP)
        if dot and idx.isdigit() and key in self.__dict__:
            return self.__dict__[key][int(idx)]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # ------------------------------------------------------------------ moves
    def to(self, *args, **kwargs):
        """A new operator with moved/cast weights; ``A.to(dtype).dtype == dtype``."""
        kwargs = dict(kwargs)
        copy = kwargs.pop("copy", False)  # Tensor.to's copy=, which _parse_to does not read
        try:
            device, dtype, non_blocking, _ = torch._C._nn._parse_to(*args, **kwargs)
        except (RuntimeError, TypeError) as exc:
            raise DeviceError(
                f"{type(self).__name__}.to{args}: could not read a device or dtype ({exc}); "
                "use e.g. A.to('cuda:0'), A.to(torch.float64) or A.to(x)"
            ) from None
        return self._to(device, dtype, non_blocking, copy)

    def _to(self, device=None, dtype=None, non_blocking=False, copy=False):
        device = self._device if device is None else as_device(device)
        dtype = self._dtype if dtype is None else check_dtype(dtype, f"{type(self).__name__}.to")
        if device == self._device and dtype == self._dtype and not copy:
            return self
        if self._dtype.is_complex and not dtype.is_complex:
            warn(
                f"casting complex operator {type(self).__name__} to {dtype} keeps the real part "
                "of its dense matrix, as Tensor.to does",
                UserWarning,
            )
            # Re(A) rounded once to dtype, as Tensor.to does: 16-bit dtypes keep A's own complex precision
            mid = complex_dtype(dtype) if dtype in (torch.float32, torch.float64) else self._dtype
            return RealPart(self._to(device, mid, non_blocking, copy), dtype)
        real = self._real_weights

        def weight(key, w):
            if w.is_floating_point() or w.is_complex():
                wd = real_dtype(dtype) if key in real else dtype
                return w.to(device=device, dtype=wd, non_blocking=non_blocking, copy=copy)
            return w.to(device=device, non_blocking=non_blocking, copy=copy)

        return self._map(weight, lambda c: c._to(device, dtype, non_blocking, copy), _dtype=dtype, _device=device)

    def cpu(self, *args, **kwargs):
        return self._to(torch.device("cpu"))

    def cuda(self, device=None, *args, **kwargs):
        if isinstance(device, int):
            device = f"cuda:{device}"
        return self._to(as_device("cuda" if device is None else device))

    def float(self, *a, **k):
        return self._to(dtype=torch.float32)

    def double(self, *a, **k):
        return self._to(dtype=torch.float64)

    def half(self, *a, **k):
        return self._to(dtype=torch.float16)

    def bfloat16(self, *a, **k):
        return self._to(dtype=torch.bfloat16)

    def cfloat(self, *a, **k):
        return self._to(dtype=torch.complex64)

    def cdouble(self, *a, **k):
        return self._to(dtype=torch.complex128)

    def type(self, dtype=None, non_blocking=False, **kwargs):
        if dtype is None:
            with DisableTorchFunctionSubclass():
                return torch.Tensor.type(self)
        if isinstance(dtype, str):
            dtype = {"torch.FloatTensor": torch.float32, "torch.DoubleTensor": torch.float64}.get(dtype)
            if dtype is None:
                raise DtypeError("LinearOperator.type: pass a torch.dtype such as torch.float64")
        return self._to(dtype=dtype)

    # ------------------------------------------------------------------ apply
    def _apply(self, x):
        raise NotImplementedError(f"{type(self).__name__} must implement _apply(x)")

    def _apply_adjoint(self, y):
        raise NotImplementedError(f"{type(self).__name__} must implement _apply_adjoint(y)")

    def _prepare(self, x, size, what):
        """Check an input's type, dtype, device and trailing sizes; promote its dtype."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} {what}: expected a torch.Tensor, got {type(x).__name__}; "
                "convert with torch.as_tensor(x)"
            )
        xd = x.dtype
        if xd is not self._dtype:
            if not (xd.is_floating_point or xd.is_complex):
                check_dtype(xd, f"{type(self).__name__} {what}")
            x = x.to(promote(self._dtype, xd))
        n = len(size)
        xs = x.shape
        if xs[len(xs) - n :] != size or len(xs) < n:
            names = self._ishape if size is self._isize else self._oshape
            raise ShapeError(
                f"{type(self).__name__} {what}: expected input of shape (*batch, {', '.join(map(str, size))}) "
                f"for named shape {fmt_names(names, size)}, got {tuple(xs)}; reshape the input so its "
                "trailing dims match (batch dims lead)"
            )
        device = self._device if size is self._isize else self.odevice
        if x.device != device and device.type != "meta":
            raise DeviceError(
                f"{type(self).__name__} {what}: operator is on {device}, input on {x.device}; "
                f"move one of them, e.g. x.to('{device}') or A.to('{x.device}')"
            )
        return x

    def __call__(self, x):
        """Named apply: ``x.shape == (*batch, *isize)`` → ``(*batch, *osize)``."""
        if x.__class__ is _Tensor and x.shape == self._isize and x.dtype is self._dtype and x.device == self._device:
            if self._shape.numel():  # hot path: an unbatched input of the operator's dtype
                return unaliased(self._apply(x), x)
        if _is_op(x):
            return self @ x
        xp = self._prepare(x, self._isize, "apply")
        if not (xp.numel() and self._shape[0]):
            return self._empty(xp, (*xp.shape[: xp.dim() - len(self._isize)], *self._osize), self.odevice)
        return unaliased(self._apply(xp), x)

    apply = __call__

    # ------------------------------------------------------------------ scipy / PyLops habits
    def matvec(self, x):
        """``A x`` for a flat vector ``x`` of shape ``(N,)`` or ``(N, 1)``; numpy in gives numpy out.

        The scipy/PyLops spelling of ``A @ x`` (``ll.aslinearoperator(A)`` hands it to scipy).

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray
            ``(N,)`` or ``(N, 1)`` with ``N = A.shape[1]``.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(M,)`` or ``(M, 1)``, of the same kind as ``x``.

        Examples
        --------
        >>> import numpy as np, torch, lazylinops as ll
        >>> ll.Diagonal(torch.tensor([1.0, 2.0])).matvec(np.ones(2)).tolist()
        [1.0, 2.0]
        """
        return _host_io(self, x, "matvec", (self._shape[1],), lambda t: self @ t)

    def rmatvec(self, y):
        """``Aᴴ y`` for a flat vector ``y`` of shape ``(M,)`` or ``(M, 1)``; numpy in gives numpy out.

        Parameters
        ----------
        y : torch.Tensor or numpy.ndarray
            ``(M,)`` or ``(M, 1)`` with ``M = A.shape[0]``.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(N,)`` or ``(N, 1)``, of the same kind as ``y``.
        """
        return _host_io(self, y, "rmatvec", (self._shape[0],), lambda t: self.H @ t)

    def matmat(self, X):
        """``A X`` for a matrix ``X`` of shape ``(N, K)``; numpy in gives numpy out.

        Parameters
        ----------
        X : torch.Tensor or numpy.ndarray
            ``(N, K)`` with ``N = A.shape[1]``.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(M, K)``, of the same kind as ``X``.
        """
        return _host_io(self, X, "matmat", (self._shape[1], None), lambda t: self @ t)

    def rmatmat(self, Y):
        """``Aᴴ Y`` for a matrix ``Y`` of shape ``(M, K)``; numpy in gives numpy out.

        Parameters
        ----------
        Y : torch.Tensor or numpy.ndarray
            ``(M, K)`` with ``M = A.shape[0]``.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(N, K)``, of the same kind as ``Y``.
        """
        return _host_io(self, Y, "rmatmat", (self._shape[0], None), lambda t: self.H @ t)

    def _apply_transpose(self, y):
        # Aᵀ y = conj(Aᴴ conj(y))
        if y.is_complex():
            return self._apply_adjoint(y.conj()).conj().resolve_conj()
        out = self._apply_adjoint(y)
        return out.resolve_conj() if out.is_complex() else out

    def _matmul(self, x):
        """Torch matmul semantics of the matrix on a plain tensor ``x``."""
        nd = x.dim()
        M, N = self._shape
        if nd == 1:
            if x.shape[0] != N:
                raise self._matmul_error(x, "A @ x")
            size = self._isize
            xv = x.view(*size) if size and x.is_contiguous() else x.reshape(size)  # ints parse faster than a Size
            if xv.dtype is not self._dtype or xv.device != self._device:
                xv = self._prepare(xv, size, "A @ x")  # the shape is right: promote the dtype, check the device
            if not (M and N):
                return self._empty(xv, (M,), self.odevice)
            return unaliased(self._apply(xv).reshape(M), x)
        if nd == 0 or x.shape[-2] != N:
            raise self._matmul_error(x, "A @ x")
        batch, K = x.shape[:-2], x.shape[-1]
        xt = self._prepare(x.transpose(-1, -2).reshape(*batch, K, *self._isize), self._isize, "A @ x")
        if not (M and xt.numel()):
            return self._empty(xt, (*batch, M, K), self.odevice)
        y = self._apply(xt)
        return unaliased(y.reshape(*batch, K, M).transpose(-1, -2), x)

    def _rmatmul(self, x):
        """``x @ A`` for a plain tensor ``x``: rows of ``x`` times the matrix."""
        nd = x.dim()
        M, N = self._shape
        if nd == 0 or x.shape[-1] != M:
            raise self._matmul_error(x, "x @ A")
        lead = x.shape[:-1]
        rows = self._prepare(x.reshape(*lead, *self._osize), self._osize, "x @ A")
        if not (N and rows.numel()):
            return self._empty(rows, (*lead, N), self._device)
        return unaliased(self._apply_transpose(rows).reshape(*lead, N), x)

    def _empty(self, x, shape, device):
        """The result when a dim is 0: zeros (an empty sum is 0) in ``x``'s promoted dtype, ``_apply`` not called."""
        y = torch.zeros(shape, dtype=x.dtype, device=device)
        return y + x.sum().to(device) if x.requires_grad else y  # x is empty or y is: keeps the graph to x

    def _matmul_error(self, x, what):
        M, N = self._shape
        need = f"(..., {N}, K) or ({N},)" if what == "A @ x" else f"(..., K, {M}) or ({M},)"
        return ShapeError(
            f"{what}: {type(self).__name__} is a {M}×{N} matrix "
            f"{fmt_names(self._oshape, self._osize)}←{fmt_names(self._ishape, self._isize)}, "
            f"got x of shape {tuple(x.shape)}; x must have shape {need}. "
            "For named input use A(x) with x of shape (*batch, *A.isize)"
        )

    def __matmul__(self, other):
        # hot path: a vector operator applied to a plain vector of its own dtype and device
        vec, dtype, device = self.__dict__["_fast"]
        if other.__class__ is _Tensor and other.shape == vec and other.dtype is dtype and other.device == device:
            return unaliased(self._apply(other), other)
        if _is_op(other):
            return compose(self, other, user=True)
        if isinstance(other, torch.Tensor):
            return self._matmul(other)
        return NotImplemented

    def __rmatmul__(self, other):
        if _is_op(other):
            return compose(other, self, user=True)
        if isinstance(other, torch.Tensor):
            return self._rmatmul(other)
        return NotImplemented

    # ------------------------------------------------------------------ derived operators
    _KEPT_TAGS = frozenset(("hermitian", "pd", "psd", "unitary"))

    def _tree_tensors(self):
        """Every tensor in the operator's tree (children's weights included), collected once.

        The state is fixed after construction, so the list is kept in the cache, across
        clears; ``copy_`` (which swaps a subtree's tensors) bumps ``_EPOCH``, which makes every
        operator — parents of the copied one included — collect its list again.
        """
        cache = self.__dict__[_CACHE]
        ts = cache.get(_TENSORS)
        if ts is None or cache.get(_TENSORS_EPOCH) != _EPOCH[0]:
            out = []
            for _, v in self._items():
                for item in v if isinstance(v, (tuple, list)) else (v,):
                    if _is_op(item):
                        out.extend(item._tree_tensors())
                    elif isinstance(item, torch.Tensor):
                        out.append(item)
            ts = cache[_TENSORS] = tuple(out)
            cache[_TENSORS_EPOCH] = _EPOCH[0]
        return ts

    def _version_key(self):
        """The version counters of every tensor in the operator's tree (weights of children included).

        ``tensor._version`` grows with every in-place write (an optimizer step on an
        ``nn.Parameter`` weight), so a cache stamped with this key is stale exactly when it differs.
        """
        return tuple([t._version for t in self._tree_tensors()])

    def _fresh_cache(self):
        """The operator's cache of weight-derived values, emptied first if any weight changed in place.

        Every cache of a value derived from weights (factors, normals, inverses, value tags,
        Toeplitz kernels, plans) lives here and is read through this method: never stale.
        A weightless tree costs a few dict lookups.
        """
        cache = self.__dict__[_CACHE]
        old = cache.get(_TENSORS)
        ts = self._tree_tensors()  # collected again (a new tuple) only after a copy_ somewhere
        swapped = (
            old is not None and ts is not old and (len(old) != len(ts) or any(a is not b for a, b in zip(old, ts)))
        )
        if ts or swapped:
            key = tuple([t._version for t in ts])
            if swapped or cache.get(_VERSIONS, key) != key:
                cache.clear()
                cache[_TENSORS], cache[_TENSORS_EPOCH] = ts, _EPOCH[0]
            cache[_VERSIONS] = key
        return cache

    def _memo(self, key, build):
        """``build()``, computed once per state of the operator's weights (the one memo everyone uses).

        Every value derived from weights — factors, plans, normals, inverses, value tags, solver
        facts — is kept here under a hashable ``key`` and recomputed after any weight in the tree
        changed in place (version counters) or was swapped (``copy_``): never stale. ``build()``
        may return None (remembered too).
        """
        cache = self._fresh_cache()
        out = cache.get(key, _MISSING)
        if out is _MISSING:
            out = cache[key] = build()
        return out

    def _involution(self, key, build):
        """``A.H`` / ``A.conj()``: built once, cached both ways (``A.H.H is A``), tags kept."""
        cache = self._fresh_cache()
        out = cache.get(key)
        if out is None:
            out = build()
            kept = self._KEPT_TAGS.intersection(self._tags)
            if kept and out is not self:
                out = out._with_tags(*kept)  # Aᴴ and conj(A) are hermitian / pd / psd / unitary when A is
            if out is not self:
                back = out._fresh_cache().get(key)
                if back is not None and back is not self:
                    # ``out`` (e.g. the child an Adjoint wraps) already pairs with another operator:
                    # a twin of it pairs with this one, so both keep A.H.H is A
                    out = _rebuild(type(out), out._state())
                out._fresh_cache()[key] = self
            cache[key] = out
        return out

    @property
    def H(self):
        """The adjoint, lazy; ``A.H.H is A``."""
        return self._involution("H", self._adjoint)

    mH = H

    def adjoint(self):
        return self.H

    def _adjoint(self):
        return Adjoint(self)

    def conj(self):
        """Elementwise conjugate of the matrix (lazy); the operator itself if real."""
        return self._involution("conj", self._conj) if self._dtype.is_complex else self

    def _conj(self):
        return Conj(self)

    def resolve_conj(self):
        return self

    def conj_physical(self):
        return self.conj()

    @property
    def T(self):
        """The transpose ``conj(Aᴴ)``, lazy."""
        return self.H.conj()

    mT = T

    def t(self):
        return self.T

    def transpose(self, dim0, dim1):
        check_dim((dim0, dim1), "transpose")
        return self.T if dim0 % 2 != dim1 % 2 else self  # swapping a dim with itself is the identity

    @property
    def N(self):
        """The normal operator ``Aᴴ A``, structurally simplified."""
        return self._memo("N", lambda: self._normal()._with_tags("psd"))

    def _init_like(self, op, adjoint=False, tags=(), dtype=None, device=None):
        """``__init__`` on ``op``'s shapes (swapped for Aᴴ), dtype and device, already validated there.

        ``dtype``/``device`` override ``op``'s (e.g. the real dtype of ``Re(A)``, the output
        device of ``A`` for ``Aᴴ``); they must be valid already.
        """
        d, s = self.__dict__, op.__dict__
        i, o = ("_o", "_i") if adjoint else ("_i", "_o")
        d["_ishape"], d["_oshape"] = s[i + "shape"], s[o + "shape"]
        d["_isize"], d["_osize"] = s[i + "size"], s[o + "size"]
        d["_shape"] = torch.Size((prod(d["_osize"]), prod(d["_isize"])))
        d["_dtype"] = s["_dtype"] if dtype is None else check_dtype(dtype, type(self).__name__)
        d["_device"] = s["_device"] if device is None else device
        d["_tags"] = _normalize_tags(tags)
        d.setdefault(_CACHE, {})
        _set_fast(d)

    def _with_tags(self, *tags):
        """This operator, or a shallow copy carrying the extra structural tags."""
        new = _normalize_tags((*self._tags, *tags))
        if new == self._tags:
            return self
        return _rebuild(type(self), {**self._state(), "_tags": new})

    def _normal(self):
        return generic_normal(self)

    def rename(self, ishape=None, oshape=None):
        """The same operator (same class) with new dim names; names are metadata only."""
        ish = self._ishape if ishape is None else check_names(Dim(ishape), self._isize, "ishape")
        osh = self._oshape if oshape is None else check_names(Dim(oshape), self._osize, "oshape")
        out = self._renamed(ish, osh)
        kept = self._KEPT_TAGS.intersection(self._tags)
        return out._with_tags(*kept) if kept else out  # the same matrix: its structural tags stay true

    def _renamed(self, ishape, oshape):
        """Hook: operators whose state refers to their names override this."""
        return _rebuild(type(self), {**self._state(), "_ishape": ishape, "_oshape": oshape})

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return add(self, other, user=True)

    def __radd__(self, other):
        return add(other, self, user=True)

    def __sub__(self, other):
        if _is_op(other):
            return add(self, scale(other, -1), user=True)  # A - B = A + (-1)·B

        return densify(torch.sub, (self, other), {})  # A - c, A - t: elementwise, dense semantics

    def __rsub__(self, other):
        return densify(torch.sub, (other, self), {})  # c - A, t - A: elementwise (operator - operator is __sub__)

    def __neg__(self):
        return scale(self, -1)

    def __pos__(self):
        return self

    def __mul__(self, other):
        return scale(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return scale_div(self, other)

    # ------------------------------------------------------------------ dense
    def to_dense(self, dtype=None, *, masked_grad=None):
        """The dense matrix ``(M, N)`` as a plain ``torch.Tensor``."""
        check_densify_limit(self, "to_dense")
        dense = self._to_dense()
        return unaliased_from_weights(dense if dtype is None else dense.to(dtype), (self,))  # never a live weight

    def _to_dense(self):
        M, N = self._shape
        if not (M and N):  # an empty matrix: nothing to apply
            return torch.zeros(M, N, dtype=self._dtype, device=self._device)
        eye = torch.eye(N, dtype=self._dtype, device=self._device).reshape(N, *self._isize)
        return self._apply(eye).reshape(N, M).transpose(0, 1).contiguous()

    def _diagonal(self):
        """Hook: the main diagonal as a vector, or None when not structured."""
        return None

    def _inverse(self):
        """Hook: an exact structural inverse operator, or None.

        Contract (``ll.solve`` relies on it): the result equals ``A⁻¹`` whenever ``A`` is invertible,
        and it raises ``torch.linalg.LinAlgError`` or gives a non-finite result only when ``A`` is
        singular (an infinite pivot: Diagonal, Scalar, Zero, Mask, and Chain/Kronecker/block-diagonal
        of such), which the solver reports as ``ll.SingularError``. Two class attributes on the
        returned operator (or any node of it) weaken this: ``_inverse_factored = True`` (a numerical
        factorisation: LU, Cholesky, a capacitance; the solver measures the true residual) and
        ``_inverse_conditional = True`` (the formula needs more than ``A`` invertible, e.g. Woodbury
        needs ``D⁻¹``; a failure then proves nothing and the solver goes on to an iterative method).
        Return None rather than an inverse whose formula is known not to apply.
        """
        return None

    def _slogdet(self):
        """Hook: ``(sign, log|det|)`` of a square operator from its structure, or None.

        Called only when the matrix is square. ``sign`` has the operator's dtype (a unit-modulus
        complex number for complex operators, 0 for a singular matrix), ``log|det|`` its real
        dtype (``-inf`` when singular); both 0-d, equal to ``torch.linalg.slogdet`` of the dense
        matrix. Return None rather than a determinant whose formula does not apply.
        """
        return None

    def _split(self, tile):
        """Hook: the sub-operator (block) for ``tile = {dim_name: slice}``.

        A name in ``oshape`` slices the output (rows), a name in ``ishape`` the input
        (columns). A name in both is sliced on both sides only where the operator is
        elementwise (batch-like) in it; where it is not (a square matrix whose two sides
        share names), ``_split`` must refuse, since a block-diagonal reassembly would drop the
        off-diagonal blocks. Names the operator does not have are ignored; composites whose
        internal dims may be split (summed over tiles: Σₛ A[:, s] B[s, :]) set
        ``_split_internal = True``. Slices have step 1 and are already clipped to the dim's
        size. Operators that cannot be cut along a dim raise ``ShapeError`` naming it. The
        result computes the same values as the block of the dense matrix.
        """

        dims = [d for d in tile if d in self._ishape or d in self._oshape]
        if not dims:
            return self
        raise ShapeError(
            f"{type(self).__name__} cannot be split along {dims}: it implements no _split; "
            "split along other dims or implement _split(tile)"
        )

    def with_tags(self, *, hermitian=None, pd=None, psd=None, unitary=None):
        """The same operator asserting structural properties the solvers rely on.

        ``A.with_tags(hermitian=True, pd=True)`` lets ``solve`` use CG; tags are trusted,
        not verified. ``False`` removes a tag.
        """
        tags = set(self._tags)
        for name, value in (("hermitian", hermitian), ("pd", pd), ("psd", psd), ("unitary", unitary)):
            if value is True:
                tags.add(name)
            elif value is False:
                tags.discard(name)
        return _rebuild(type(self), {**self._state(), "_tags": _normalize_tags(tags)})

    # ------------------------------------------------------------------ display
    def __repr__(self, *, tensor_contents=None):
        return tree(self)

    __str__ = __repr__

    def __format__(self, spec):
        return format(repr(self), spec)

    def _repr_html_(self):
        return html(self)

    def _repr_extra(self):
        """Hook: a short description of parameters for ``repr`` (never touches data)."""
        return ""

    def _repr_children(self):
        """Hook: ``[(label, child)]`` the repr tree shows under this node (never touches data): a label
        (a tile's region and device) or None, and a child operator or None (a label-only entry)."""
        return [(None, c) for c in self.children()]

    # ------------------------------------------------------------------ torch protocol
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch_function(func, types, args, kwargs or {})

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(
            f"lazylinops bug: ATen op {func} reached the storage-less LinearOperator wrapper; "
            "every torch call on an operator must be handled in __torch_function__. "
            "Please report this with the call that triggered it; meanwhile use A.to_dense()."
        )

    # in-place refusals that Python resolves before __torch_function__
    def _immutable(self, *args, **kwargs):
        got = ", ".join(type(a).__name__ for a in args)
        raise ImmutableError(
            f"operators are immutable: in-place operations are not supported (got an in-place update of "
            f"{type(self).__name__} {tuple(self._shape)} with {got or 'no argument'}); "
            "write A = A + B (or A = c * A) to build a new operator"
        )

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __imatmul__ = __setitem__ = _immutable

    def set_(self, *args, **kwargs):
        """Refused: an operator has no storage to repoint (torch skips ``__torch_function__`` for ``set_``)."""
        got = ", ".join(type(a).__name__ for a in args) or "no argument"
        raise ImmutableError(
            f"set_ on {type(self).__name__} {tuple(self._shape)}: operators are immutable and have no storage "
            f"(got {got}); build a new operator, or load weights from an identically structured operator "
            "with A.copy_(B)"
        )


LinearOperator.__signature__ = _init_signature(LinearOperator)
torch.serialization.add_safe_globals([LinearOperator, _rebuild_operator])


def _host_io(A, x, what, shape, apply):
    """``apply(x)`` for the scipy-style methods: numpy in → numpy out (on the host), torch in → torch out.

    ``shape`` is ``(n,)`` (a vector: ``(n,)`` or ``(n, 1)`` accepted) or ``(n, None)`` (a matrix).
    """
    is_numpy = isinstance(x, np.ndarray)
    if not (is_numpy or isinstance(x, torch.Tensor)) or isinstance(x, LinearOperator):
        raise TypeError(
            f"{type(A).__name__}.{what}: expected a numpy array or a torch tensor, got {type(x).__name__}; "
            "for an operator product use A @ B"
        )
    n = shape[0]
    ok = x.shape[:1] == (n,) and (x.ndim == 2 if len(shape) == 2 else x.ndim == 1 or tuple(x.shape) == (n, 1))
    if not ok:
        want = f"({n}, K)" if len(shape) == 2 else f"({n},) or ({n}, 1)"
        raise ShapeError(f"{type(A).__name__}.{what}: expected shape {want}, got {tuple(x.shape)}")
    if not is_numpy:
        return apply(x)
    t = torch.from_numpy(np.ascontiguousarray(x)).to(A._device)
    return apply(t).detach().cpu().numpy()


def _walk(obj, fn):
    """Map ``fn`` over operators inside args (lists/tuples/dicts nested)."""
    if isinstance(obj, LinearOperator):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    return obj


def densify(func, args, kwargs, hint=None):
    """The fallback: replace operators by their dense matrices and call ``func``.

    The dense matrices never share memory with a weight, so functions that write into
    their argument (``F.embedding(max_norm=)``, ``nn.init.orthogonal_``'s ``copy_``) leave
    the operator unchanged. ``hint`` (a sentence) is added to the warning / error message,
    e.g. what structured call the user probably meant.
    """
    hint = f" {hint}" if hint else ""
    mode = get_densify()[0]
    name = torch_name(func)

    def dense(op):
        check_densify_limit(op, name)
        if mode == "error":
            raise DensifyError(
                f"{name} has no structured rule for {type(op).__name__} {tuple(op.shape)} and "
                f"densifying is set to 'error' ({fmt_bytes(dense_nbytes(op))} dense); use a structured "
                f"call or ll.set_densify('warn').{hint}"
            )
        if mode == "warn":
            warn(
                f"{name} has no structured rule for {type(op).__name__} {tuple(op.shape)} {op.dtype}: "
                f"building its dense matrix ({fmt_bytes(dense_nbytes(op))}).{hint} Silence with "
                "ll.set_densify('allow') or make it an error with ll.set_densify('error')",
                DensifyWarning,
            )
        return unaliased_from_weights(op._to_dense(), (op,))

    return func(*_walk(args, dense), **_walk(kwargs, dense))


def torch_function(func, types, args, kwargs):
    """The body of ``LinearOperator.__torch_function__``: rule lookup → metadata → refusal → densify."""
    if kwargs.get("out") is not None:
        out = kwargs["out"]
        raise ImmutableError(
            f"{torch_name(func)}: out= is not supported with operators: operators are immutable and results are "
            f"new tensors or operators (got out={type(out).__name__} {tuple(getattr(out, 'shape', ()))}); "
            "drop out= and assign the result"
        )
    rule = rule_for(func)
    if rule is not None:
        args, kwargs = bind(func, args, kwargs, rule)
        if args and isinstance(args[0], LinearOperator):
            check_dims(func, args, kwargs)
        return rule(*args, **kwargs)
    if is_metadata(func):
        with DisableTorchFunctionSubclass():
            return func(*args, **kwargs)
    target = args[0] if args else next(iter(kwargs.values()), None)  # nn.init passes tensor= by keyword
    if isinstance(target, LinearOperator):
        if getattr(func, "__name__", "") == "__set__":  # ``A.data = t``, ``A.grad = t``: a Tensor attribute setter
            attr = getattr(getattr(func, "__self__", None), "__name__", "an attribute")
            raise ImmutableError(
                f"cannot set {attr!r} of {type(target).__name__} {tuple(target.shape)}: operators are immutable "
                f"(got a {type(args[1]).__name__ if len(args) > 1 else 'value'}); build a new operator from new "
                "weights, or load weights from an identically structured operator with A.copy_(B)"
            )
        how = inplace_request(func, args, kwargs)
        if how is not None:
            raise ImmutableError(
                f"{torch_name(func)}{'(..., inplace=True)' if how == 'flag' else ''}: operators are immutable, "
                f"in-place operations are refused (got {type(target).__name__} {tuple(target.shape)}); build a new "
                "operator, e.g. A = A + B, or densify first with A.to_dense() (and drop inplace=True)"
            )
    return densify(func, args, kwargs)


def relabel(op, ishape, oshape):
    """``op`` carrying the dim names ``ishape``/``oshape`` (same sizes; names are metadata only).

    Structural hooks and rules build results from one side's names (``Diagonal(w, ishape)``);
    this puts the names the result must carry back (``Aᴴ`` swaps them, ``A @ B`` keeps the outer
    ones). A class that refuses the names (``Permutation`` needs equal names) gets name-only
    ``Reshape`` factors around it.
    """
    if op.ishape == ishape and op.oshape == oshape:
        return op
    try:
        out = op._renamed(ishape, oshape)
    except ShapeError:
        ops = [op]
        if op.oshape != oshape:
            ops.insert(0, Reshape(op.osize, op.osize, op.oshape, oshape, dtype=op.dtype, device=op.odevice))
        if op.ishape != ishape:
            ops.append(Reshape(op.isize, op.isize, ishape, op.ishape, dtype=op.dtype, device=op.device))
        out = Chain(*ops)
    return out._with_tags(*op._tags)  # the same matrix: its structural tags stay true


def swapped(op, like):
    """``op`` (an adjoint built from ``like``'s input names) with ``like``'s names swapped: (Aᴴ: oshape → ishape)."""
    return relabel(op, like.oshape, like.ishape)


def same_names(op, like):
    """``op`` (e.g. ``conj(A)`` built from ``like``'s input names) with ``like``'s names."""
    return relabel(op, like.ishape, like.oshape)


# The one seam (DESIGN §9): the base builds ``A @ B``, ``A + B``, ``Aᴴ`` and renamed operators out
# of nodes that are defined on top of it. These modules import ``LinearOperator`` from here, so
# they are imported last, once the class exists; algebra first (it imports basic and combinators).
from .algebra import add, compose, generic_normal, scale, scale_div  # noqa: E402
from .basic import Reshape  # noqa: E402
from .combinators import Adjoint, Chain, Conj, RealPart  # noqa: E402
