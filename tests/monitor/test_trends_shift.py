"""Trends for an eight-hour shift (issue 16): an 8-hour synthetic DQ series (5760 rows of 5 s)
renders in every window with readable hour and date ticks, as a min/max envelope, with a
minimum y-span (a baseline rms between 0.849 and 0.850 does not fill the panel), the beam-off
stretch and the trip shaded, and the trends going on across a run boundary; the banner's beam
badge says on / off / trip / degraded."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from daq import dtypes
from daq.config import Config
from daq.kernels.exposure import gwhr
from daq.wire.envelope import Message
from monitor.alarms import AlarmMonitor
from monitor.mainwindow import MainWindow
from monitor.model import MonitorModel
from monitor.timeaxis import WINDOWS, beam_segments, beam_state, envelope, ticks, y_range
from monitor.widgets.trends import ENVELOPE_BINS

INTERVAL_S = 5.0  # the shipped run.dq_interval_s
START = time.mktime((2026, 12, 1, 22, 0, 0, 0, 0, -1))  # 22:00 local: the shift crosses midnight
N = int(8 * 3600 / INTERVAL_S)  # 5760 rows
OFF = (3 * 720, 3 * 720 + 360)  # rows of a 30-minute beam-off at 01:00
TRIP = (5 * 720, 5 * 720 + 12)  # a 60 s trip at 03:00


def shift_rows(start: float = START, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(16)
    dq = np.zeros(n, dtypes.DQ)
    dq["time"] = ((start + INTERVAL_S * np.arange(1, n + 1)) * 1e9).astype(np.int64)
    dq["interval_s"] = INTERVAL_S
    dq["triggers"] = 300
    dq["trigger_rate_hz"] = 60.0 + rng.normal(0, 0.05, n)
    dq["beam_on_fraction"] = 1.0
    dq["beam_power_mw"] = 1.4 + rng.normal(0, 0.01, n)
    for a, b in (OFF, TRIP):
        dq["beam_on_fraction"][a:b] = 0.0
        dq["beam_power_mw"][a:b] = 0.0
    dq["baseline_adc"] = 100.0 + rng.normal(0, 0.01, n)
    dq["baseline_rms_adc"] = rng.uniform(0.849, 0.850, n)
    dq["pot"] = 1.5e14 * 60 * INTERVAL_S * dq["beam_on_fraction"]
    dq["pot_total"] = np.cumsum(dq["pot"])
    dq["gwhr_total"] = gwhr(1.0, 1.0) * dq["pot_total"]  # 1 GeV protons (hwconfig beam.proton_energy_gev)
    for name in ("spe_mean_charge", "spe_gain", "noise_peak_rate_hz", "line_gain", "afterglow_fraction",
                 "veto_fraction", "linear_gate_fraction", "overflow_fraction", "pot_to_signal_delay_ns"):
        dq[name] = np.nan
    return dq


def feed(model: MonitorModel, rows: np.ndarray, run: int) -> None:
    for k in range(0, len(rows), 500):
        model.ingest(Message(stream="monitor", kind="dq", source="cuts", run=run, seq=k // 500,
                             arrays={"dq": rows[k:k + 500]}))


@pytest.fixture(scope="module")
def shift_window(qapp: object) -> MainWindow:
    from tests.conftest import config

    cfg: Config = config.load()
    model = MonitorModel(cfg)
    feed(model, shift_rows(START - 3600, 720), run=11)  # the run before: an hour
    feed(model, shift_rows(), run=12)
    w = MainWindow(cfg, model, AlarmMonitor(cfg, live=False), None, live=False)
    w.resize(1720, 1000)
    w.show()
    w.refresh_all()
    yield w
    w.close()


@pytest.mark.parametrize("window", [w for w in WINDOWS if w != "30 days"])  # 30 days: the catalogue, below
def test_an_8_hour_series_renders_with_readable_ticks_in_each_window(
        qtbot: QtBot, shift_window: MainWindow, window: str) -> None:
    w = shift_window
    w.trends.window.setCurrentText(window)
    w.refresh_all()
    plot = w.trends.plots["baseline_rms_adc"]
    t0, t1 = plot.getViewBox().viewRange()[0]
    expected = {"10 min": 600, "1 h": 3600, "8 h": 8 * 3600, "24 h": 86400, "run": 8 * 3600, "all runs": 9 * 3600}
    assert abs((t1 - t0) - expected[window]) < 0.05 * expected[window]
    axis = plot.getAxis("bottom")
    (_, majors), (_, minors) = axis.tickValues(t0, t1, axis.width())
    labels = axis.tickStrings(majors, 1.0, 1.0)
    assert 2 <= len(labels) <= 16 and all(labels) and len(set(labels)) == len(labels)
    assert all(a < b for a, b in zip(majors, majors[1:], strict=False))
    if window in ("8 h", "run", "all runs"):  # hour ticks, and the date where the day changes
        assert all(":" in lab for lab in labels) and any(lab.endswith(":00") for lab in labels)
        assert sum("\n" in lab for lab in labels) <= 2  # the date only under the first tick and at midnight
        assert any("Dec" in lab for lab in labels)
    n_drawn = len(plot.curve.getData()[0])
    assert n_drawn <= 2 * ENVELOPE_BINS  # decimated: not 5760 points as a solid bar
    lo, hi = plot.getViewBox().viewRange()[1]
    assert hi - lo >= plot.trend.min_span  # 0.849 ... 0.850 does not fill the panel


def test_beam_off_and_the_trip_are_shaded_and_the_run_start_marked(shift_window: MainWindow) -> None:
    w = shift_window
    w.trends.window.setCurrentText("all runs")
    w.refresh_all()
    plot = w.trends.plots["trigger_rate_hz"]
    regions = [m.getRegion() for m in plot.marks if hasattr(m, "getRegion")]
    lines = [m for m in plot.marks if hasattr(m, "value") and not hasattr(m, "getRegion")]
    runs = [m.value() for m in lines if m.pen.style() != 1]  # dotted: run starts; solid: a trip
    assert len(regions) == 2 and abs((regions[0][1] - regions[0][0]) - 1800) < 10
    assert len(runs) == 2 and min(abs(v - START) for v in runs) < 1  # the second run's start
    assert len(lines) - len(runs) == 1  # the trip
    assert [k for *_, k in beam_segments(shift_rows())] == ["off", "trip"]
    assert w.banner["beam"].text() == f"BEAM ON {shift_rows()['beam_power_mw'][-1]:.2f} MW"


def test_the_beam_badge_says_off_trip_and_degraded() -> None:
    dq = shift_rows()
    assert beam_state(dq[: TRIP[0] + 5], 1.4) == ("trip", "BEAM TRIP (25 s)")
    assert beam_state(dq[: OFF[0] + 100], 1.4)[0] == "off"
    low = dq[:10].copy()
    low["beam_power_mw"] = 0.9
    assert beam_state(low, 1.4) == ("degraded", "BEAM DEGRADED 0.90 MW")
    assert beam_state(dq[:0], 1.4)[0] == "unknown"


def test_ticks_envelope_and_y_range() -> None:
    midnight = time.mktime((2026, 12, 2, 0, 0, 0, 0, 0, -1))
    majors, minors = ticks(midnight - 3 * 3600, midnight + 5 * 3600, 6)
    labels = dict(majors)
    assert labels[midnight] == time.strftime("00:00\n%a %d %b", time.localtime(midnight))
    assert all(t % 3600 == (midnight % 3600) for t, _ in majors) and minors
    t = np.arange(10_000, dtype=float)
    y = np.zeros_like(t)
    y[7777] = 5.0  # one spike survives the decimation
    et, ey = envelope(t, y, 100)
    assert len(et) == 200 and ey.max() == 5.0 and np.all(np.diff(et) >= 0)
    lo, hi = y_range(np.array([0.849, 0.850]), 0.2)
    assert hi - lo >= 0.2 and lo < 0.849 < 0.850 < hi


def test_the_30_day_window_reads_the_catalogue_and_says_when_there_is_none(
        shift_window: MainWindow, tmp_path: object) -> None:
    from monitor.longterm import rows_to_dq

    rows = [{"time_ns": int((START + 3600 * k) * 1e9), "run": 11 + k // 3, "interval_s": 3600.0,
             "baseline_adc": 100.0 + k, "trigger_rate_hz": None} for k in range(6)]
    dq, starts = rows_to_dq(rows)
    assert list(dq["baseline_adc"]) == [100.0 + k for k in range(6)] and np.isnan(dq["trigger_rate_hz"]).all()
    assert [run for _, run in starts] == [11, 12]
    w = shift_window
    w.trends.run_dir = str(tmp_path)  # no catalogue there
    w.trends._long = None
    w.trends.window.setCurrentText("30 days")
    w.refresh_all()
    assert "no catalogue at" in w.trends.note.toolTip()
    w.trends.window.setCurrentText("run")
    w.refresh_all()
    assert w.trends.note.text() == ""
