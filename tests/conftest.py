import pytest
from registry import DTYPES, REGISTRY

import lazylinops as ll


def pytest_generate_tests(metafunc):
    if "entry" in metafunc.fixturenames:
        metafunc.parametrize("entry", REGISTRY, ids=str)
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))


@pytest.fixture(autouse=True)
def _densify_error():
    """Structured paths must never densify: every test runs with densify set to "error"."""
    with ll.set_densify("error"):
        yield


@pytest.fixture
def op(entry, dtype):
    """The registry entry built in ``dtype`` (skipped for dtypes the entry does not support)."""
    if dtype not in entry.dtypes:
        pytest.skip(f"{entry.name} does not support {dtype}")
    return entry.build(dtype)
