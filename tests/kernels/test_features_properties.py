"""Properties of the feature kernels, and their agreement with the numpy/scipy reference.

The numba kernels (:mod:`daq.kernels.features`) and the reference (:mod:`daq.kernels.features_reference`) are
written independently from the same definitions: on random records (hypothesis) and on simulated records of
the PMT presets (:mod:`simulators.presets`) every FEATURES field and every PEAK row must agree, integers
exactly and floats to float32 rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq import config, dtypes
from daq.kernels.features import SpeWindow, extract_features
from daq.kernels.features_reference import extract_features_reference
from daq.stages.params import feature_params
from simulators.injection import Injector
from simulators.presets import preset_config
from tests.kernels.kernel_waveforms import add_signal, default_params, random_records, records_meta, to_int8

P = default_params()
GAIN = 30.0
# SPE windows the calibration reaches on the fast, typical and slow presets (docs/reconstruction.md)
WINDOWS = {"fast": SpeWindow(3, 2, 6, 6), "typical": SpeWindow(8, 2, 26, 17), "slow": SpeWindow(15, 6, 51, 30)}


def assert_same(kernel: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]) -> None:
    """Every field of every FEATURES row and every PEAK row: integers exactly, floats to float32 rounding."""
    for table, ref in zip(kernel, reference, strict=True):
        assert table.dtype == ref.dtype and table.shape == ref.shape
        for name in table.dtype.names:
            if table.dtype[name].kind == "f":
                np.testing.assert_allclose(table[name], ref[name], rtol=1e-6, atol=1e-6, err_msg=name)
            else:
                np.testing.assert_array_equal(table[name], ref[name], err_msg=name)


def both(csi: np.ndarray, params=P, window: SpeWindow | None = None, fallback: float = float("nan"),
         ids: np.ndarray | None = None, times: np.ndarray | None = None) -> tuple[tuple, tuple]:
    if ids is None:
        ids, times = records_meta(len(csi))
    args = (csi, ids, times, params, GAIN, window, fallback)
    return extract_features(*args), extract_features_reference(*args)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), muons=st.sampled_from([0.0, 0.5]), dark=st.sampled_from([4.0, 40.0]),
       noise=st.sampled_from([0.5, 0.8, 1.2]), polarity=st.sampled_from([-1, 1]),
       window=st.sampled_from([None, *WINDOWS.values()]))
def test_kernel_agrees_with_reference_on_random_records(seed: int, muons: float, dark: float, noise: float,
                                                        polarity: int, window: SpeWindow | None) -> None:
    params = dataclasses.replace(P, polarity=polarity)
    x = random_records(3, seed, params, baseline=-100.0 * polarity, noise_rms=noise, muon_probability=muons,
                       dark_per_record=dark)
    kernel, reference = both(x, params, window)
    assert_same(kernel, reference)


@pytest.mark.parametrize("preset", ["fast/0.5/+1", "typical/0.8/-1", "typical/1.2/+0", "slow/0.8/+1", "slow/1.2/-1"])
def test_kernel_agrees_with_reference_on_simulated_presets(preset: str) -> None:
    cfg = preset_config(config.load(), preset)
    batch = Injector(cfg).records(6, 7, n_pe=np.array([[0, 15], [8, 0], [20, 3]] * 2), time_ns=400.0,
                                  pretrace_pe=3.0)
    kernel, reference = both(batch.csi, feature_params(cfg), WINDOWS[preset.split("/")[0]],
                             ids=batch.trigger_ids, times=batch.trigger_times)
    feats, peaks = kernel
    assert (feats["onset_ns"] >= 0).any() and (peaks["region"] == dtypes.REGION_NOISE).size  # the cases exist
    assert_same(kernel, reference)


@pytest.mark.parametrize("polarity", [-1, 1])
def test_agreement_with_saturation_clipped_pretraces_and_a_fallback(polarity: int) -> None:
    params = dataclasses.replace(P, polarity=polarity)
    x = random_records(6, 11, params, baseline=-100.0 * polarity, muon_probability=1.0, dark_per_record=20.0)
    x[0, : P.windows[1][1]] = -128 if polarity < 0 else 127  # both pretraces of record 0 on the rail
    for fallback in (float("nan"), -90.5 * polarity):
        kernel, reference = both(x, params, fallback=fallback)
        feats = kernel[0]
        assert (feats["since_saturation_ns"] >= 0).any() and feats["overflow"].any()  # the case is exercised
        assert (feats["baseline_quiet"] < P.min_quiet).any()
        assert_same(kernel, reference)


def test_a_clipped_top_is_measured_from_the_baseline_line() -> None:
    """A flat top 119 ADC below the C window's baseline value but 121 ADC below the line where it sits is
    saturation (``saturation_adc`` 120): every sample is measured against the line (docs/reconstruction.md)."""
    n = P.n_samples
    rng = np.random.default_rng(5)
    line = 10.0 + 8.0 * (0.5 - np.arange(n) / (n - 1))  # falls by 8 ADC across the record
    x = line + rng.normal(0, 0.6, n)
    pt0, pt1, r0, _ = P.windows[dtypes.WINDOW_C]
    b_c = line[(pt0 + pt1) // 2]
    top = 2000
    x[top - 10 : top] = np.round(b_c - 119.0) - rng.random(10) * 20  # a ragged edge, then the clipped top
    x[top : top + 6] = np.round(b_c - 119.0)
    kernel, reference = both(to_int8(x[None]))
    assert_same(kernel, reference)
    row = kernel[0][dtypes.WINDOW_C]
    assert line[top] - np.round(b_c - 119.0) >= P.saturation_adc  # saturated against the line only
    assert row["since_saturation_ns"] == round((r0 - (top + 5)) * P.sample_ns)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.integers(-15, 10))
def test_a_baseline_shift_changes_only_the_baseline(seed: int, shift: int) -> None:
    x = random_records(2, seed, P).astype(np.int64)
    ids, times = records_meta(2)
    f0, p0 = extract_features(to_int8(x), ids, times, P, GAIN)
    f1, p1 = extract_features(to_int8(x + shift), ids, times, P, GAIN)
    np.testing.assert_allclose(f1["baseline"], f0["baseline"] + shift, rtol=0, atol=1e-4)
    for name in dtypes.FEATURES.names:
        if f0.dtype[name].kind in "iub":
            np.testing.assert_array_equal(f0[name], f1[name], err_msg=name)
    for name in ("baseline_rms", "charge", "pe", "pretrace_charge", "rise_0_10_ns", "rise_10_50_ns", "rise_10_90_ns"):
        np.testing.assert_allclose(f1[name], f0[name], rtol=1e-4, atol=1e-3, err_msg=name)
    np.testing.assert_array_equal(p0["time_ns"], p1["time_ns"])
    np.testing.assert_allclose(p0["charge"], p1["charge"], rtol=1e-5, atol=1e-3)


@settings(max_examples=10, deadline=None)
@given(data=st.data(), window=st.sampled_from([dtypes.WINDOW_AC, dtypes.WINDOW_C]))
def test_isolated_bright_spes_in_the_pretrace_are_all_found(data, window: int) -> None:
    pt0, pt1 = P.windows[window][:2]
    win = P.initial_window
    gaps = data.draw(st.lists(st.integers(win.pre + win.post + 20, 900), min_size=0, max_size=10))
    first = data.draw(st.integers(pt0 + 50, pt0 + 400))
    positions = [int(p) for p in first + np.cumsum([0, *gaps]) if p < pt1 - win.post - 20]
    rng = np.random.default_rng(len(positions))
    x = 100.3 + rng.normal(0, 0.8, P.n_samples)
    spe = np.array([0.0, 9.0, 11.0, 6.0, 3.0, 1.0])  # 30 ADC*sample, far above the 4.5 rms threshold
    for p in positions:
        add_signal(x, 2 * spe, p - 2)
    kernel, reference = both(to_int8(x[None]))
    assert_same(kernel, reference)
    feats, peaks = kernel
    pre = peaks[(peaks["window"] == window) & (peaks["region"] == dtypes.REGION_PRETRACE)]
    assert feats[window]["n_pretrace_peaks"] == len(positions)
    assert np.all(np.abs(pre["time_ns"] - np.asarray(positions) * P.sample_ns) <= P.sample_ns)  # noise: +-1 sample
