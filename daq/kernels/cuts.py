"""The cuts of section 4, applied identically to the AC and the C windows: pure numpy functions.

A set ``CUT_*`` bit (``daq.dtypes``) in ``cut_mask`` means the window FAILS that cut:

* veto: a muon-veto hit of the same trigger at ``[onset + a, onset + b]`` (record-relative ns, both ends
  included; a window without an onset uses its ROI start);
* linear gate: ``0 <= since_saturation_ns < linear_gate_ns`` (deadtime after PMT saturation);
* overflow: an ADC rail in the pretrace, ROI or integration window;
* afterglow: more than ``afterglow_max_pretrace_peaks`` peaks in the pretrace;
* cherenkov: fewer than ``cherenkov_min_peaks`` peaks in the integration window;
* rise time: any of the three rise times outside its inclusive range;
* no onset: no scintillation onset in the ROI.

The pulse-shape cuts (cherenkov, rise time) judge a pulse, so they are only applied to windows with an
onset; a window without one fails ``no onset`` alone, which keeps the cut fractions readable.
A window is selected when it fails no cut and its PE and onset time lie in the analysis window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq import dtypes


@dataclass(frozen=True)
class CutParams:
    """Cut thresholds (from ``[cuts]`` of the config, see :func:`daq.stages.params.cut_params`); times in ns."""

    roi_start_ns: tuple[int, int]  # record-relative ROI start of the AC and C windows
    veto_window_ns: tuple[int, int]
    linear_gate_ns: int
    afterglow_max_pretrace_peaks: int
    cherenkov_min_peaks: int
    rise_0_10_ns: tuple[float, float]
    rise_10_50_ns: tuple[float, float]
    rise_10_90_ns: tuple[float, float]
    analysis_pe: tuple[float, float]
    analysis_time_ns: tuple[float, float]


def veto_coincidence(features: np.ndarray, veto_hits: np.ndarray, params: CutParams) -> np.ndarray:
    """Boolean per window: a veto hit of the same trigger in the veto window around the onset."""
    if features.size == 0 or veto_hits.size == 0:
        return np.zeros(features.size, bool)
    roi_start = np.asarray(params.roi_start_ns, dtype=np.int64)[features["window"].astype(np.int64)]
    onset = features["onset_ns"]
    anchor = roi_start + np.where(onset >= 0, onset, 0)
    lo = anchor + params.veto_window_ns[0]
    hi = anchor + params.veto_window_ns[1]
    # one sorted key per (trigger, time): trigger rank * span + time offset; no overflow for any trigger id
    triggers, rank = np.unique(np.concatenate([features["trigger_id"], veto_hits["trigger_id"]]),
                               return_inverse=True)
    f_rank, h_rank = rank[: features.size], rank[features.size :]
    t_hit = veto_hits["time_ns"]
    t0 = min(lo.min(), t_hit.min())
    span = max(hi.max(), t_hit.max()) - t0 + 1
    hit_key = np.sort(h_rank * span + (t_hit - t0))
    first = np.searchsorted(hit_key, f_rank * span + (lo - t0), side="left")
    after = np.searchsorted(hit_key, f_rank * span + (hi - t0), side="right")
    return after > first


def _outside(values: np.ndarray, allowed: tuple[float, float]) -> np.ndarray:
    return (values < allowed[0]) | (values > allowed[1])


def apply_cuts(features: np.ndarray, veto_hits: np.ndarray, params: CutParams) -> np.ndarray:
    """Fill ``veto``, ``cut_mask`` and ``selected`` of the FEATURES array ``features`` IN PLACE from its
    other fields and the VETO_HIT array ``veto_hits`` (hits of any triggers; matched by trigger id).
    Returns ``features``."""
    f = features
    veto = veto_coincidence(f, veto_hits, params)
    has_onset = f["onset_ns"] >= 0
    rise_bad = (
        _outside(f["rise_0_10_ns"], params.rise_0_10_ns)
        | _outside(f["rise_10_50_ns"], params.rise_10_50_ns)
        | _outside(f["rise_10_90_ns"], params.rise_10_90_ns)
    )
    since = f["since_saturation_ns"]
    failing = {
        dtypes.CUT_VETO: veto,
        dtypes.CUT_LINEAR_GATE: (since >= 0) & (since < params.linear_gate_ns),
        dtypes.CUT_OVERFLOW: f["overflow"],
        dtypes.CUT_AFTERGLOW: f["n_pretrace_peaks"] > params.afterglow_max_pretrace_peaks,
        dtypes.CUT_CHERENKOV: has_onset & (f["n_peaks_int"] < params.cherenkov_min_peaks),
        dtypes.CUT_RISE_TIME: has_onset & rise_bad,
        dtypes.CUT_NO_ONSET: ~has_onset,
    }
    mask = np.zeros(f.size, np.uint16)
    for bit, fails in failing.items():
        mask |= np.where(fails, np.uint16(bit), np.uint16(0))
    f["veto"] = veto
    f["cut_mask"] = mask
    f["selected"] = (
        (mask == 0)
        & ~_outside(f["pe"], params.analysis_pe)
        & ~_outside(f["onset_ns"], params.analysis_time_ns)
    )
    return f


def cut_fractions(features: np.ndarray) -> dict[str, float]:
    """Fraction of the windows failing each cut, by cut name (``dtypes.CUT_NAMES``); 0 for no windows."""
    n = features.size
    mask = features["cut_mask"]
    return {name: (float(np.count_nonzero(mask & bit)) / n if n else 0.0) for bit, name in dtypes.CUT_NAMES.items()}


def selected_events(features: np.ndarray, triggers: np.ndarray) -> np.ndarray:
    """SELECTED rows (the offline fit's input) of the windows with ``selected`` set.

    ``time_ns`` is the onset after ROI start (for C: after the beam time); ``beam_on`` is the
    trigger's. ``triggers`` must be sorted by trigger_id and hold every selected trigger.
    """
    sel = features[features["selected"]]
    out = np.zeros(len(sel), dtypes.SELECTED)
    out["trigger_id"] = sel["trigger_id"]
    out["window"] = sel["window"]
    out["pe"] = sel["pe"]
    out["time_ns"] = sel["onset_ns"]
    if len(sel):
        out["beam_on"] = triggers["beam_on"][np.searchsorted(triggers["trigger_id"], sel["trigger_id"])]
    return out
