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
