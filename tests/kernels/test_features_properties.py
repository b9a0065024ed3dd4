"""Properties of the feature kernels, and their agreement with the numpy/scipy reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq import dtypes
from daq.kernels.features import extract_features
from daq.kernels.features_reference import extract_features_reference
from tests.kernels.kernel_waveforms import (
    add_signal,
    default_params,
    flat_record,
    random_records,
    records_meta,
    spe_template,
    to_int8,
)

P = default_params()
H = P.halfwidth
GAIN = 30.0
FAST = settings(max_examples=25, deadline=None)
# fields that are sums in a different order in the reference: equal to float32 rounding
APPROX_FIELDS = ("baseline_rms", "pretrace_charge")


@st.composite
def separated_positions(draw, a: int, b: int) -> list[int]:
    """Sorted sample positions in [a + H + 1, b - H - 1), at least 2 H + 2 apart (no overlapping SPEs)."""
    gaps = draw(st.lists(st.integers(2 * H + 2, 800), min_size=0, max_size=12))
    first = draw(st.integers(a + H + 1, a + 400))
    positions = list(first + np.cumsum([0, *gaps]))
    return [p for p in positions if p < b - H - 1]


@FAST
@given(data=st.data(), window=st.sampled_from([dtypes.WINDOW_AC, dtypes.WINDOW_C]))
def test_random_spes_in_pretrace_are_all_found(data, window: int) -> None:
    pt0, pt1 = P.windows[window][:2]
    positions = data.draw(separated_positions(pt0, pt1))
    heights = data.draw(st.lists(st.integers(int(P.spe_threshold_adc) + 1, 100), min_size=len(positions),
                                 max_size=len(positions)))
    x = flat_record(100)
    charge = 0
    for p, a in zip(positions, heights, strict=True):
        shape = spe_template(H, a)
        add_signal(x, shape, p - H)
        charge += shape.sum()
    ids, times = records_meta(1)
    feats, peaks = extract_features(to_int8(x[None]), ids, times, P, GAIN)
    row = feats[window]
    assert row["n_pretrace_peaks"] == len(positions)
    assert row["pretrace_charge"] == charge
    assert row["baseline"] == 100.0 and row["baseline_rms"] == 0.0
    assert list(peaks["time_ns"]) == [p * P.sample_ns for p in positions]
    assert list(peaks["amplitude"]) == heights


@FAST
@given(seed=st.integers(0, 2**32 - 1), shift=st.integers(-15, 10))
def test_baseline_shift_changes_only_the_baseline(seed: int, shift: int) -> None:
    x = random_records(2, seed, P).astype(np.int64)
    ids, times = records_meta(2)
    f0, p0 = extract_features(to_int8(x), ids, times, P, GAIN)
    f1, p1 = extract_features(to_int8(x + shift), ids, times, P, GAIN)
    assert np.allclose(f1["baseline"], f0["baseline"] + shift, rtol=0, atol=1e-4)
    assert np.allclose(f1["baseline_rms"], f0["baseline_rms"], rtol=1e-5, atol=1e-6)
    for name in dtypes.FEATURES.names:
        if f0.dtype[name].kind in "iub":
            assert np.array_equal(f0[name], f1[name]), name
    for name in ("charge", "pe", "pretrace_charge", "rise_0_10_ns", "rise_10_50_ns", "rise_10_90_ns"):
        assert np.allclose(f1[name], f0[name], rtol=1e-4, atol=1e-3), name
    assert np.array_equal(p0["time_ns"], p1["time_ns"])
    assert np.allclose(p0["charge"], p1["charge"], rtol=1e-5, atol=1e-4)


def assert_same_features(kernel: np.ndarray, reference: np.ndarray) -> None:
    for name in dtypes.FEATURES.names:
        if name in APPROX_FIELDS:
            np.testing.assert_allclose(kernel[name], reference[name], rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(kernel[name], reference[name], err_msg=name)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), muons=st.sampled_from([0.0, 0.5]), dark=st.sampled_from([4.0, 40.0]))
def test_kernel_agrees_with_reference(seed: int, muons: float, dark: float) -> None:
    x = random_records(4, seed, P, muon_probability=muons, dark_per_record=dark)
    ids, times = records_meta(4)
    feats, peaks = extract_features(x, ids, times, P, GAIN)
    ref_feats, ref_peaks = extract_features_reference(x, ids, times, P, GAIN)
    assert_same_features(feats, ref_feats)
    assert peaks.size == ref_peaks.size
    for name in dtypes.PEAK.names:
        np.testing.assert_array_equal(peaks[name], ref_peaks[name], err_msg=name)


@pytest.mark.parametrize("polarity", [-1, 1])
def test_reference_agreement_with_saturation_and_both_polarities(polarity: int) -> None:
    params = dataclasses.replace(P, polarity=polarity)
    x = random_records(6, 11, params, baseline=-100.0 * polarity, muon_probability=1.0, dark_per_record=20.0)
    ids, times = records_meta(6)
    feats, peaks = extract_features(x, ids, times, params, GAIN)
    ref_feats, ref_peaks = extract_features_reference(x, ids, times, params, GAIN)
    assert (feats["since_saturation_ns"] >= 0).any() and feats["overflow"].any()  # the case is exercised
    assert_same_features(feats, ref_feats)
    np.testing.assert_array_equal(peaks, ref_peaks)
