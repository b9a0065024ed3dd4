"""Fixtures of the reliability tests: private DAQ configs (ipc endpoints) tolerant of a busy host.

The DAQ processes of these tests share two cores with whatever else runs on the machine; a
heartbeat timeout of a few seconds then fires on scheduling delays alone. The tests here
are about bad input and resources, not heartbeats, so their configs allow 10 s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daq.config import Config
from tests.reliability.daqrun import private_ipc_dir, reliability_config, remove


@pytest.fixture
def rel_ipc() -> Iterator[Path]:
    d = private_ipc_dir()
    yield d
    remove(d)


@pytest.fixture
def rel_config(rel_ipc: Path) -> Callable[..., Config]:
    """``rel_config(section={key: value})``: a private config for one test."""
    return lambda **overrides: reliability_config(rel_ipc, **overrides)
