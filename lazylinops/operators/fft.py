"""Fourier transforms: ``FFT`` over chosen named dims."""

import math

import torch

from ..core.algebra import scale
from ..core.base import LinearOperator
from ..core.basic import Identity, Scalar
from ..core.tiles import cut_size, elementwise_positions, relevant, resized
from ..dims import Dim, as_size
from ..dtypes import check_dtype, complex_dtype
from ..errors import ShapeError

_NORMS = ("ortho", "backward", "forward")
_ADJOINT_NORM = {"ortho": "ortho", "backward": "forward", "forward": "backward"}  # (F)ᴴ as an ifft norm


class FFT(LinearOperator):
    """The n-D discrete Fourier transform over named dims ``dim`` (all dims by default).

    ``norm="ortho"`` is unitary (``FFT.N`` is ``Identity``); ``"backward"``/``"forward"``
    follow ``torch.fft.fftn`` with exact adjoints. ``centered=True`` puts the zero
    frequency in the middle: ``fftshift ∘ F ∘ ifftshift``. O(n log n) apply.

    Parameters
    ----------
    size : int or tuple of int
        Input and output sizes.
    ioshape : str or tuple of str, optional
        Input dim names (and output ones unless ``oshape``); positional names when None.
    dim : str or tuple of str, optional
        The transformed dims, names of ``ioshape``; all dims when None.
    norm : {"ortho", "backward", "forward"}
        Normalisation, as ``torch.fft.fftn``.
    centered : bool
        Zero frequency in the middle (``fftshift ∘ F ∘ ifftshift``).
    oshape : str or tuple of str, optional
        Output dim names; ``ioshape`` when None.
    dtype : torch.dtype, optional
        A complex dtype; the complex counterpart of the default dtype when None.
    device : torch.device or str, optional
        Device of inputs and outputs; the CPU when None.
    inverse : bool
        Build the adjoint ``Fᴴ`` instead (``torch.fft.ifftn`` with the norm that makes it the
        exact adjoint; the inverse when ``norm="ortho"``). What ``F.H`` uses.

    Raises
    ------
    ValueError
        A bad ``norm`` or a real ``dtype``.
    ShapeError
        ``dim`` names a dim not in ``ioshape``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> F = ll.FFT((8, 8), "HW", oshape="KxKy")
    >>> F(torch.randn(8, 8)).shape, type(F.N).__name__
    (torch.Size([8, 8]), 'Identity')

    Dense equivalent: ``torch.fft.fftn(torch.eye(n).reshape(n, *size), dim=…, norm=norm)``.
    """

    def __init__(
        self,
        size,
        ioshape=None,
        dim=None,
        norm="ortho",
        centered=False,
        oshape=None,
        dtype=None,
        device=None,
        *,
        inverse=False,
    ):
        size = as_size(size)
        ioshape = Dim(ioshape)
        names = ioshape if ioshape is not None else tuple(f"d{i}" for i in range(len(size)))
        if norm not in _NORMS:
            raise ValueError(f"FFT: norm must be one of {_NORMS}, got {norm!r}")
        if dim is None:
            axes = tuple(range(len(size)))
        else:
            dims = Dim(dim)
            unknown = [d for d in dims if d not in names]
            if unknown:
                raise ShapeError(f"FFT: dim {unknown} not among the named dims {names}; choose dims from ioshape")
            axes = tuple(names.index(d) for d in dims)
        dtype = complex_dtype(torch.get_default_dtype()) if dtype is None else check_dtype(dtype, "FFT")
        if not dtype.is_complex:
            raise ValueError(f"FFT: dtype must be complex (its matrix is complex), got {dtype}")
        tags = ("unitary",) if norm == "ortho" else ()
        super().__init__(
            ishape=ioshape,
            oshape=oshape if oshape is not None else ioshape,
            isize=size,
            osize=size,
            dtype=dtype,
            device=device,
            tags=tags,
        )
        self.axes = axes
        self.fft_dims = tuple(a - len(size) for a in axes)  # negative: batch dims lead
        self.fft_norm = norm
        self.centered = bool(centered)
        self.is_ifft = bool(inverse)

    def _params(self):
        return dict(norm=self.fft_norm, centered=self.centered, dtype=self.dtype, device=self.device)

    def _transform(self, x, inverse):
        dims = self.fft_dims
        if not x.is_complex():
            x = x.to(complex_dtype(x.dtype))
        if self.centered:
            x = torch.fft.ifftshift(x, dim=dims)
        if inverse:
            y = torch.fft.ifftn(x, dim=dims, norm=_ADJOINT_NORM[self.fft_norm])
        else:
            y = torch.fft.fftn(x, dim=dims, norm=self.fft_norm)
        return torch.fft.fftshift(y, dim=dims) if self.centered else y

    def _apply(self, x):
        return self._transform(x, self.is_ifft)

    def _apply_adjoint(self, y):
        return self._transform(y, not self.is_ifft)

    def _new(self, inverse, ishape, oshape):
        names = ishape
        return FFT(
            self.isize, names, tuple(names[a] for a in self.axes), oshape=oshape, inverse=inverse, **self._params()
        )

    def _adjoint(self):
        return self._new(not self.is_ifft, self.oshape, self.ishape)

    def _conj(self):
        # the DFT matrix is symmetric (centred too), so conj(F) = Fᴴ as matrices
        return self._new(not self.is_ifft, self.ishape, self.oshape)

    def _renamed(self, ishape, oshape):
        return self._new(self.is_ifft, ishape, oshape)

    def _scale_normal(self):
        n = math.prod(self.isize[a] for a in self.axes)
        return {"ortho": 1.0, "backward": float(n), "forward": 1.0 / n}[self.fft_norm]

    def _normal(self):
        c = self._scale_normal()  # Fᴴ F = c I (c = 1 for ortho, n unnormalised, 1/n forward)
        if c == 1.0:
            return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.device)
        return Scalar(c, self.isize, self.ishape, dtype=self.dtype, device=self.device)

    def _inverse(self):
        c = self._scale_normal()  # F⁻¹ = Fᴴ / c
        return self.H if c == 1.0 else scale(self.H, 1.0 / c)

    def _split(self, tile):
        tile = relevant(self, tile)
        if not tile:
            return self
        for d in tile:
            if any(d in (self.ishape[a], self.oshape[a]) for a in self.axes):
                raise ShapeError(
                    f"FFT cannot be split along {d!r}: it is a transformed dim, so every output along it "
                    f"depends on every input; split a dim it does not transform (transformed: "
                    f"{[self.ishape[a] for a in self.axes]})"
                )
        elementwise_positions(self, tile)
        size = cut_size(self.isize, self.ishape, tile)
        return resized(self, size, size)  # I ⊗ F: a block along an untransformed dim is the same F

    def is_adjoint_pair(self, other):
        """True when ``other`` is this transform's adjoint over the same dims and params."""
        return (
            isinstance(other, FFT)
            and other.is_ifft != self.is_ifft
            and other.axes == self.axes
            and other.fft_norm == self.fft_norm
            and other.centered == self.centered
            and other.isize == self.osize
        )

    def _repr_extra(self):
        dims = " ".join(self.ishape[a] for a in self.axes)
        kind = "IFFT" if self.is_ifft else "FFT"
        return f"{kind} over {dims} norm={self.fft_norm}" + (" centered" if self.centered else "")
