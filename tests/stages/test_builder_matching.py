"""Beam matching: nearest pulse within the window; everything else flagged, nothing dropped."""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.stages.building import fill_beam, match_pulses

PERIOD = 16_666_667


def test_nearest_pulse_within_window() -> None:
    pulses = np.arange(10) * PERIOD
    trig = pulses[[0, 3, 9]] + np.array([15, -1999, 2000])
    assert list(match_pulses(trig, pulses, 2000)) == [0, 3, 9]


def test_outside_window_or_no_pulses_is_unmatched() -> None:
    pulses = np.arange(10) * PERIOD
    trig = np.array([5 * PERIOD + 2001, 20 * PERIOD, -5000])
    assert list(match_pulses(trig, pulses, 2000)) == [-1, -1, -1]
    assert list(match_pulses(trig, np.zeros(0, np.int64), 2000)) == [-1, -1, -1]
    assert list(match_pulses(np.array([PERIOD + 7]), np.array([PERIOD]), 10)) == [0]


def test_fill_beam_copies_the_pulse_and_flags_the_rest() -> None:
    pulses = np.zeros(3, dtypes.BEAM_PULSE)
    pulses["pulse_id"] = [10, 11, 12]
    pulses["time"] = np.arange(3) * PERIOD
    pulses["pot"] = [1e14, 0.0, 2e14]
    pulses["beam_on"] = [True, False, True]
    trig = np.zeros(4, dtypes.TRIGGER)
    trig["time"] = [5, PERIOD - 5, 2 * PERIOD + 100, 7 * PERIOD]
    fill_beam(trig, pulses, 2000)
    assert list(trig["pulse_id"]) == [10, 11, 12, -1]
    assert list(trig["match_dt"][:3]) == [5, -5, 100]
    assert list(trig["pot"]) == [1e14, 0.0, 2e14, 0.0]
    assert list(trig["beam_on"]) == [True, False, True, False]
    assert list(trig["flags"] & dtypes.TRIGGER_UNMATCHED) == [0, 0, 0, dtypes.TRIGGER_UNMATCHED]
