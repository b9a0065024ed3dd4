"""Feature extraction on hand-built CsI records with known answers (daq.kernels.features)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from daq import dtypes
from daq.kernels.features import extract_features
from tests.kernels.kernel_waveforms import add_signal, default_params, flat_record, records_meta, spe_template, to_int8

P = default_params()
DT = P.sample_ns
H = P.halfwidth
GAIN = 30.0
WINDOWS = (dtypes.WINDOW_AC, dtypes.WINDOW_C)


def run(*records: np.ndarray, params=P, gain: float = GAIN) -> tuple[np.ndarray, np.ndarray]:
    ids, times = records_meta(len(records))
    return extract_features(to_int8(np.stack(records)), ids, times, params, gain)


def pretrace(w: int) -> tuple[int, int]:
    return P.windows[w][0], P.windows[w][1]


def roi(w: int) -> tuple[int, int]:
    return P.windows[w][2], P.windows[w][3]


SPE = spe_template(H, 12)


def test_flat_baseline_is_exact() -> None:
    feats, peaks = run(flat_record(100))
    assert np.all(feats["baseline"] == 100.0) and np.all(feats["baseline_rms"] == 0.0)
    assert peaks.size == 0
    assert np.all(feats["onset_ns"] == -1) and np.all(feats["n_pretrace_peaks"] == 0)
    assert np.all(feats["since_saturation_ns"] == -1) and not feats["overflow"].any()
    assert not feats["veto"].any() and not feats["selected"].any() and np.all(feats["cut_mask"] == 0)


def test_two_level_baseline_mean_and_rms() -> None:
    x = flat_record(100)
    x[1::2] = 101  # half the samples one code up: mean +0.5, rms 0.5
    feats, _ = run(x)
    assert np.all(feats["baseline"] == 100.5) and np.all(feats["baseline_rms"] == 0.5)


def test_baseline_ignores_spe_peaks_in_pretrace() -> None:
    x = flat_record(100)
    for p in range(500, 9000, 700):
        add_signal(x, SPE, p - H)
    feats, _ = run(x)
    assert feats["baseline"][0] == 100.0 and feats["baseline_rms"][0] == 0.0


def test_rows_are_ordered_trigger_by_trigger() -> None:
    ids, times = records_meta(3)
    feats, _ = extract_features(to_int8(np.stack([flat_record()] * 3)), ids, times, P, GAIN)
    assert list(feats["trigger_id"]) == [i for i in ids for _ in WINDOWS]
    assert list(feats["window"]) == list(WINDOWS) * 3
    expected = [t - P.c_roi_start_ns + P.roi_start_ns[w] for t in times for w in WINDOWS]
    assert list(feats["time"]) == expected
    assert np.all(feats["spe_gain"] == GAIN)


@pytest.mark.parametrize("w", WINDOWS)
@pytest.mark.parametrize("where", ["pretrace", "roi"])
def test_single_spe_time_amplitude_charge(w: int, where: str) -> None:
    a, b = pretrace(w) if where == "pretrace" else roi(w)
    p = (a + b) // 2 + 3
    x = flat_record(100)
    add_signal(x, SPE, p - H)
    feats, peaks = run(x)
    assert peaks.size == 1
    pk = peaks[0]
    assert pk["window"] == w and pk["region"] == (0 if where == "pretrace" else 1)
    assert pk["time_ns"] == p * DT
    assert pk["amplitude"] == SPE.max() and pk["charge"] == SPE.sum()
    row = feats[w]
    if where == "pretrace":
        assert row["n_pretrace_peaks"] == 1 and row["pretrace_charge"] == SPE.sum()
        assert row["onset_ns"] == -1
    else:
        assert row["n_roi_peaks"] == 1 and row["onset_ns"] == (p - a) * DT
        assert row["charge"] == SPE.sum() and row["n_peaks_int"] == 1
        assert row["pe"] == np.float32(SPE.sum() / GAIN)


def test_below_threshold_and_threshold_exactly() -> None:
    thr = int(P.spe_threshold_adc)
    r0 = roi(dtypes.WINDOW_AC)[0]  # in the ROI: the pretrace (and so the baseline) stays flat
    x = flat_record(100)
    add_signal(x, spe_template(H, thr - 1), r0 + 200)
    add_signal(x, spe_template(H, thr), r0 + 500)
    _, peaks = run(x)
    assert list(peaks["time_ns"]) == [(r0 + 500 + H) * DT]


@pytest.mark.parametrize("n_spe", [1, 2, 5, 17])
def test_separated_spes_counted_in_pretrace(n_spe: int) -> None:
    a, b = pretrace(dtypes.WINDOW_C)
    positions = a + 100 + np.arange(n_spe) * (b - a - 200) // max(n_spe, 1)
    x = flat_record(100)
    for p in positions:
        add_signal(x, SPE, p - H)
    feats, peaks = run(x)
    assert feats["n_pretrace_peaks"][dtypes.WINDOW_C] == n_spe
    assert feats["pretrace_charge"][dtypes.WINDOW_C] == n_spe * SPE.sum()
    assert feats["n_pretrace_peaks"][dtypes.WINDOW_AC] == 0
    assert list(peaks["time_ns"]) == list(positions * DT)


def test_maxima_closer_than_separation_merge_into_highest() -> None:
    sep = P.min_separation
    x = flat_record(100)
    p = 3000
    x[p] -= 10  # three single-sample maxima, each closer than sep to the previous one
    x[p + sep - 1] -= 12
    x[p + 2 * (sep - 1)] -= 11
    x[p + 2 * (sep - 1) + sep] -= 9  # far enough from the previous maximum: its own peak
    _, peaks = run(x)
    assert list(peaks["time_ns"]) == [(p + sep - 1) * DT, (p + 2 * (sep - 1) + sep) * DT]
    assert list(peaks["amplitude"]) == [12, 9]


def test_plateau_peak_sits_at_its_middle() -> None:
    x = flat_record(100)
    x[4000:4007] -= 8  # 7-sample plateau: one peak at the middle sample
    _, peaks = run(x)
    assert list(peaks["time_ns"]) == [4003 * DT]


@pytest.mark.parametrize("w", WINDOWS)
def test_scintillation_pulse_from_k_spes(w: int) -> None:
    r0, _ = roi(w)
    onset = r0 + 1234
    k = 20
    spacing = 2 * H + 1 + 3  # no overlap: K separate peaks, charges add exactly
    x = flat_record(100)
    for i in range(k):
        add_signal(x, SPE, onset + i * spacing - H)
    feats, _ = run(x)
    row = feats[w]
    assert row["onset_ns"] == (onset - r0) * DT
    assert row["n_peaks_int"] == k and row["n_roi_peaks"] == k
    assert row["charge"] == k * SPE.sum()
    assert row["pe"] == np.float32(k * SPE.sum() / GAIN)


def test_peaks_after_the_integration_window_do_not_count() -> None:
    w = dtypes.WINDOW_AC
    r0, r1 = roi(w)
    onset = r1 - 100  # late onset: the integration window runs past the ROI end
    x = flat_record(100)
    add_signal(x, SPE, onset - H)
    add_signal(x, SPE, r1 + 200 - H)  # past the ROI, inside the integration window
    add_signal(x, SPE, onset - H + P.integration + 50 - H)  # past the integration window
    feats, peaks = run(x)
    row = feats[w]
    assert row["n_roi_peaks"] == 1 and row["n_peaks_int"] == 2
    assert row["charge"] == 2 * SPE.sum()
    assert np.count_nonzero((peaks["window"] == w) & (peaks["region"] == dtypes.REGION_ROI)) == 1


def test_rise_times_of_a_step() -> None:
    w = dtypes.WINDOW_C
    onset = roi(w)[0] + 300
    x = flat_record(100)
    x[onset] -= 50  # all charge in one sample: C(j) steps from 0 to Q at sample H of the window
    feats, _ = run(x)
    row = feats[w]
    t = {f: H + f for f in (0.1, 0.5, 0.9)}  # linear interpolation inside the step sample
    assert row["rise_0_10_ns"] == pytest.approx(t[0.1] * DT, rel=1e-6)
    assert row["rise_10_50_ns"] == pytest.approx((t[0.5] - t[0.1]) * DT, rel=1e-6)
    assert row["rise_10_90_ns"] == pytest.approx((t[0.9] - t[0.1]) * DT, rel=1e-6)


def test_rise_times_of_a_ramp() -> None:
    w = dtypes.WINDOW_AC
    onset = roi(w)[0] + 500
    spike, level, length = 10, 5, 1000  # a spike (the onset) then a flat level: a linear cumulative
    x = flat_record(100)
    x[onset] -= spike
    x[onset + 1 : onset + 1 + length] -= level
    feats, _ = run(x)
    row = feats[w]
    q = spike + level * length
    assert row["charge"] == q
    t = {f: H + 1 + (f * q - spike) / level for f in (0.1, 0.5, 0.9)}
    assert row["rise_0_10_ns"] == pytest.approx(t[0.1] * DT, rel=1e-6)
    assert row["rise_10_50_ns"] == pytest.approx((t[0.5] - t[0.1]) * DT, rel=1e-6)
    assert row["rise_10_90_ns"] == pytest.approx((t[0.9] - t[0.1]) * DT, rel=1e-6)


def test_saturated_pulse_before_the_rois() -> None:
    start, length = 3000, 10
    x = flat_record(100)
    x[start : start + length] = -128  # rail in the AC pretrace
    feats, _ = run(x)
    last = start + length - 1
    for w in WINDOWS:
        assert feats["since_saturation_ns"][w] == (roi(w)[0] - last) * DT
    assert feats["overflow"][dtypes.WINDOW_AC] and not feats["overflow"][dtypes.WINDOW_C]


@pytest.mark.parametrize("excursion,saturated", [(int(P.saturation_adc), True), (int(P.saturation_adc) - 1, False)])
def test_saturation_threshold_without_rail(excursion: int, saturated: bool) -> None:
    x = flat_record(100)
    p = roi(dtypes.WINDOW_C)[0] - 7  # in the C pretrace, 7 samples before the C ROI
    x[p] -= excursion
    feats, _ = run(x)
    expected = [(roi(w)[0] - p) * DT if saturated and p < roi(w)[0] else -1 for w in WINDOWS]
    assert list(feats["since_saturation_ns"]) == expected
    assert not feats["overflow"].any()


def test_saturation_inside_the_roi_does_not_count() -> None:
    x = flat_record(100)
    x[roi(dtypes.WINDOW_C)[0] + 10] = -128
    feats, _ = run(x)
    assert feats["since_saturation_ns"][dtypes.WINDOW_C] == -1
    assert feats["overflow"][dtypes.WINDOW_C]


@pytest.mark.parametrize("code", [-128, 127])
def test_overflow_in_roi_and_integration_window(code: int) -> None:
    w = dtypes.WINDOW_AC
    r0, r1 = roi(w)
    x = flat_record(100)
    add_signal(x, SPE, r1 - 20 - H)  # late AC onset
    x[r1 + 100] = code  # past the AC ROI, inside its integration window
    x[P.windows[1][3] + 500] = code  # after the C ROI, no C onset: not a C overflow
    feats, _ = run(x)
    assert feats["overflow"][w]
    x[r1 + 100] = 100
    feats, _ = run(x)
    assert not feats["overflow"].any()


def test_windows_are_processed_identically() -> None:
    rng = np.random.default_rng(7)
    ac, c = P.windows
    offsets = rng.integers(100, ac[3] - ac[0] - 100, 12)
    heights = rng.integers(5, 20, offsets.size)
    x = flat_record(100)
    for w in WINDOWS:
        start = P.windows[w][0]
        for o, a in zip(offsets, heights, strict=True):
            add_signal(x, spe_template(H, int(a)), start + o - H)
        add_signal(x, np.full(30, 3), P.windows[w][2] + 700)  # a slow bump after the first ROI peaks
    feats, peaks = run(x)
    for name in dtypes.FEATURES.names:
        if name not in ("time", "window"):
            assert feats[name][0] == feats[name][1], name
    shift = (c[0] - ac[0]) * DT
    ac_peaks, c_peaks = peaks[peaks["window"] == 0], peaks[peaks["window"] == 1]
    assert np.array_equal(ac_peaks["time_ns"] + shift, c_peaks["time_ns"])
    assert np.array_equal(ac_peaks["charge"], c_peaks["charge"])


def test_positive_polarity_mirrors_negative() -> None:
    x = flat_record(100)
    add_signal(x, SPE, roi(1)[0] + 40 - H)
    neg, _ = run(x)
    pos_params = dataclasses.replace(P, polarity=1)
    y = flat_record(-100)
    add_signal(y, SPE, roi(1)[0] + 40 - H, polarity=1)
    pos, _ = run(y, params=pos_params)
    assert pos["baseline"][1] == -100.0
    for name in ("onset_ns", "charge", "n_peaks_int", "rise_0_10_ns", "rise_10_90_ns"):
        assert pos[name][1] == neg[name][1]


def test_input_checks() -> None:
    ids, times = records_meta(1)
    with pytest.raises(ValueError, match="int8"):
        extract_features(np.zeros((1, P.n_samples), np.int16), ids, times, P, GAIN)
    with pytest.raises(ValueError, match=str(P.n_samples)):
        extract_features(np.zeros((1, 10), np.int8), ids, times, P, GAIN)
    with pytest.raises(ValueError, match="spe_gain"):
        extract_features(np.zeros((1, P.n_samples), np.int8), ids, times, P, 0.0)


def test_read_only_input_is_accepted_and_untouched() -> None:
    x = flat_record(100)
    add_signal(x, SPE, roi(1)[0] + 40 - H)
    raw = to_int8(x[None])
    copy = raw.copy()
    raw.flags.writeable = False  # records arrive as read-only message frames
    ids, times = records_meta(1)
    feats, _ = extract_features(raw, ids, times, P, GAIN)
    assert np.array_equal(raw, copy) and feats["onset_ns"][1] == 40 * DT


def test_no_records_give_empty_tables() -> None:
    ids, times = records_meta(0)
    feats, peaks = extract_features(np.zeros((0, P.n_samples), np.int8), ids, times, P, GAIN)
    assert feats.dtype == dtypes.FEATURES and feats.size == 0
    assert peaks.dtype == dtypes.PEAK and peaks.size == 0
