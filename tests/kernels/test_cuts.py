"""Every cut bit on hand-built FEATURES rows (daq.kernels.cuts)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from daq import config, dtypes
from daq.kernels.cuts import apply_cuts, cut_fractions
from daq.stages.params import cut_params

PARAMS = cut_params(config.load())
TRIGGER = 42


def passing_row(window: int = dtypes.WINDOW_C) -> np.ndarray:
    """A window that passes every cut and lies inside the analysis window."""
    p = PARAMS
    row = np.zeros(1, dtypes.FEATURES)
    row["trigger_id"] = TRIGGER
    row["window"] = window
    row["onset_ns"] = int(np.mean(p.analysis_time_ns))
    row["pe"] = np.mean(p.analysis_pe)
    row["n_peaks_int"] = p.cherenkov_min_peaks
    row["n_pretrace_peaks"] = p.afterglow_max_pretrace_peaks
    row["rise_0_10_ns"] = np.mean(p.rise_0_10_ns)
    row["rise_10_50_ns"] = np.mean(p.rise_10_50_ns)
    row["rise_10_90_ns"] = np.mean(p.rise_10_90_ns)
    row["since_saturation_ns"] = -1
    return row


NO_HITS = np.zeros(0, dtypes.VETO_HIT)


def hit(time_ns: int, trigger: int = TRIGGER) -> np.ndarray:
    h = np.zeros(1, dtypes.VETO_HIT)
    h["trigger_id"], h["time_ns"], h["amplitude"] = trigger, time_ns, 50.0
    return h


def test_passing_row_passes_and_is_selected() -> None:
    for w in (dtypes.WINDOW_AC, dtypes.WINDOW_C):
        row = apply_cuts(passing_row(w), NO_HITS, PARAMS)
        assert row["cut_mask"][0] == 0 and row["selected"][0] and not row["veto"][0]


FAILING = {
    dtypes.CUT_LINEAR_GATE: [("since_saturation_ns", 0), ("since_saturation_ns", PARAMS.linear_gate_ns - 1)],
    dtypes.CUT_OVERFLOW: [("overflow", True)],
    dtypes.CUT_AFTERGLOW: [("n_pretrace_peaks", PARAMS.afterglow_max_pretrace_peaks + 1)],
    dtypes.CUT_CHERENKOV: [("n_peaks_int", PARAMS.cherenkov_min_peaks - 1)],
    dtypes.CUT_RISE_TIME: [
        ("rise_0_10_ns", PARAMS.rise_0_10_ns[1] + 1), ("rise_0_10_ns", PARAMS.rise_0_10_ns[0] - 1),
        ("rise_10_50_ns", PARAMS.rise_10_50_ns[1] + 1), ("rise_10_90_ns", PARAMS.rise_10_90_ns[1] + 1),
    ],
}


@pytest.mark.parametrize("bit,field,value", [(b, f, v) for b, changes in FAILING.items() for f, v in changes])
def test_each_cut_sets_only_its_bit(bit: int, field: str, value) -> None:
    row = passing_row()
    row[field] = value
    apply_cuts(row, NO_HITS, PARAMS)
    assert row["cut_mask"][0] == bit, dtypes.cut_mask_names(int(row["cut_mask"][0]))
    assert not row["selected"][0]


@pytest.mark.parametrize("field,value", [
    ("since_saturation_ns", PARAMS.linear_gate_ns), ("n_pretrace_peaks", PARAMS.afterglow_max_pretrace_peaks),
    ("n_peaks_int", PARAMS.cherenkov_min_peaks), ("rise_10_90_ns", PARAMS.rise_10_90_ns[1]),
])
def test_values_at_the_edges_pass(field: str, value) -> None:
    row = passing_row()
    row[field] = value
    assert apply_cuts(row, NO_HITS, PARAMS)["cut_mask"][0] == 0


def test_no_onset_fails_no_onset_only() -> None:
    row = passing_row()
    row["onset_ns"] = -1
    row["n_peaks_int"] = 0
    row["rise_10_90_ns"] = PARAMS.rise_10_90_ns[1] + 1
    apply_cuts(row, NO_HITS, PARAMS)
    assert row["cut_mask"][0] == dtypes.CUT_NO_ONSET and not row["selected"][0]


@pytest.mark.parametrize("window", [dtypes.WINDOW_AC, dtypes.WINDOW_C])
def test_veto_window_around_the_onset(window: int) -> None:
    row = passing_row(window)
    onset_abs = PARAMS.roi_start_ns[window] + int(row["onset_ns"][0])
    a, b = PARAMS.veto_window_ns
    for t, vetoed in [(onset_abs + a, True), (onset_abs + b, True), (onset_abs + a - 1, False),
                      (onset_abs + b + 1, False)]:
        r = apply_cuts(passing_row(window), hit(t), PARAMS)
        assert r["veto"][0] == vetoed and bool(r["cut_mask"][0] & dtypes.CUT_VETO) == vetoed, t
        assert r["cut_mask"][0] in (0, dtypes.CUT_VETO)


def test_veto_hit_of_another_trigger_does_not_count() -> None:
    row = passing_row()
    onset_abs = PARAMS.roi_start_ns[1] + int(row["onset_ns"][0])
    hits = np.concatenate([hit(onset_abs, TRIGGER - 1), hit(onset_abs, TRIGGER + 1)])
    assert apply_cuts(row, hits, PARAMS)["cut_mask"][0] == 0


def test_veto_without_onset_uses_the_roi_start() -> None:
    row = passing_row(dtypes.WINDOW_AC)
    row["onset_ns"] = -1
    roi = PARAMS.roi_start_ns[dtypes.WINDOW_AC]
    apply_cuts(row, hit(roi + PARAMS.veto_window_ns[1]), PARAMS)
    assert row["veto"][0]


@pytest.mark.parametrize("field,bounds", [("pe", (6.0, 30.0)), ("onset_ns", (100, 6000))])
def test_analysis_window_is_inclusive(field: str, bounds: tuple[float, float]) -> None:
    key = "analysis_pe" if field == "pe" else "analysis_time_ns"
    params = dataclasses.replace(PARAMS, **{key: bounds})
    step = 1 if field == "onset_ns" else 0.01
    for value, inside in [(bounds[0], True), (bounds[1], True), (bounds[0] - step, False),
                          (bounds[1] + step, False)]:
        row = passing_row()
        row[field] = value
        apply_cuts(row, NO_HITS, params)
        assert row["cut_mask"][0] == 0 and row["selected"][0] == inside, value


def test_cut_params_follow_the_config() -> None:
    cfg = config.load()
    changed = config.with_overrides(cfg, {"cuts": {"afterglow_max_pretrace_peaks": 7, "veto_window_ns": [-5, 6]}})
    p = cut_params(changed)
    assert p.afterglow_max_pretrace_peaks == 7 and p.veto_window_ns == (-5, 6)
    assert p.roi_start_ns == (cfg.windows.ac_roi[0], cfg.windows.c_roi[0])


def test_cut_fractions_and_many_windows() -> None:
    rows = np.concatenate([passing_row(w % 2) for w in range(10)])
    rows["trigger_id"] = np.arange(10) // 2
    rows["overflow"][:3] = True
    rows["n_pretrace_peaks"][2:4] = PARAMS.afterglow_max_pretrace_peaks + 1
    onset_abs = PARAMS.roi_start_ns[1] + int(rows["onset_ns"][9])
    apply_cuts(rows, hit(onset_abs, trigger=4), PARAMS)
    fractions = cut_fractions(rows)
    assert set(fractions) == set(dtypes.CUT_NAMES.values())
    assert fractions["overflow"] == 0.3 and fractions["afterglow"] == 0.2
    assert fractions["veto"] == 0.1  # only the C window of trigger 4 has the hit in its veto window
    assert fractions["no_onset"] == 0.0
    assert list(rows["selected"]) == [False] * 4 + [True] * 5 + [False]
    assert cut_fractions(np.zeros(0, dtypes.FEATURES)) == dict.fromkeys(dtypes.CUT_NAMES.values(), 0.0)


def test_cut_params_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARAMS.linear_gate_ns = 1  # type: ignore[misc]
