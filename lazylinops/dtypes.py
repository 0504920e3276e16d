"""Dtype promotion, real/complex dtype helpers and device parsing."""

import torch

from .errors import DeviceError, DtypeError

_PROMOTE = {}


def promote(a, b):
    """``torch.promote_types`` with a cache (it is on every apply's path)."""
    key = (a, b)
    out = _PROMOTE.get(key)
    if out is None:
        out = _PROMOTE[key] = torch.promote_types(a, b)
    return out


def real_dtype(dtype):
    """float32 for complex64, float64 for complex128, the dtype itself if real."""
    return dtype.to_real() if dtype.is_complex else dtype


def complex_dtype(dtype):
    """complex64 for float32 (and float16/bfloat16), complex128 for float64."""
    if dtype.is_complex:
        return dtype
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def check_dtype(dtype, what):
    """Operators compute in floating or complex dtypes only; refuse integers and bools."""
    if not isinstance(dtype, torch.dtype):
        raise DtypeError(f"{what}: expected a torch.dtype, got {dtype!r}")
    if not (dtype.is_floating_point or dtype.is_complex):
        raise DtypeError(
            f"{what}: dtype {dtype} is not a floating or complex dtype; operators are never "
            "silently cast from integers or bools — convert first, e.g. x.float() or x.to(torch.complex64)"
        )
    return dtype


def as_device(device, what="device"):
    """A ``torch.device`` from a string/device/index, with a clear error for bad strings."""
    if device is None:
        return torch.device("cpu")
    if not isinstance(device, torch.device):
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise DeviceError(
                f"{what}: {device!r} is not a device; use e.g. 'cpu', 'cuda', 'cuda:1' or 'meta' ({exc})"
            ) from None
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())  # tensors always carry an index
    return device
