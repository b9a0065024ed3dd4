"""The simulated beam timeline: deterministic, slice-invariant, with POT and trips as configured."""

from __future__ import annotations

import numpy as np
import pytest

from daq import dtypes
from simulators.beam import BLOCK_PULSES, SNSBeamTimeline, nominal_pot
from tests.simulators.sim_helpers import START_NS, run_parameters


def off_stretches(beam_on: np.ndarray) -> int:
    """Number of beam-off stretches that start inside the range."""
    return int(np.count_nonzero(beam_on[:-1] & ~beam_on[1:]))


def test_nominal_pot_from_power_energy_and_rate(base_cfg):
    # 1.4 MW / (1 GeV * e * 60 Hz)
    assert nominal_pot(base_cfg) == pytest.approx(1.4e6 / (1e9 * 1.602176634e-19 * 60.0))
    assert 1.4e14 < nominal_pot(base_cfg) < 1.5e14


def test_same_seed_same_bytes_other_seed_differs(base_cfg):
    a = SNSBeamTimeline(base_cfg, run_parameters(seed=3)).pulses(0, 5000)
    b = SNSBeamTimeline(base_cfg, run_parameters(seed=3)).pulses(0, 5000)
    c = SNSBeamTimeline(base_cfg, run_parameters(seed=4)).pulses(0, 5000)
    assert a.dtype == dtypes.BEAM_PULSE
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a["pot"], c["pot"])


@pytest.mark.parametrize("cuts", [[1, BLOCK_PULSES - 1, BLOCK_PULSES + 1, 9000], [4321], [17, 18, 5000, 10_000]])
def test_slicing_does_not_change_the_pulses(make_cfg, cuts):
    cfg = make_cfg(simulation={"trip_rate_per_hour": 2000.0, "trip_mean_s": 20.0})  # trips across blocks
    params = run_parameters()
    whole = SNSBeamTimeline(cfg, params).pulses(0, 12_000)
    edges = [0, *cuts, 12_000]
    sliced = SNSBeamTimeline(cfg, params)
    backwards = [sliced.pulses(a, b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)][::-1]
    assert np.concatenate(backwards[::-1]).tobytes() == whole.tobytes()
    assert (~whole["beam_on"]).any(), "the test needs trips"
    fresh = SNSBeamTimeline(cfg, params).pulses(7_777, 100)
    assert fresh.tobytes() == whole[7_777:7_877].tobytes()


def test_pulse_times_follow_the_repetition_rate(base_cfg, params):
    p = SNSBeamTimeline(base_cfg, params).pulses(1_000_000, 600)
    ids = p["pulse_id"]
    np.testing.assert_array_equal(ids, np.arange(1_000_000, 1_000_600))
    np.testing.assert_array_equal(p["time"], START_NS + np.rint(ids * 1e9 / 60.0).astype(np.int64))
    assert np.all(np.abs(np.diff(p["time"]) - 1e9 / 60.0) <= 1.0)


def test_pot_per_pulse_and_its_fluctuation(base_cfg, params):
    p = SNSBeamTimeline(base_cfg, params).pulses(0, 60_000)
    on = p[p["beam_on"]]
    nominal = nominal_pot(base_cfg)
    assert on["pot"].mean() == pytest.approx(nominal, rel=2e-3)
    assert on["pot"].std() / nominal == pytest.approx(base_cfg.simulation.power_fluctuation, rel=0.05)
    assert on["power_mw"].mean() == pytest.approx(base_cfg.beam.power_mw, rel=2e-3)
    assert np.all(p["energy_gev"] == np.float32(base_cfg.beam.proton_energy_gev))
    off = p[~p["beam_on"]]
    assert np.all(off["pot"] == 0) and np.all(off["power_mw"] == 0) and not off["good"].any()
    np.testing.assert_array_equal(p["good"], p["beam_on"])


def test_trips_come_at_the_configured_rate_and_length(make_cfg, params):
    rate_per_hour, mean_s, hours = 60.0, 3.0, 20.0
    cfg = make_cfg(simulation={"trip_rate_per_hour": rate_per_hour, "trip_mean_s": mean_s})
    on = SNSBeamTimeline(cfg, params).pulses(0, int(hours * 3600 * 60))["beam_on"]
    # trip starts are a Poisson process; overlapping trips merge into one beam-off stretch
    p_off = 1.0 - np.exp(-rate_per_hour / 3600.0 * mean_s)
    expected = rate_per_hour * hours * (1.0 - p_off)
    assert abs(off_stretches(on) - expected) < 4 * np.sqrt(expected)
    assert (1.0 - on.mean()) == pytest.approx(p_off, rel=0.12)


def test_no_trips_when_the_rate_is_zero(make_cfg, params):
    cfg = make_cfg(simulation={"trip_rate_per_hour": 0.0})
    assert SNSBeamTimeline(cfg, params).pulses(0, 100_000)["beam_on"].all()


def test_beam_off_period_alternates_stretches(make_cfg, params):
    cfg = make_cfg(simulation={"trip_rate_per_hour": 0.0, "beam_off_period_s": 10.0})
    on = SNSBeamTimeline(cfg, params).pulses(0, 2400)["beam_on"]
    assert on[:600].all() and not on[600:1200].any() and on[1200:1800].all() and not on[1800:].any()


def test_negative_pulse_range_is_refused(base_cfg, params):
    with pytest.raises(ValueError, match="non-negative"):
        SNSBeamTimeline(base_cfg, params).pulses(-1, 3)
