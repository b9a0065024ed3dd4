"""EpicsBeam against a real caproto IOC (`sevens sim-ioc`) on loopback.

The IOC restarts its timeline at pulse 0 when EpicsBeam subscribes, so the received pulses
are 0, 1, 2, ... and each must equal SNSBeamTimeline's row for the same seed and start time.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from daq import config
from daq.config import Config
from daq.hardware.epics_beam import EpicsBeam
from daq.hardware.protocols import BackendUnavailable, RunParameters
from simulators.beam import SNSBeamTimeline
from simulators.sim_ioc import published_fields
from tests.hardware.helpers import EPICS_CONFIG

SEED = 5
SPEED = 3.0


@pytest.fixture
def epics_cfg() -> Config:
    return config.load(EPICS_CONFIG)


def params(cfg: Config) -> RunParameters:
    return RunParameters(run_number=1, seed=SEED, rate_boost=1.0, speed=SPEED,
                         start_time_ns=cfg.simulation.start_time_ns)


def receive(cfg: Config, seconds: float) -> tuple[np.ndarray, int, dict]:
    """Run an EpicsBeam for ``seconds``: (pulses, missed, stats)."""
    beam = EpicsBeam()
    beam.configure(cfg, params(cfg))
    beam.start()
    chunks, missed = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pulses, m = beam.fetch(64, 0.05)
        chunks.append(pulses)
        missed += m
    beam.stop()
    pulses, m = beam.fetch(100_000, 0.0)
    chunks.append(pulses)
    stats = beam.stats
    beam.close()
    return np.concatenate(chunks), missed + m, stats


def test_pulses_arrive_in_order_and_equal_the_simulated_beam(start_ioc: Callable, epics_cfg: Config) -> None:
    start_ioc("--seed", str(SEED), "--speed", str(SPEED))
    pulses, missed, stats = receive(epics_cfg, 1.5)

    assert missed == 0, stats
    assert 0.6 * 1.5 * 60 * SPEED < len(pulses) < 1.3 * 1.5 * 60 * SPEED
    np.testing.assert_array_equal(pulses["pulse_id"], np.arange(len(pulses)))
    truth = SNSBeamTimeline(epics_cfg, params(epics_cfg)).pulses(0, len(pulses))
    for name in ("time", "pot", "power_mw", "energy_gev", "beam_on", "good"):
        np.testing.assert_array_equal(pulses[name], truth[name], err_msg=name)
    assert truth["pot"].std() > 0  # the comparison is not of constants


def test_dropped_and_partial_pulses_are_counted_as_missed(start_ioc: Callable, epics_cfg: Config) -> None:
    drop_every, partial_every = 7, 11
    start_ioc("--seed", str(SEED), "--speed", str(SPEED), "--drop-every", str(drop_every),
              "--partial-every", str(partial_every))
    pulses, missed, stats = receive(epics_cfg, 1.5)

    last = stats["last_id"]
    ids = np.arange(last + 1)
    delivered = np.array([published_fields(k, drop_every, partial_every) == published_fields(k, 0, 0) for k in ids])
    assert last > 3 * drop_every * partial_every // 5
    np.testing.assert_array_equal(pulses["pulse_id"], ids[delivered])
    assert missed == np.count_nonzero(~delivered)
    assert stats["gaps"] == np.count_nonzero([not published_fields(k, drop_every, partial_every) for k in ids])
    assert stats["incomplete"] == missed - stats["gaps"] > 0


def test_no_ioc_is_a_clear_error_naming_the_pvs_and_the_address_list(ca_env: dict, epics_cfg: Config) -> None:
    epics = {**dataclasses.asdict(epics_cfg.beam.epics), "connect_timeout_s": 0.3}  # overrides replace whole tables
    cfg = config.with_overrides(epics_cfg, {"beam": {"epics": epics}})
    beam = EpicsBeam()
    with pytest.raises(BackendUnavailable) as err:
        beam.configure(cfg, params(cfg))
    text = str(err.value)
    assert "SEVENS:SIM:BEAM:PULSE_ID" in text and "SEVENS:SIM:BEAM:POT" in text
    assert "EPICS_CA_ADDR_LIST='127.0.0.1'" in text


def test_missing_caproto_names_the_extra(monkeypatch: pytest.MonkeyPatch, epics_cfg: Config) -> None:
    monkeypatch.setitem(sys.modules, "caproto.threading.client", None)
    with pytest.raises(BackendUnavailable, match=r"caproto.*pip install 'sevens\[epics\]'"):
        EpicsBeam().configure(epics_cfg, params(epics_cfg))
