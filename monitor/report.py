"""The run report a shift hands over: data-quality trends, cut fractions, spectra, a summary table.

``sevens report RUN.h5 [--out DIR] [--force]`` reads the run (the file and its sub-run files) and
writes ``dq_trends.png``, ``cut_fractions.png``, ``spectra.png``, ``summary.json`` and ``index.html``
(self-contained: the images are embedded) to ``DIR`` (default: ``run_NNNNNN_report/`` beside the
file). Each file of the run is first read whole against its checksums (raw waveforms included): a
damaged one is refused, naming the dataset and rows. Existing report files are replaced only with
``force``; the files are written in a staging directory and moved into ``DIR`` at the end, so a
failure leaves none of them half-written (:mod:`daq.runfile.outputs`).
The summary table comes from :func:`daq.control.summary.run_summary`, plus the livetime (recorded
triggers x ROI length) and the beam-on livetime. Matplotlib with the Agg backend.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from daq import config as config_mod  # noqa: E402
from daq import dtypes  # noqa: E402
from daq.config import Config  # noqa: E402
from daq.runfile import RunFileError, open_run, read_rows, readable_attrs, run_files  # noqa: E402
from daq.runfile.integrity import require_intact  # noqa: E402
from daq.runfile.outputs import OutputError, check_output, staged  # noqa: E402
from monitor.filesource import alarm_log_of  # noqa: E402

C_COLOUR, AC_COLOUR, EXCESS_COLOUR = "#1f77b4", "#7f7f7f", "#d62728"
REPORT_FILES = ("dq_trends.png", "cut_fractions.png", "spectra.png", "index.html", "summary.json")
FEATURE_FIELDS = ("trigger_id", "window", "pe", "onset_ns", "cut_mask", "selected")
TRIGGER_FIELDS = ("trigger_id", "time", "beam_on")
# DQ panels: field, title, unit label, config limit key (None: no alarm limits), transform
DQ_PANELS = (
    ("trigger_rate_hz", "trigger rate", "Hz", "trigger_rate_hz"),
    ("beam_on_fraction", "beam-on fraction", "", None),
    ("beam_power_mw", "beam power", "MW", None),
    ("pot_total", "accumulated POT", "protons", None),
    ("baseline_adc", "CsI baseline", "ADC", "baseline_adc"),
    ("baseline_rms_adc", "CsI baseline rms", "ADC", "baseline_rms_adc"),
    ("noise_peak_rate_hz", "noise-peak rate", "Hz", "noise_peak_rate_hz"),
    ("spe_gain", "SPE gain in use", "ADC x sample", None),
    ("spe_mean_charge", "SPE mean charge", "ADC x sample", "spe_mean_charge"),
    ("line_gain", "internal-line gain", "ratio", "line_gain"),
    ("afterglow_fraction", "afterglow-cut fraction", "", "afterglow_fraction"),
    ("veto_fraction", "muon-veto-cut fraction", "", "veto_fraction"),
    ("linear_gate_fraction", "linear-gate fraction", "", "linear_gate_fraction"),
    ("overflow_fraction", "ADC-overflow fraction", "", "overflow_fraction"),
    ("pot_to_signal_delay_ns", "POT-to-signal delay", "ns", None),
    ("losses", "lost triggers", "per interval", None),
)


@dataclass
class RunData:
    files: list[Path]
    cfg: Config
    attrs: dict[str, Any]
    triggers: np.ndarray
    features: np.ndarray
    dq: np.ndarray
    alarms: list[dict[str, Any]] = field(default_factory=list)  # the supervisor's log (the run's last file)


def _table(f: Any, name: str, fields: tuple[str, ...] | None = None) -> np.ndarray:
    """A whole table of a run file; a damaged one is an error that says where (replay salvages it)."""
    ds = f[name]
    rows, err = read_rows(ds if fields is None else ds.fields(list(fields)), 0, ds.shape[0])
    if err:
        raise RunFileError(f"{f.filename}: {err}; `sevens replay` it to salvage the readable part")
    return rows


def load_run(run_file: str | Path) -> RunData:
    """The tables the report needs, over all files of the run."""
    files = run_files(run_file)
    parts: dict[str, list[np.ndarray]] = {"triggers": [], "features": [], "dq": []}
    attrs: dict[str, Any] = {}
    for path in files:
        require_intact(path)  # every chunk, raw included: a flipped bit is an error, not a changed plot
        with open_run(path) as f:
            attrs = attrs or readable_attrs(f)
            # the last file's log is the whole run's
            alarms = alarm_log_of(readable_attrs(f, ("alarms", "restarts", "exit_status", "stop_time_ns")))
            parts["triggers"].append(_table(f, "triggers", TRIGGER_FIELDS))
            parts["features"].append(_table(f, "features", FEATURE_FIELDS))
            parts["dq"].append(_table(f, "dq"))
    if "config" not in attrs:
        raise RunFileError(f"{files[0]}: no readable config attribute (file cut short?); "
                           "`sevens replay --config FILE` salvages its readable part")
    cfg = config_mod.parse(str(attrs["config"]), f"{files[0]}[config]")
    return RunData(files, cfg, attrs, *(np.concatenate(parts[k]) for k in ("triggers", "features", "dq")), alarms)


def _beam_on(data: RunData) -> np.ndarray:
    """Beam-on flag of each feature row, from its trigger."""
    t = data.triggers
    idx = np.clip(np.searchsorted(t["trigger_id"], data.features["trigger_id"]), 0, max(len(t) - 1, 0))
    return t["beam_on"][idx] if len(t) else np.zeros(len(data.features), bool)


def plot_dq(data: RunData, out: Path) -> Path:
    """Data-quality trends versus run time, with the config's alarm limits as a green band."""
    dq = data.dq
    t0 = int(data.triggers["time"][0]) if len(data.triggers) else (int(dq["time"][0]) if len(dq) else 0)
    minutes = (dq["time"] - t0) / 60e9
    fig, axes = plt.subplots(5, 3, figsize=(13, 14), sharex=True, constrained_layout=True)
    fig.suptitle(f"Data quality, run {data.attrs.get('run_number', '?')}  "
                 f"({len(dq)} intervals of {data.cfg.run.dq_interval_s:g} s)", fontsize=13)
    # the row written at the end of the run covers a partial interval (its rate reads low): drawn hollow
    partial = np.zeros(len(dq), bool)
    if len(dq) and len(data.triggers):
        covered = (int(data.triggers["time"][-1]) - (int(dq["time"][-1]) - data.cfg.run.dq_interval_s * 1e9))
        partial[-1] = covered < 0.9 * data.cfg.run.dq_interval_s * 1e9
    for ax, (name, title, unit, limit) in zip(axes.flat, DQ_PANELS, strict=False):
        y = dq[name].astype(float)
        ax.set_title(title + (f" [{unit}]" if unit else ""), fontsize=10)
        ok = ~partial
        if limit is not None:
            lo, hi = getattr(data.cfg.dq, limit)
            ax.axhspan(lo, hi, color="#2ca02c", alpha=0.12, lw=0)
            for v in (lo, hi):
                ax.axhline(v, color="#2ca02c", ls="--", lw=0.8)
            ok &= ~np.isfinite(y) | ((y >= lo) & (y <= hi))
        ax.plot(minutes, y, "-", color="#1f77b4", lw=1, alpha=0.6)
        ax.plot(minutes[ok], y[ok], "o", color="#1f77b4", ms=3)
        bad = ~ok & ~partial
        if bad.any():
            ax.plot(minutes[bad], y[bad], "o", color=EXCESS_COLOUR, ms=4)
        if partial.any():
            ax.plot(minutes[partial], y[partial], "o", mfc="none", color="#1f77b4", ms=5)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(DQ_PANELS):]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", color="#1f77b4", ms=4, label="one DQ interval"),
               Patch(color="#2ca02c", alpha=0.25, label="alarm limits (config [dq])"),
               Line2D([], [], marker="o", ls="", color=EXCESS_COLOUR, ms=5, label="outside the limits"),
               Line2D([], [], marker="o", ls="", mfc="none", color="#1f77b4", ms=6,
                      label="last interval, partial (end of run)")]
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.93, 0.06), fontsize=11, frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel("run time [min]")
    for ax in axes.flat[len(DQ_PANELS) - 3:len(DQ_PANELS)]:
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("run time [min]")
    path = out / "dq_trends.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def cut_table(data: RunData) -> dict[str, dict[str, float]]:
    """Fraction of windows failing each cut, for the C and AC windows and both together."""
    f = data.features
    out: dict[str, dict[str, float]] = {}
    for label, mask in (("C", f["window"] == dtypes.WINDOW_C), ("AC", f["window"] == dtypes.WINDOW_AC),
                        ("all", np.ones(len(f), bool))):
        m = f["cut_mask"][mask]
        n = max(len(m), 1)
        row = {name: np.count_nonzero(m & bit) / n for bit, name in dtypes.CUT_NAMES.items()}
        row["pass all cuts"] = np.count_nonzero(m == 0) / n
        row["selected"] = np.count_nonzero(f["selected"][mask]) / n
        out[label] = row
    return out


def plot_cuts(data: RunData, out: Path) -> Path:
    """Fraction of windows failing each cut, C and AC side by side (identical processing)."""
    table = cut_table(data)
    names = list(table["C"])
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for dy, label, colour in ((-0.2, "C", C_COLOUR), (0.2, "AC", AC_COLOUR)):
        values = [table[label][n] for n in names]
        ax.barh(y + dy, values, height=0.38, color=colour, label=f"{label} windows")
        for yi, v in zip(y + dy, values, strict=True):
            ax.text(v, yi, f" {100 * v:.2f} %", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.axhline(len(dtypes.CUT_NAMES) - 0.5, color="k", lw=0.6)
    ax.set_xlim(0, min(1.0, 1.25 * max(max(r.values()) for r in table.values()) + 0.05))
    ax.set_xlabel("fraction of windows (cuts: failing; last rows: passing)")
    ax.set_title(f"Cut fractions, run {data.attrs.get('run_number', '?')} ({len(data.features) // 2} triggers)")
    ax.legend(frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    path = out / "cut_fractions.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def spectra(data: RunData) -> dict[str, Any]:
    """Beam-on PE and arrival-time histograms of windows passing every cut, C and AC, and C - AC."""
    f, cuts = data.features, data.cfg.cuts
    good = _beam_on(data) & (f["cut_mask"] == 0)
    t_us = f["onset_ns"] / 1000.0
    pe_lo, pe_hi = cuts.analysis_pe
    t_lo, t_hi = (v / 1000.0 for v in cuts.analysis_time_ns)
    pe_edges = np.arange(0.0, max(60.0, 2 * pe_hi) + 1e-9, 2.0)
    roi_us = (data.cfg.windows.c_roi[1] - data.cfg.windows.c_roi[0]) / 1000.0
    t_edges = np.arange(0.0, roi_us + 1e-9, 0.5)
    in_t = (t_us >= t_lo) & (t_us <= t_hi)
    in_pe = (f["pe"] >= pe_lo) & (f["pe"] <= pe_hi)
    out: dict[str, Any] = {"pe_edges": pe_edges, "t_edges": t_edges, "pe_range": (pe_lo, pe_hi),
                           "t_range": (t_lo, t_hi)}
    for label, window in (("C", dtypes.WINDOW_C), ("AC", dtypes.WINDOW_AC)):
        w = good & (f["window"] == window)
        out[f"pe_{label}"] = np.histogram(f["pe"][w & in_t], pe_edges)[0]
        out[f"t_{label}"] = np.histogram(t_us[w & in_pe], t_edges)[0]
    return out


def plot_spectra(data: RunData, out: Path) -> Path:
    s = spectra(data)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True)
    fig.suptitle(f"Beam-on spectra of windows passing every cut, run {data.attrs.get('run_number', '?')}",
                 fontsize=13)
    for col, (key, edges, rng, xlabel, other) in enumerate((
            ("pe", s["pe_edges"], s["pe_range"], "photoelectrons [PE]",
             f"onset {s['t_range'][0]:g}-{s['t_range'][1]:g} us"),
            ("t", s["t_edges"], s["t_range"], r"arrival time after ROI start [$\mu$s]",
             f"{s['pe_range'][0]:g}-{s['pe_range'][1]:g} PE"))):
        centres = 0.5 * (edges[1:] + edges[:-1])
        c, ac = s[f"{key}_C"], s[f"{key}_AC"]
        ax = axes[0, col]
        ax.stairs(c, edges, color=C_COLOUR, lw=1.5, label=f"C ({c.sum()})")
        ax.stairs(ac, edges, color=AC_COLOUR, lw=1.5, ls="--", label=f"AC ({ac.sum()})")
        ax.axvspan(*rng, color="#ffbf00", alpha=0.15, lw=0, label="analysis window")
        ax.set_ylabel("windows per bin")
        ax.set_title(f"{'PE spectrum' if key == 'pe' else 'arrival time'} ({other})", fontsize=10)
        if key == "pe" and max(c.max(), ac.max()) > 30:  # a wide spectrum; a handful of counts reads better linear
            ax.set_yscale("log")
        ax.legend(frameon=False)
        ex = axes[1, col]
        inside = (centres >= rng[0]) & (centres <= rng[1])
        nc, nac = int(c[inside].sum()), int(ac[inside].sum())
        ex.errorbar(centres, c - ac, yerr=np.sqrt(c + ac), fmt="o", color=EXCESS_COLOUR, ms=4, capsize=2,
                    label=f"C - AC in the analysis window: {nc - nac} +- {np.sqrt(nc + nac):.1f}")
        ex.axhline(0, color="k", lw=0.8)
        ex.axvspan(*rng, color="#ffbf00", alpha=0.15, lw=0)
        ex.set_ylabel("C - AC per bin")
        ex.set_xlabel(xlabel)
        ex.legend(frameon=False)
        for a in (ax, ex):
            a.grid(alpha=0.3)
            a.set_xlim(edges[0], edges[-1])
    path = out / "spectra.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary_rows(data: RunData, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(quantity, value) rows of the summary table."""
    t = summary["triggers"]
    roi_ns = data.cfg.windows.c_roi[1] - data.cfg.windows.c_roi[0]
    n_on = int(np.count_nonzero(data.triggers["beam_on"]))
    lineage = data.attrs.get("lineage")
    rows = [
        ("run", f"{summary['run_number']} ({len(summary['files'])} file(s))"),
        ("exit status", summary["exit_status"]),
        ("wall-clock duration", f"{summary['duration_s']} s"),
        ("recorded time span", f"{(data.triggers['time'][-1] - data.triggers['time'][0]) / 1e9:.1f} s"
         if len(data.triggers) > 1 else "-"),
        ("triggers", f"generated {t['generated']}, recorded {t['recorded']}, lost {t['lost']}"),
        ("losses", ", ".join(summary["loss_reasons"]) or "none"),
        ("beam pulses", f"{summary['beam_pulses']} ({summary['unmatched_triggers']} triggers unmatched)"),
        ("exposure", f"{summary['pot']:.4g} POT, {summary['gwhr']:.4g} GWhr"),
        ("beam-on fraction", f"{summary['beam_on_fraction']}"),
        ("livetime (triggers x ROI)", f"{t['recorded'] * roi_ns / 1e9:.4g} s per window "
                                      f"({t['recorded']} x {roi_ns / 1000:g} us)"),
        ("beam-on livetime", f"{n_on * roi_ns / 1e9:.4g} s ({n_on} beam-on triggers)"),
        ("selected, beam on", f"C {summary['counts']['C']}, AC {summary['counts']['AC']}, "
                              f"C - AC {summary['counts']['C'] - summary['counts']['AC']}"),
        ("DQ means", ", ".join(f"{k} {v}" for k, v in summary["dq"].items())),
        ("config sha256", str(data.attrs.get("config_sha256", "?"))[:16]),
        ("lineage", str(lineage) if lineage else "-"),
    ]
    if summary.get("truth"):
        rows.append(("simulation truth", ", ".join(f"{k} {v}" for k, v in summary["truth"].items() if v)))
    return rows


def alarm_rows(data: RunData) -> list[tuple[str, ...]]:
    """(raised, severity, cause, message, cleared, acknowledged) of each alarm of the run, in time order."""
    def utc(ns: Any) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) if isinstance(ns, int | float) and ns else "-"

    return [(utc(e.get("raised_ns")), str(e.get("severity", "?")), str(e.get("cause", "")), str(e.get("message", "")),
             utc(e.get("cleared_ns")), f"{utc(e.get('acked_ns'))} {e.get('acked_by') or ''}".strip())
            for e in sorted(data.alarms, key=lambda e: e.get("raised_ns") or 0)]


def _html(data: RunData, rows: list[tuple[str, str]], cuts: dict[str, dict[str, float]], images: list[Path]) -> str:
    esc = html.escape
    alarms = "\n".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in alarm_rows(data))
    alarm_table = ("<table><tr><th>raised (UTC)</th><th>severity</th><th>cause</th><th>message</th>"
                   f"<th>cleared</th><th>acknowledged</th></tr>{alarms}</table>" if alarms else "<p>none</p>")
    table = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    cut_rows = "\n".join(f"<tr><th>{esc(n)}</th>" + "".join(f"<td>{100 * cuts[w][n]:.3f} %</td>"
                                                            for w in ("C", "AC", "all")) + "</tr>"
                         for n in cuts["C"])
    figures = "\n".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        f"<figcaption>{esc(p.name)}</figcaption></figure>" for p in images)
    title = f"sevens run report: run {data.attrs.get('run_number', '?')}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} table{{border-collapse:collapse;margin:1em 0}}
th,td{{border:1px solid #ccc;padding:4px 10px;text-align:left;vertical-align:top}} th{{background:#f4f4f4}}
img{{max-width:100%;border:1px solid #ddd}} figure{{margin:1.5em 0}}</style></head>
<body><h1>{esc(title)}</h1>
<p>Files: {esc(', '.join(str(p) for p in data.files))}</p>
<h2>Summary</h2><table>{table}</table>
<h2>Cut fractions</h2><p>Fraction of windows failing each cut (a window may fail several).</p>
<table><tr><th>cut</th><th>C</th><th>AC</th><th>all</th></tr>{cut_rows}</table>
<h2>Alarms</h2><p>The supervisor's alarm log of the run (restarts, hangs, lost sources, aborts).</p>{alarm_table}
<h2>Figures</h2>{figures}
</body></html>
"""


def write_report(run_file: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the PNGs, ``summary.json`` and ``index.html`` of the run ``run_file`` belongs to; returns
    the HTML path. Refuses (OutputError) report files that exist, unless ``force``, and an ``out``
    that is a file."""
    from daq.control.summary import run_summary

    files = run_files(run_file)
    stem = files[0].stem.split("_sub")[0]
    out_dir = Path(out) if out else files[0].with_name(f"{stem}_report")
    if out_dir.exists() and not out_dir.is_dir():
        what = "the input" if any(p.exists() and os.path.samefile(p, out_dir) for p in files) else "a file"
        raise OutputError(f"--out {out_dir}: is {what}, not a directory for the report")
    for name in REPORT_FILES:
        check_output(out_dir / name, files, force, option="report file")
    data = load_run(run_file)  # first: a damaged file is reported here, not inside run_summary
    if len(data.triggers) == 0:
        raise RunFileError(f"{data.files[0]}: no triggers to report on")
    summary = run_summary(data.files[0])
    with staged(out_dir, list(REPORT_FILES), force) as tmp:
        images = [plot_dq(data, tmp), plot_cuts(data, tmp), plot_spectra(data, tmp)]
        cuts = cut_table(data)
        (tmp / "index.html").write_text(_html(data, summary_rows(data, summary), cuts, images))
        (tmp / "summary.json").write_text(json.dumps({**summary, "cut_table": cuts, "alarms": data.alarms}, indent=1,
                                                     default=str))
    return out_dir / "index.html"
