"""Convolution along named dims: ``Convolve`` (PyLops 2.8 ``Convolve1D`` convention, N-D)."""

import torch
import torch.nn.functional as F

from ..core.base import LinearOperator, same_names, swapped
from ..core.tiles import cut_size, elementwise_positions, relevant
from ..dims import Dim, as_size, default_names
from ..dtypes import check_dtype
from ..errors import ShapeError

_METHODS = ("auto", "direct", "fft")
_DIRECT_MAX_TAPS = 64  # "auto": direct (torch convNd) up to this many kernel taps, FFT beyond
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class Convolve(LinearOperator):
    """Convolution with ``kernel`` along named dims, zero outside the signal ("same" size).

    ``y[n] = Σ_k h[k]·x[n + offset − k]`` for every ``n`` of the input (N-D: ``n, k, offset``
    are tuples over the convolved dims), which is PyLops 2.8's ``Convolve1D(dims, h, offset)``
    — ``offset`` is the index of the kernel's centre, ``0 ≤ offset < len(h)`` per dim. ``dim``
    names the convolved dims, one per kernel dim (``None``: the last ``kernel.ndim`` dims);
    other named dims and leading batch dims pass through. The kernel may be complex and
    may require grad. ``method="auto"`` convolves directly (``torch.nn.functional.convNd``,
    O(n·taps)) for kernels up to 64 taps and by zero-padded FFT (O(n log n)) beyond.
    The adjoint is a correlation, itself a ``Convolve`` with ``conj(flip(h))``.

    Parameters
    ----------
    kernel : torch.Tensor
        The kernel ``h``, one tensor dim per convolved dim (at least one tap); its dtype and
        device are the operator's.
    size : int or tuple of int
        The signal's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of input and output; positional names ``d0, d1, …`` when None.
    dim : str or tuple of str, optional
        The convolved dims, ``kernel.ndim`` distinct names of ``ioshape``; the last
        ``kernel.ndim`` dims when None.
    offset : int or tuple of int
        Index of the kernel's centre, per convolved dim (one int applies to all);
        ``0 ≤ offset < kernel.shape[k]``.
    method : {"auto", "direct", "fft"}
        ``"direct"`` (``convNd``, up to 3 convolved dims), ``"fft"`` (zero-padded FFT), or
        ``"auto"``: direct up to 64 taps, FFT beyond.

    Raises
    ------
    TypeError
        ``kernel`` is not a tensor.
    ShapeError
        ``kernel`` is empty or 0-d, has more dims than ``size``, or ``dim`` does not name one
        distinct dim of ``ioshape`` per kernel dim.
    ValueError
        A bad ``method`` or ``offset``, or ``method="direct"`` with more than 3 convolved dims.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> C = ll.Convolve(torch.tensor([1.0, 2.0, 3.0]), (5,), offset=1)
    >>> C(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0])).tolist()
    [2.0, 3.0, 0.0, 0.0, 0.0]
    >>> C.H.to_dense().equal(C.to_dense().T)
    True

    Dense equivalent: ``pylops.signalprocessing.Convolve1D(n, h, offset).todense()``; for an
    N-D kernel ``scipy.signal.convolve(x, h, "full")`` cropped to ``[offset, offset + n)``.
    """

    def __init__(self, kernel, size, ioshape=None, dim=None, offset=0, *, method="auto"):
        if not isinstance(kernel, torch.Tensor):
            raise TypeError(f"Convolve: kernel must be a torch.Tensor, got {type(kernel).__name__}")
        check_dtype(kernel.dtype, "Convolve kernel")
        if kernel.dim() == 0 or kernel.numel() == 0:
            raise ShapeError(
                f"Convolve: kernel must have at least one dim and one tap, got shape {tuple(kernel.shape)}"
            )
        if method not in _METHODS:
            raise ValueError(f"Convolve: method must be one of {_METHODS}, got {method!r}")
        size = as_size(size)
        names = Dim(ioshape)
        names = default_names(len(size)) if names is None else names
        k = kernel.dim()
        if dim is None:
            if k > len(size):
                raise ShapeError(f"Convolve: a {k}-D kernel needs at least {k} dims, got size {tuple(size)}")
            axes = tuple(range(len(size) - k, len(size)))
        else:
            dims = Dim(dim)
            unknown = [d for d in dims if d not in names]
            if unknown or len(dims) != k or len(set(dims)) != k:
                raise ShapeError(f"Convolve: dim {dims} must name {k} distinct dims (one per kernel dim) among {names}")
            axes = tuple(names.index(d) for d in dims)
        offsets = (offset,) * k if isinstance(offset, int) and not isinstance(offset, bool) else tuple(offset)
        if len(offsets) != k or any(isinstance(o, bool) or not isinstance(o, int) for o in offsets):
            raise ValueError(f"Convolve: offset must be an int or {k} ints (one per kernel dim), got {offset!r}")
        for o, nh in zip(offsets, kernel.shape):
            if not 0 <= o < nh:
                raise ValueError(
                    f"Convolve: offset {o} must satisfy 0 ≤ offset < kernel length {nh} (the kernel's centre)"
                )
        if method == "direct" and k > 3:
            raise ValueError(f"Convolve: method='direct' supports up to 3 convolved dims, got {k}; use 'fft'")
        super().__init__(ishape=names, oshape=names, isize=size, osize=size, dtype=kernel.dtype, device=kernel.device)
        self.kernel = kernel
        self.axes = axes
        self.offset = offsets
        self.method = method

    # ------------------------------------------------------------------ helpers
    def _use_fft(self):
        if self.method != "auto":
            return self.method == "fft"
        return self.kernel.numel() > _DIRECT_MAX_TAPS or self.kernel.dim() > 3

    def _front(self, x):
        """Move the convolved dims to the end (in kernel order)."""
        nd = len(self.isize)
        src = [a - nd for a in self.axes]
        dst = list(range(-len(src), 0))
        return x.movedim(src, dst), src, dst

    def _conv(self, x, adjoint):
        h = self.kernel if self.kernel.dtype == x.dtype else self.kernel.to(x.dtype)
        xm, src, dst = self._front(x)
        k = h.dim()
        shape = xm.shape
        n = shape[len(shape) - k :]
        if self._use_fft():
            y = self._fft_conv(xm, h, n, adjoint)
        else:
            y = self._direct_conv(xm.reshape(-1, 1, *n), h, adjoint).reshape(shape)
        return y.movedim(dst, src)

    def _direct_conv(self, xb, h, adjoint):
        # torch convNd is a correlation: forward correlates with flip(h), the adjoint with conj(h)
        pads = []
        for o, nh in zip(reversed(self.offset), reversed(h.shape)):
            pads += [o, nh - 1 - o] if adjoint else [nh - 1 - o, o]
        w = h.conj() if adjoint else h.flip(tuple(range(h.dim())))
        return _CONV[h.dim()](F.pad(xb, pads), w.resolve_conj()[None, None])

    def _fft_conv(self, x, h, n, adjoint):
        k = h.dim()
        dims = tuple(range(-k, 0))
        L = [ni + nh - 1 for ni, nh in zip(n, h.shape)]
        real = not x.is_complex()
        fft, ifft = (torch.fft.rfftn, torch.fft.irfftn) if real else (torch.fft.fftn, torch.fft.ifftn)
        H = fft(h, s=L, dim=dims)
        if adjoint:
            # x[m] = Σ_k conj(h[k]) y[m − p + k]: circular correlation, rolled by p (no wrap: L ≥ n + nh − 1)
            r = ifft(fft(x, s=L, dim=dims) * H.conj(), s=L, dim=dims)
            r = torch.roll(r, shifts=self.offset, dims=dims)
            for d, ni in zip(dims, n):
                r = r.narrow(d, 0, ni)
            return r
        c = ifft(fft(x, s=L, dim=dims) * H, s=L, dim=dims)  # full linear convolution
        for d, o, ni in zip(dims, self.offset, n):
            c = c.narrow(d, o, ni)
        return c

    # ------------------------------------------------------------------ contract
    def _apply(self, x):
        return self._conv(x, adjoint=False)

    def _apply_adjoint(self, y):
        return self._conv(y, adjoint=True)

    def _new(self, kernel, offset=None, size=None):
        dims = tuple(self.ishape[a] for a in self.axes)
        return Convolve(
            kernel,
            self.isize if size is None else size,
            self.ishape,
            dims,
            self.offset if offset is None else offset,
            method=self.method,
        )

    def _adjoint(self):
        # (h ∗ ·)ᴴ = conj(flip(h)) ∗ · with centre nh − 1 − offset (a correlation)
        h = self.kernel.flip(tuple(range(self.kernel.dim()))).conj().resolve_conj()

        return swapped(self._new(h, tuple(nh - 1 - o for nh, o in zip(self.kernel.shape, self.offset))), self)

    def _conj(self):
        return same_names(
            self._new(self.kernel.conj().resolve_conj()), self
        )  # conj(C_h) = C_conj(h): the entries are kernel taps

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self
        # block-diagonal only along a dim named at the same position of input and output (a renamed
        # Convolve ⟨A⟩→⟨B⟩ is refused along A or B), and never along a convolved dim
        for i in elementwise_positions(self, tile):
            if i in self.axes:
                raise ShapeError(
                    f"Convolve cannot be split along {self.ishape[i]!r}: it is a convolved dim (outputs mix "
                    "neighbouring inputs); split along the other dims"
                )
        return self._new(self.kernel, size=tuple(cut_size(self.isize, self.ishape, tile)))

    def _repr_extra(self):
        dims = " ".join(self.ishape[a] for a in self.axes)
        method = "fft" if self._use_fft() else "direct"
        return f"kernel {tuple(self.kernel.shape)} over {dims} offset={self.offset} {method}"
