"""Registry entries for tiled operators: a distributed operator is an operator like any other."""

import lazylinops as ll

from . import Entry, randn

ENTRIES = [
    Entry(
        "Tiled-dense-rows",
        lambda dt: ll.distribute(
            ll.Dense(randn(6, 4, dtype=dt, seed=70), ishape="N", oshape="M"), ll.BatchSpec({"M": 4})
        ),
        tags=("tall",),
    ),
    Entry(
        "Tiled-diag-fft-batch",
        lambda dt: ll.distribute(
            ll.Diagonal(randn(3, 4, dtype=dt, seed=71) + 2, "CN") @ ll.FFT((3, 4), "CN", dim="N"),
            ll.BatchSpec({"C": 2}, device_matrix=["cpu", "cpu"]),
        ),
        invertible=True,
    ),
]
