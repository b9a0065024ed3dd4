"""The run summary, computed from the run file alone (so it says what the file holds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from daq import dtypes
from daq.runfile import open_run


def _nanmean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return round(float(x.mean()), 4) if len(x) else None


def run_summary(path: str | Path) -> dict[str, Any]:
    with open_run(path) as f:
        a = f.attrs
        triggers = f["triggers"][:]
        feats = f["features"][:]
        dq = f["dq"][:]
        losses = f["losses"][:]
        beam = f["beam"]
        start, stop = int(a["start_time_ns"]), int(a["stop_time_ns"])
        trig_losses = losses[losses["trigger_id"] >= 0]
        beam_on_ids = triggers["trigger_id"][triggers["beam_on"]]
        sel = feats[feats["selected"] & np.isin(feats["trigger_id"], beam_on_ids)]
        n_windows = max(len(feats), 1)
        pot = float(beam["pot"].sum()) if len(beam) else 0.0
        return {
            "run_number": int(a["run_number"]),
            "file": str(Path(path).resolve()),
            "exit_status": str(a["exit_status"]),
            "duration_s": round((stop - start) / 1e9, 3) if stop else None,
            "triggers": {
                "generated": int(a["triggers_generated"]),
                "recorded": len(triggers),
                "lost": int(trig_losses["count"].sum()),
            },
            "loss_reasons": sorted({r.decode() for r in losses["reason"]}),
            "unmatched_triggers": int(np.count_nonzero(triggers["flags"] & dtypes.TRIGGER_UNMATCHED)),
            "beam_pulses": len(beam),
            "beam_on_fraction": round(float(triggers["beam_on"].mean()), 4) if len(triggers) else None,
            "pot": pot,
            "gwhr": float(a.get("gwhr_total", 0.0)),
            "dq": {
                "baseline_adc": _nanmean(dq["baseline_adc"]),
                "spe_mean_charge": _nanmean(dq["spe_mean_charge"]),
                "afterglow_fraction": _nanmean(dq["afterglow_fraction"]),
                "pot_to_signal_delay_ns": _nanmean(dq["pot_to_signal_delay_ns"]),
                "line_gain": _nanmean(dq["line_gain"]),
            },
            "cut_fractions": {
                name: round(int(np.count_nonzero(feats["cut_mask"] & bit)) / n_windows, 5)
                for bit, name in dtypes.CUT_NAMES.items()
            },
            "counts": {
                "C": int(np.count_nonzero(sel["window"] == dtypes.WINDOW_C)),
                "AC": int(np.count_nonzero(sel["window"] == dtypes.WINDOW_AC)),
            },
            "truth": _truth_counts(f) if "truth/events" in f else {},
        }


def _truth_counts(f: Any) -> dict[str, int]:
    ev = f["truth/events"][:]
    return {name: int(np.count_nonzero(ev["kind"] == k)) for k, name in dtypes.TRUTH_NAMES.items()
            if k != dtypes.TRUTH_SPE}


def human(summary: dict[str, Any]) -> str:
    t = summary["triggers"]
    dq = summary["dq"]
    lines = [
        f"run {summary['run_number']}  ->  {summary['file']}",
        f"  status      {summary['exit_status']}   duration {summary['duration_s']} s",
        f"  triggers    generated {t['generated']}  recorded {t['recorded']}  lost {t['lost']}"
        + (f"  ({', '.join(summary['loss_reasons'])})" if summary["loss_reasons"] else ""),
        f"  beam        {summary['beam_pulses']} pulses, {summary['pot']:.3e} POT, {summary['gwhr']:.3e} GWhr, "
        f"beam-on {summary['beam_on_fraction']}, unmatched triggers {summary['unmatched_triggers']}",
        f"  dq          baseline {dq['baseline_adc']} ADC, SPE charge {dq['spe_mean_charge']} ADC*sample, "
        f"afterglow cut {dq['afterglow_fraction']}",
        "  cuts        " + ", ".join(f"{k} {v:.3f}" for k, v in summary["cut_fractions"].items()),
        f"  selected    C {summary['counts']['C']}  AC {summary['counts']['AC']}  (beam on, analysis window)",
    ]
    if summary.get("truth"):
        lines.append("  truth       " + ", ".join(f"{k} {v}" for k, v in summary["truth"].items() if v))
    return "\n".join(lines)


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, separators=(",", ":"))
