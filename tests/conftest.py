"""Shared fixtures: the default config, and a config whose endpoints are private to one test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daq import config
from daq.config import Config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def seeded_numba_cache(cache: Path, leave_out: tuple[str, ...]) -> Path:
    """``cache``, a ``NUMBA_CACHE_DIR`` holding this checkout's own cache entries (``__pycache__``, as earlier
    tests left them) of every kernel of ``daq.kernels`` and ``simulators`` but those of the ``daq.kernels``
    modules named in ``leave_out`` (``"features."``, ...), where numba looks for them under that variable:
    a process then compiles only the kernels left out."""
    from numba.core.caching import _CacheLocator

    import daq.kernels
    import simulators

    for package in (daq.kernels, simulators):
        source = Path(package.__file__).parent
        target = cache / _CacheLocator.get_suitable_cache_subpath(str(source / "__init__.py"))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (source / "__pycache__").glob("*.nb[ic]"):
            if package is not daq.kernels or not entry.name.startswith(leave_out):
                shutil.copy2(entry, target / entry.name)
    return cache


@pytest.fixture
def cfg() -> Config:
    return config.load()


def private_config(directory: Path, **overrides: dict) -> Config:
    """The default config with ipc endpoints in ``directory`` (no clashes between tests)."""
    return config.with_ipc_endpoints(config.load(), directory, **overrides)


@pytest.fixture
def ipc_dir() -> Iterator[Path]:
    """A short directory for ipc sockets (socket paths are limited to ~100 characters)."""
    d = Path(tempfile.mkdtemp(prefix="sv"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daq_config(ipc_dir: Path) -> Config:
    """The default config with private ipc endpoints, written to a file the processes can read."""
    return private_config(ipc_dir)


@pytest.fixture
def make_config(ipc_dir: Path):  # noqa: ANN201 - returns a factory
    """``make_config(section={key: value})``: a private config with overrides."""
    return lambda **overrides: private_config(ipc_dir, **overrides)
