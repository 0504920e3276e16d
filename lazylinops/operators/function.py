"""Matrix-free operators from Python functions: ``FromFunction``."""

import pickle

import torch

from ..core.base import LinearOperator
from ..dims import fmt_names
from ..dtypes import check_dtype
from ..errors import ShapeError


def _name(fn):
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


class FromFunction(LinearOperator):
    """A linear map given by a torch function ``fn`` (``x (*batch, *isize) → (*batch, *osize)``).

    ``adjoint`` (same calling convention, ``osize → isize``) is optional: without it ``Aᴴ y``
    is the vector–Jacobian product of ``fn`` at ``x = 0`` — for a (complex-)linear ``fn``
    torch's conjugate-Wirtinger backward returns exactly ``Aᴴ y`` — one forward and one
    backward pass per call, differentiable (gradients flow through ``y`` and any tensor
    ``fn`` closes over). ``fn`` must be linear and accept leading batch dims; check it with
    ``ll.testing.check_operator``. Weightless: computes in the promoted input dtype; a real
    operator (``dtype`` real) calls ``fn`` on real tensors only (``A x = A Re x + i A Im x``).

    Serialization: ``fn`` (and ``adjoint``) are pickled by reference, so they must be
    module-level functions; ``torch.load(weights_only=True)`` additionally needs them
    registered with ``torch.serialization.add_safe_globals([fn])``. Lambdas and local
    functions raise a clear ``pickle.PicklingError`` (``copy.deepcopy`` still works).

    Parameters
    ----------
    fn : callable
        The linear map, ``fn(x)`` with ``x`` of shape ``(*batch, *isize)`` returning
        ``(*batch, *osize)``.
    isize : int or tuple of int
        Input sizes.
    osize : int or tuple of int
        Output sizes.
    ishape : str or tuple of str, optional
        Input dim names; positional names when None (``oshape`` when the sizes agree).
    oshape : str or tuple of str, optional
        Output dim names; positional names when None (``ishape`` when the sizes agree).
    adjoint : callable, optional
        ``Aᴴ``, ``adjoint(y)`` with ``y`` of shape ``(*batch, *osize)`` returning
        ``(*batch, *isize)``; a vector–Jacobian product of ``fn`` when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.

    Raises
    ------
    TypeError
        ``fn`` is not callable, or ``adjoint`` is neither callable nor None.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> A = ll.FromFunction(lambda x: torch.cumsum(x, -1), (4,), (4,))
    >>> A.H(torch.ones(4)).tolist()
    [4.0, 3.0, 2.0, 1.0]

    Dense equivalent: ``torch.func.jacrev(fn)(torch.zeros(isize))`` reshaped to a matrix.
    """

    # fn may close over tensors that _flat_weights cannot list: solves differentiate through an apply
    _opaque_weights = True

    def __init__(self, fn, isize, osize, ishape=None, oshape=None, adjoint=None, dtype=None, *, device=None):
        if not callable(fn):
            raise TypeError(f"FromFunction: fn must be callable, got {type(fn).__name__}")
        if adjoint is not None and not callable(adjoint):
            raise TypeError(f"FromFunction: adjoint must be callable or None, got {type(adjoint).__name__}")
        dtype = None if dtype is None else check_dtype(dtype, "FromFunction")
        super().__init__(ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=dtype, device=device)
        self.fn = fn
        self.adjoint_fn = adjoint

    def _check(self, out, x, size, names, what):
        nb = x.dim() - (len(self.isize) if what == "fn" else len(self.osize))
        expected = (*x.shape[:nb], *size)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(
                f"FromFunction: {what} {_name(self.fn if what == 'fn' else self.adjoint_fn)} returned {got}, expected "
                f"{expected} (batch dims, then {fmt_names(names, size)}); it must keep leading batch dims"
            )
        return out

    def _split_complex(self, f, x):
        """A real operator sees real tensors only: A x = A Re(x) + i A Im(x)."""
        if x.is_complex() and not self.dtype.is_complex:
            return torch.complex(f(x.real.contiguous()), f(x.imag.contiguous()))
        return f(x)

    def _apply(self, x):
        return self._split_complex(lambda v: self._check(self.fn(v), v, self.osize, self.oshape, "fn"), x)

    def _apply_adjoint(self, y):
        if self.adjoint_fn is not None:
            return self._split_complex(
                lambda v: self._check(self.adjoint_fn(v), v, self.isize, self.ishape, "adjoint"), y
            )
        return self._split_complex(self._vjp, y)

    def _vjp(self, y):
        nb = y.dim() - len(self.osize)
        create = torch.is_grad_enabled()
        with torch.enable_grad():
            x0 = torch.zeros(*y.shape[:nb], *self.isize, dtype=y.dtype, device=y.device, requires_grad=True)
            out = self._check(self.fn(x0), x0, self.osize, self.oshape, "fn")
            # vjp of a linear fn: Aᴴ y (torch's conjugate-Wirtinger convention for complex)
            (g,) = torch.autograd.grad(out, x0, grad_outputs=y.to(out.dtype), create_graph=create, allow_unused=True)
        return torch.zeros_like(x0.detach()) if g is None else g

    def __reduce_ex__(self, protocol):
        for what, f in (("fn", self.fn), ("adjoint", self.adjoint_fn)):
            if f is None:
                continue
            try:
                pickle.dumps(f, protocol)
            except Exception as exc:  # lambdas, local functions, unpicklable closures
                raise pickle.PicklingError(
                    f"FromFunction cannot be pickled or saved: its {what} {_name(f)!r} is not picklable ({exc}). "
                    "Define it as a module-level function (for torch.load(weights_only=True) also register it with "
                    "torch.serialization.add_safe_globals([...])), or rebuild the operator after loading"
                ) from None
        return super().__reduce_ex__(protocol)

    def _repr_extra(self):
        adj = "autograd adjoint" if self.adjoint_fn is None else f"adjoint {_name(self.adjoint_fn)}"
        return f"fn {_name(self.fn)}, {adj}"
