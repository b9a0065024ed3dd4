"""Fixtures for the simulator tests: run parameters and configs with selected overrides."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from daq import config
from daq.config import Config
from daq.hardware.protocols import RunParameters
from simulators.devices import SimulatedDigitizer
from tests.simulators.sim_helpers import FakeClock, run_parameters


@pytest.fixture
def params() -> RunParameters:
    return run_parameters()


@pytest.fixture
def base_cfg() -> Config:
    return config.load()


@pytest.fixture
def make_cfg(base_cfg: Config) -> Callable[..., Config]:
    """``make_cfg(simulation={key: value}, ...)``: the default config with keys overridden."""

    def make(**sections: dict) -> Config:
        return config.with_overrides(base_cfg, sections) if sections else base_cfg

    return make


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def started_digitizer(fake_clock: FakeClock) -> Callable[..., SimulatedDigitizer]:
    """``started_digitizer(cfg, params)``: a simulated digitizer configured and armed on the fake clock."""

    def make(cfg: Config, params: RunParameters) -> SimulatedDigitizer:
        dig = SimulatedDigitizer(clock=fake_clock, sleep=fake_clock.sleep)
        dig.configure(cfg, params)
        dig.start()
        return dig

    return make
