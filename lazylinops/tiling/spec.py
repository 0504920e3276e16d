"""``BatchSpec``: how to cut an operator and where each tile lives (torchlinops' ``BatchSpec``)."""

import math

import numpy as np
import torch

from ..dtypes import as_device


def fuzzy_broadcast(arr, shape):
    """Broadcast ``arr`` to ``shape``, repeating or truncating axes that do not fit.

    Axes align at the end, as numpy broadcasting does; an axis of length ``k`` meeting a
    grid axis of length ``n`` is cycled (``k < n``) or cut (``k > n``).

    Examples
    --------
    >>> fuzzy_broadcast(np.array([1, 2]), (2, 3)).tolist()
    [[1, 2, 1], [1, 2, 1]]
    >>> fuzzy_broadcast(np.array([1, 2, 3]), (2,)).tolist()
    [1, 2]
    """
    arr = np.asarray(arr, dtype=object)
    shape = tuple(shape)
    while arr.ndim > len(shape):  # extra leading axes: keep their first entry
        arr = arr[0]
    arr = arr.reshape((1,) * (len(shape) - arr.ndim) + arr.shape)
    for axis, n in enumerate(shape):
        k = arr.shape[axis]
        if k not in (1, n):
            reps = [1] * arr.ndim
            reps[axis] = math.ceil(n / k)
            arr = np.take(np.tile(arr, reps), range(n), axis=axis)
    return np.broadcast_to(arr, shape)


class BatchSpec:
    """Tile sizes per named dim, the devices of the tiles, and the base device.

    ``batch_sizes`` maps dim names to tile sizes; ``device_matrix`` (a device, or a nested
    list / numpy array of devices) is repeated or truncated to the tile grid
    (``fuzzy_broadcast``); ``base_device`` is where inputs and outputs live (default: the
    operator's device). Without ``device_matrix`` every tile stays on the base device.

    Parameters
    ----------
    batch_sizes : dict
        ``{dim name: tile size}`` (non-empty); checked against the operator when it is split.
    device_matrix : torch.device, str or nested sequence of them, optional
        Devices of the tiles, broadcast to the tile grid; every tile on the base device when None.
    base_device : torch.device or str, optional
        Where inputs and outputs live; the operator's device when None.

    Raises
    ------
    TypeError
        ``batch_sizes`` is not a non-empty dict.
    ValueError
        ``device_matrix`` is empty.

    Examples
    --------
    >>> import lazylinops as ll
    >>> spec = ll.BatchSpec({"C": 2}, device_matrix=["cpu", "meta"])
    >>> spec.devices((3,), "cpu").tolist()
    [device(type='cpu'), device(type='meta'), device(type='cpu')]
    """

    __slots__ = ("batch_sizes", "device_matrix", "base_device")

    def __init__(self, batch_sizes, device_matrix=None, base_device=None):
        if not isinstance(batch_sizes, dict) or not batch_sizes:
            raise TypeError(f"BatchSpec: batch_sizes must be a non-empty dict {{dim: tile size}}, got {batch_sizes!r}")
        object.__setattr__(self, "batch_sizes", dict(batch_sizes))
        if device_matrix is not None:
            arr = np.empty(np.shape(np.asarray(device_matrix, dtype=object)), dtype=object)
            flat = np.asarray(device_matrix, dtype=object).reshape(-1)
            if flat.size == 0:
                raise ValueError("BatchSpec: device_matrix is empty; give at least one device")
            arr.reshape(-1)[:] = [as_device(d, "BatchSpec device_matrix") for d in flat]
            device_matrix = arr
        object.__setattr__(self, "device_matrix", device_matrix)
        base = None if base_device is None else as_device(base_device, "BatchSpec base_device")
        object.__setattr__(self, "base_device", base)

    def __setattr__(self, name, value):
        raise AttributeError("BatchSpec is immutable; build a new one")

    def devices(self, grid, base_device):
        """The device of every tile of ``grid`` (a numpy object array of ``torch.device``)."""
        if self.device_matrix is None:
            out = np.empty(grid, dtype=object)
            out.reshape(-1)[:] = [torch.device(base_device)] * out.size
            return out
        return fuzzy_broadcast(self.device_matrix, grid)

    def __repr__(self):
        devs = None if self.device_matrix is None else [str(d) for d in self.device_matrix.reshape(-1)]
        return f"BatchSpec({self.batch_sizes}, device_matrix={devs}, base_device={self.base_device})"
