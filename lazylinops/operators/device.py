"""Device transfers as operators: ``ToDevice`` (used to join tiles on different devices)."""

import torch

from ..core.base import LinearOperator, swapped
from ..core.basic import Identity
from ..dtypes import as_device, check_dtype
from ..errors import DeviceError


class ToDevice(LinearOperator):
    """The identity on values that moves its input from ``idevice`` to ``odevice``.

    ``T x = x.to(odevice)``; the adjoint ``Tᴴ = ToDevice(odevice, idevice)`` moves back, so
    ``Tᴴ T = I``. Host → GPU copies are issued with ``non_blocking=True`` (ordered on the
    stream, safe); copies that land on the host block, so results are ready when returned.
    The operator's ``device`` is ``idevice`` (where its inputs live) and ``to_dense()`` is
    the identity there. ``.to(device)`` moves the input side (both sides when they
    coincide). Weightless: computes in the promoted input dtype. ``meta`` devices work for
    placement-only checks.

    Parameters
    ----------
    idevice : torch.device or str
        Where inputs live (the operator's ``device``).
    odevice : torch.device or str
        Where outputs are placed.
    size : int or tuple of int
        The named shape's sizes (input and output).
    ioshape : str or tuple of str, optional
        Dim names of input and output; positional names ``d0, d1, …`` when None.
    dtype : torch.dtype, optional
        Dtype of its dense matrix; ``torch.get_default_dtype()`` when None.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> T = ll.ToDevice("cpu", "meta", (3,))
    >>> T(torch.ones(3)).device, T.H.odevice
    (device(type='meta'), device(type='cpu'))

    Dense equivalent: ``torch.eye(n)`` (with the result placed on ``odevice``).
    """

    def __init__(self, idevice, odevice, size, ioshape=None, *, dtype=None):
        idev, odev = as_device(idevice, "ToDevice idevice"), as_device(odevice, "ToDevice odevice")
        dtype = None if dtype is None else check_dtype(dtype, "ToDevice")
        tags = ("unitary", "hermitian", "pd") if idev == odev else ("unitary",)
        super().__init__(ishape=ioshape, oshape=ioshape, isize=size, osize=size, dtype=dtype, device=idev, tags=tags)
        self.src, self.dst = idev, odev

    idevice = property(lambda self: self.src)
    odevice = property(lambda self: self.dst)

    @staticmethod
    def _move(x, device):
        if x.device == device:
            return x
        if x.device.type == "meta":
            raise DeviceError(
                f"ToDevice: cannot move a meta tensor (shape only, no data) to {device}; meta devices "
                "serve placement checks — apply to real data on a real device instead"
            )
        return x.to(device, non_blocking=device.type == "cuda" and x.device.type == "cpu")

    def _apply(self, x):
        return self._move(x, self.odevice)

    def _apply_adjoint(self, y):
        return self._move(y, self.idevice)

    def _adjoint(self):
        return swapped(ToDevice(self.odevice, self.idevice, self.isize, self.ishape, dtype=self.dtype), self)  # back

    def _conj(self):
        return self  # a real (identity) matrix

    def _normal(self):
        return Identity(self.isize, self.ishape, dtype=self.dtype, device=self.idevice)  # Tᴴ T = I: there and back

    def _inverse(self):
        return self.H  # T⁻¹ = Tᴴ (unitary)

    def _diagonal(self):
        return torch.ones(self.shape[0], dtype=self.dtype, device=self.device)

    def _to_dense(self):
        return torch.eye(self.shape[0], dtype=self.dtype, device=self.device)

    def _to(self, device=None, dtype=None, non_blocking=False, copy=False):
        dtype = self.dtype if dtype is None else check_dtype(dtype, "ToDevice.to")
        idev = self.idevice if device is None else as_device(device)
        odev = idev if self.idevice == self.odevice else self.odevice
        if idev == self.idevice and odev == self.odevice and dtype == self.dtype:
            return self
        return ToDevice(idev, odev, self.isize, self.ishape, dtype=dtype)

    def _split(self, tile):
        size = [len(range(n)[tile[name]]) if name in tile else n for name, n in zip(self.ishape, self.isize)]
        return ToDevice(self.idevice, self.odevice, tuple(size), self.ishape, dtype=self.dtype)

    def _repr_extra(self):
        return f"{self.idevice} → {self.odevice}"
