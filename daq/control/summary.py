"""The run summary, computed from the run file alone (so it says what the file holds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from daq import dtypes
from daq.kernels.exposure import gwhr
from daq.runfile import RunFileError, open_run, run_files


def _nanmean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return round(float(x.mean()), 4) if len(x) else None


def _concat(files: list[Any], name: str) -> np.ndarray:
    return np.concatenate([f[name][:] for f in files])


def run_summary(path: str | Path) -> dict[str, Any]:
    """Summary of the run ``path`` belongs to, over all its sub-run files.

    A damaged file (truncated, corrupted) gives a RunFileError naming it and what failed.
    """
    try:
        return _run_summary(path)
    except (KeyError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise RunFileError(f"{path}: damaged run file, cannot summarise it ({type(exc).__name__}: {exc})") from None


def _run_summary(path: str | Path) -> dict[str, Any]:
    paths = run_files(path) or [Path(path)]
    files = [open_run(p) for p in paths]
    try:
        first, last = files[0].attrs, files[-1].attrs
        triggers = _concat(files, "triggers")
        feats = _concat(files, "features")
        dq = _concat(files, "dq")
        losses = _concat(files, "losses")
        beam = _concat(files, "beam")
        truth = _concat(files, "truth/events") if all("truth/events" in f for f in files) else None
        start, stop = int(first["start_time_ns"]), int(last["stop_time_ns"])
        trig_losses = losses[losses["trigger_id"] >= 0]
        beam_on_ids = triggers["trigger_id"][triggers["beam_on"]]
        sel = feats[feats["selected"] & np.isin(feats["trigger_id"], beam_on_ids)]
        n_windows = max(len(feats), 1)
        restarts = json.loads(last["restarts"]) if "restarts" in last else []
        return {
            "run_number": int(first["run_number"]),
            "file": str(Path(paths[0]).resolve()),
            "files": [str(Path(p).resolve()) for p in paths],
            "exit_status": str(last["exit_status"]),
            "stop_record": bool(stop),
            "duration_s": round((stop - start) / 1e9, 3) if stop else None,
            "triggers": {
                "generated": int(last["triggers_generated"]),
                "recorded": len(np.unique(triggers["trigger_id"])),
                "lost": int(trig_losses["count"].sum()),
            },
            "loss_reasons": sorted({r.decode() for r in losses["reason"]}),
            "restarts": len(restarts),
            "restarted": [r["process"] for r in restarts],
            "unmatched_triggers": int(np.count_nonzero(triggers["flags"] & dtypes.TRIGGER_UNMATCHED)),
            "beam_pulses": len(beam),
            "beam_pulses_missing": int(last.get("beam_pulses_missing", 0)),
            "beam_on_fraction": round(float(triggers["beam_on"].mean()), 4) if len(triggers) else None,
            "pot": float(beam["pot"].sum()) if len(beam) else 0.0,
            "gwhr": gwhr(float(beam["pot"].sum()), _proton_energy(first)) if len(beam) else 0.0,
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
            "truth": _truth_counts(truth) if truth is not None else {},
        }
    finally:
        for f in files:
            f.close()


def _proton_energy(attrs: Any) -> float:
    from daq import config

    return config.parse(str(attrs["config"])).beam.proton_energy_gev


def _truth_counts(ev: np.ndarray) -> dict[str, int]:
    return {name: int(np.count_nonzero(ev["kind"] == k)) for k, name in dtypes.TRUTH_NAMES.items()
            if k != dtypes.TRUTH_SPE}


def human(summary: dict[str, Any]) -> str:
    t = summary["triggers"]
    dq = summary["dq"]
    lines = [
        f"run {summary['run_number']}  ->  {summary['file']}",
        f"  status      {summary['exit_status']}   duration {summary['duration_s']} s" if summary["stop_record"] else
        f"  status      {summary['exit_status']}: no stop record (still being written, or its writer was killed "
        "or failed; it holds what was flushed)",
        f"  triggers    generated {t['generated']}  recorded {t['recorded']}  lost {t['lost']}"
        + (f"  ({', '.join(summary['loss_reasons'])})" if summary["loss_reasons"] else ""),
        f"  files       {len(summary['files'])}   restarts {summary['restarts']}"
        + (f" ({', '.join(summary['restarted'])})" if summary["restarted"] else ""),
        f"  beam        {summary['beam_pulses']} pulses, {summary['pot']:.3e} POT, {summary['gwhr']:.3e} GWhr, "
        f"beam-on {summary['beam_on_fraction']}, unmatched triggers {summary['unmatched_triggers']}"
        + (f", {summary['beam_pulses_missing']} pulses missing" if summary.get("beam_pulses_missing") else ""),
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
