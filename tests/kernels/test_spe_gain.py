"""The running SPE gain: moves from the initial value to the measured one, ignores pile-up."""

from __future__ import annotations

import numpy as np
import pytest

from daq.kernels.spe_gain import SpeGainTracker, truncated_mean


def test_moves_from_initial_to_measured() -> None:
    tracker = SpeGainTracker(30.0, 4)
    assert tracker.value == 30.0
    assert tracker.update(np.array([])) == 30.0
    assert tracker.update(np.array([34.0, 38.0])) == pytest.approx((30 + 30 + 34 + 38) / 4)
    assert tracker.update(np.array([20.0, 22.0, 24.0])) == pytest.approx((38 + 20 + 22 + 24) / 4)
    assert tracker.update(np.arange(1.0, 11.0)) == pytest.approx(np.arange(7.0, 11.0).mean())
    with pytest.raises(ValueError):
        SpeGainTracker(30.0, 0)


def test_pile_up_peaks_do_not_pull_the_gain() -> None:
    rng = np.random.default_rng(2)
    gain, spread = 30.0, 0.35
    spe = rng.gamma(1 / spread**2, gain * spread**2, 20000)
    pile_up = gain * rng.integers(3, 40, 3000)  # piled-up scintillation photoelectrons
    mixed = rng.permutation(np.concatenate([spe, pile_up]))
    assert abs(mixed.mean() / gain - 1) > 0.5  # a plain mean would be far off
    assert truncated_mean(mixed) == pytest.approx(gain, rel=0.01)
    tracker = SpeGainTracker(20.0, 4000)
    for chunk in np.array_split(mixed, 50):
        tracker.update(chunk)
    assert tracker.value == pytest.approx(gain, rel=0.02)
