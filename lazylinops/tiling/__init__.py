"""Tiling and devices (DESIGN §6): ``split``, ``BatchSpec``, ``distribute``, ``materialize``,
and ``distributed`` for sharding tiles over ``torch.distributed`` ranks."""

from .distribute import distribute, materialize
from .spec import BatchSpec
from .split import split
from .tiled import Tiled

__all__ = ["BatchSpec", "Tiled", "distribute", "materialize", "split"]
