"""DQ quantities across runs: every DQ interval of the selected runs' files, read from the files' ``dq``
tables through the catalogue (which says which runs and where their files are); optionally averaged
over longer stretches; as rows, CSV and a PNG. The data behind a long-term view of the detector."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from daq import dtypes
from daq.catalogue.database import CatalogueError
from daq.catalogue.facts import dq_field, read_dq
from daq.catalogue.selection import Selection, iso, select
from daq.catalogue.store import Catalogue

#: short names for DQ fields (any field of ``daq.dtypes.DQ`` is accepted as it is)
ALIASES = {"baseline": "baseline_adc", "baseline_rms": "baseline_rms_adc", "spe_charge": "spe_mean_charge",
           "rate": "trigger_rate_hz", "power": "beam_power_mw", "afterglow": "afterglow_fraction"}
NOT_QUANTITIES = ("time", "interval_s")


def quantity(name: str) -> str:
    """The DQ field ``name`` means (an alias or the field itself)."""
    field = ALIASES.get(name, name)
    known = [f for f in dtypes.DQ.names if f not in NOT_QUANTITIES]
    if field not in known:
        raise CatalogueError(f"DQ quantity {name!r}: expected one of {', '.join(sorted(ALIASES))} or a DQ field: "
                             f"{', '.join(known)}")
    return field


def history(cat: Catalogue, sel: Selection, names: list[str], every_s: float | None = None
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ``time_ns, run, interval_s, <quantity>...`` in time order, and the problems met (files missing
    or unreadable). With ``every_s`` the intervals of each run are averaged in stretches that long
    (weighted by interval length)."""
    fields = [quantity(n) for n in names]
    runs = select(cat, sel)
    files = cat.files([r["number"] for r in runs]) if runs else []
    rows: list[dict[str, Any]] = []
    problems = []
    for f in files:
        path = Path(f["path"])
        if not path.is_file():
            problems.append(f"run {f['run_number']}: {path}: missing (sevens catalogue verify)")
            continue
        dq = read_dq(path)
        if dq is None:
            problems.append(f"run {f['run_number']}: {path}: no readable dq table")
            continue
        if sel.since_ns is not None:
            dq = dq[dq["time"] >= sel.since_ns]
        if sel.until_ns is not None:
            dq = dq[dq["time"] < sel.until_ns]
        if not len(dq):
            continue
        values = {n: dq_field(dq, fd) for n, fd in zip(names, fields, strict=True)}
        t, w = dq["time"].astype(np.int64), dq["interval_s"].astype(np.float64)
        if every_s:
            rows.extend(_average(t, w, values, every_s, f["run_number"]))
        else:
            rows.extend({"time_ns": int(t[i]), "run": f["run_number"], "interval_s": float(w[i]),
                         **{n: _num(v[i]) for n, v in values.items()}} for i in range(len(t)))
    rows.sort(key=lambda r: (r["time_ns"], r["run"]))
    return rows, problems


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _average(t: np.ndarray, w: np.ndarray, values: dict[str, np.ndarray], every_s: float, run: int
             ) -> list[dict[str, Any]]:
    step = int(every_s * 1e9)
    bins = t // step
    out = []
    for b in np.unique(bins):
        m = bins == b
        row = {"time_ns": int(t[m].max()), "run": run, "interval_s": float(w[m].sum())}
        for n, v in values.items():
            ok = m & np.isfinite(v)
            row[n] = float(np.average(v[ok], weights=np.maximum(w[ok], 1e-12))) if ok.any() else None
        out.append(row)
    return out


def csv_text(rows: list[dict[str, Any]], names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time_utc", "time_ns", "run", "interval_s", *names])
    for r in rows:
        w.writerow([iso(r["time_ns"]), r["time_ns"], r["run"], f"{r['interval_s']:g}",
                    *("" if r[n] is None else f"{r[n]:.6g}" for n in names)])
    return buf.getvalue()


def units(names: list[str]) -> dict[str, str]:
    """Each quantity's unit, from the DQ dtype's titles."""
    out = {}
    for n in names:
        title = dtypes.DQ.fields[quantity(n)][2] or ""
        out[n] = title[title.rfind("[") + 1:title.rfind("]")] if "[" in title else ""
    return out


def plot(rows: list[dict[str, Any]], names: list[str], out: Path, title: str) -> None:
    """One panel per quantity against time (UTC), each run in its own colour, run numbers on top."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC, datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    unit = units(names)
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 2.2 * len(names) + 1), sharex=True, squeeze=False)
    runs = sorted({r["run"] for r in rows})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[:, 0], names, strict=True):
        for i, run in enumerate(runs):
            sel = [r for r in rows if r["run"] == run and r[name] is not None]
            if sel:
                ax.plot([datetime.fromtimestamp(r["time_ns"] / 1e9, UTC) for r in sel], [r[name] for r in sel],
                        ".", ms=4, color=colours[i % len(colours)], label=f"run {run}")
        ax.set_ylabel(f"{name}\n[{unit[name]}]" if unit[name] else name, fontsize=9)
        ax.grid(alpha=0.3)
    top = axes[0, 0]
    for i, run in enumerate(runs):
        first = min(r["time_ns"] for r in rows if r["run"] == run)
        when = datetime.fromtimestamp(first / 1e9, UTC)
        for ax in axes[:, 0]:
            ax.axvline(when, color="0.7", lw=0.6, ls=":")
        top.annotate(str(run), (mdates.date2num(when), 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                     color=colours[i % len(colours)], va="bottom")
    axes[-1, 0].set_xlabel("time (UTC)")
    axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes[-1, 0].xaxis.get_major_locator()))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
