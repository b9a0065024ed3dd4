"""The simulated digitizer and beam devices: pacing, buffer losses and accounting."""

from __future__ import annotations

import time

import numpy as np
import pytest

from daq import dtypes
from daq.hardware.protocols import BeamBackend, DigitizerBackend
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator
from simulators.devices import BUFFER_FULL, SimulatedBeam, SimulatedDigitizer
from tests.simulators.sim_helpers import FakeClock, run_parameters


def drain(digitizer: SimulatedDigitizer) -> tuple[int, int]:
    """Fetch until the buffer is empty; (records, lost triggers)."""
    records = lost = 0
    while True:
        batch = digitizer.fetch(1000, 0.0)
        records += len(batch)
        lost += sum(loss.count for loss in batch.losses)
        if len(batch) == 0 and not batch.losses:
            return records, lost


def test_devices_implement_the_hardware_protocols():
    # structural check of the method names the reader and beam receiver call
    for device, protocol in ((SimulatedDigitizer(), DigitizerBackend), (SimulatedBeam(), BeamBackend)):
        for name in ("configure", "start", "fetch", "stop", "close"):
            assert callable(getattr(device, name)), (protocol, name)


def test_digitizer_delivers_what_is_due_on_a_fake_clock(base_cfg, fake_clock, started_digitizer):
    clock = fake_clock
    params = run_parameters()
    dig = started_digitizer(base_cfg, params)
    clock.now += 1.0  # pulses 0..60 are due
    batch = dig.fetch(1000, 0.0)
    np.testing.assert_array_equal(batch.triggers["trigger_id"], np.arange(61))
    assert not batch.losses
    # the records are the detector simulation of the beam timeline's pulses
    pulses = SNSBeamTimeline(base_cfg, params).pulses(0, 61)
    direct = DetectorSimulator(base_cfg, params).records(pulses, 0)
    assert batch.waveforms["csi"].tobytes() == direct.waveforms["csi"].tobytes()
    assert batch.triggers.tobytes() == direct.triggers.tobytes()
    # nothing due: fetch waits for the next pulse, up to its timeout
    t0 = clock.now
    assert len(dig.fetch(10, 0.001)) == 0 and clock.now - t0 == pytest.approx(0.001)
    assert len(dig.fetch(10, 1.0)) == 1 and clock.now - t0 <= 1.0 / 60 + 1e-9
    assert dig.stop() == 62
    assert dig.fetch(10, 1.0).triggers.size == 0 and clock.now - t0 <= 1.0 / 60 + 1e-9  # stopped: no wait


def test_full_buffer_loses_triggers_and_accounts_for_them(make_cfg, fake_clock, started_digitizer):
    clock = fake_clock
    dig = started_digitizer(make_cfg(digitizer={"buffer_records": 5}), run_parameters())
    clock.now += 19.5 / 60  # 20 triggers due, the buffer holds the first 5
    batch = dig.fetch(3, 0.0)
    np.testing.assert_array_equal(batch.triggers["trigger_id"], [0, 1, 2])
    assert [(x.first_trigger_id, x.count, x.reason) for x in batch.losses] == [(5, 15, BUFFER_FULL)]
    clock.now += 3 / 60  # triggers 20..22 arrive: 3 free places
    batch = dig.fetch(100, 0.0)
    np.testing.assert_array_equal(batch.triggers["trigger_id"], [3, 4])  # one contiguous range per batch
    assert not batch.losses
    np.testing.assert_array_equal(dig.fetch(100, 0.0).triggers["trigger_id"], [20, 21, 22])
    clock.now += 40 / 60
    generated = dig.stop()
    records, lost = drain(dig)
    assert generated == 63
    assert 3 + 2 + 3 + records + 15 + lost == generated


def test_digitizer_paces_at_wall_clock_speed(make_cfg):
    cfg = make_cfg(digitizer={"buffer_records": 100_000})
    speed, duration = 100.0, 0.4
    dig = SimulatedDigitizer()
    dig.configure(cfg, run_parameters(speed=speed))
    dig.start()
    t0 = time.monotonic()
    delivered = 0
    while time.monotonic() - t0 < duration:
        delivered += len(dig.fetch(10, 0.05))  # small batches: the buffer keeps what generation lags
    generated = dig.stop()
    elapsed = time.monotonic() - t0
    expected = elapsed * cfg.beam.rep_rate_hz * speed
    assert generated == pytest.approx(expected, rel=0.1)
    records, lost = drain(dig)
    assert lost == 0 and delivered + records == generated


def test_beam_delivers_the_timeline_on_a_fake_clock(base_cfg):
    clock = FakeClock()
    params = run_parameters()
    beam = SimulatedBeam(clock=clock, sleep=clock.sleep)
    beam.configure(base_cfg, params)
    beam.start()
    clock.now += 2.0
    first, missed = beam.fetch(50, 0.0)
    rest, missed_rest = beam.fetch(1000, 0.0)
    assert missed == missed_rest == 0 and first.dtype == dtypes.BEAM_PULSE
    got = np.concatenate([first, rest])
    assert got.tobytes() == SNSBeamTimeline(base_cfg, params).pulses(0, 121).tobytes()
    pulses, _ = beam.fetch(10, 0.5)  # waits for pulse 121
    np.testing.assert_array_equal(pulses["pulse_id"], [121])


def test_beam_fault_injection_drops_pulses_reproducibly(base_cfg):
    def run() -> tuple[np.ndarray, int]:
        clock = FakeClock()
        beam = SimulatedBeam(drop_probability=0.25, clock=clock, sleep=clock.sleep)
        beam.configure(base_cfg, run_parameters())
        beam.start()
        clock.now += 100.0
        return beam.fetch(100_000, 0.0)

    pulses, missed = run()
    assert len(pulses) + missed == 6001
    assert missed == pytest.approx(0.25 * 6001, rel=0.1)
    again, missed_again = run()
    assert missed_again == missed and again.tobytes() == pulses.tobytes()
    with pytest.raises(ValueError, match="drop_probability"):
        SimulatedBeam(drop_probability=1.5)
