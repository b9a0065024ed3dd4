"""Data-quality trends versus (trigger) time: one plot per DQ quantity, with its alarm limits.

Each plot draws the DQ rows, its ``[dq]`` limits as dashed red lines around a faint green band,
points outside the limits in red, and the newest value in its title; the plot's background turns
dark red while the newest value is outside the limits. The losses plot also marks the
monitor-stream gaps of this viewer. All plots share the time axis and its window (10 min, 1 h,
8 h, 24 h, the run, all runs this viewer saw: the trends go on across runs, each run's start a
dashed line); the axis has hour and date ticks (:mod:`monitor.timeaxis`), long series are drawn
as their min/max envelope, the y-range is at least a minimum span per quantity (noise is not
magnified), and stretches without beam (off: grey, trip: violet) are shaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt5.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from daq.config import Config
from monitor.alarms import dq_limits
from monitor.longterm import catalogue_dq
from monitor.model import MonitorModel
from monitor.timeaxis import WINDOWS, beam_segments, envelope, ticks, y_range
from monitor.widgets.common import ALERT_BG, BAD, LIMIT_PEN, OK, OK_BAND, PLOT_BG, Panel, elide, fmt_value

COLUMNS = 4
MIN_SPAN_S = 60.0  # the time axis shows at least this much, so a young run's points are not stretched
LONG_TERM = "30 days"  # the window read from the run catalogue (monitor.longterm)
LONG_TERM_REFRESH_S = 300.0
ENVELOPE_BINS = 600  # a series longer than twice this is drawn as its min/max envelope
MAX_MARKS = 200  # beam-off stretches and run starts drawn per plot (the newest)
BEAM_BRUSH = {"off": (120, 120, 120, 60), "trip": (171, 71, 188, 70)}
RUN_PEN = pg.mkPen("#90caf9", width=1, style=3)  # Qt.DotLine
TRIP_PEN = pg.mkPen((171, 71, 188, 200), width=2)


@dataclass(frozen=True)
class Trend:
    field: str  # DQ field
    title: str
    unit: str
    scale: float = 1.0
    min_span: float = 0.0  # the y-axis spans at least this (in plotted units): noise is not magnified


TRENDS = (
    Trend("baseline_adc", "CsI baseline", "ADC", min_span=2.0),
    Trend("baseline_rms_adc", "Baseline rms", "ADC", min_span=0.2),
    Trend("spe_mean_charge", "SPE charge", "ADC·sample", min_span=10.0),
    Trend("spe_gain", "SPE gain in use", "ADC·sample", min_span=10.0),
    Trend("noise_peak_rate_hz", "Noise peaks", "Hz", min_span=20.0),
    Trend("line_gain", "Line gain", "ratio", min_span=0.1),
    Trend("afterglow_fraction", "Afterglow cut", "fraction", min_span=0.05),
    Trend("veto_fraction", "Muon-veto cut", "fraction", min_span=0.02),
    Trend("linear_gate_fraction", "Linear gate", "fraction", min_span=0.02),
    Trend("overflow_fraction", "DAQ overflow", "fraction", min_span=0.02),
    Trend("trigger_rate_hz", "Trigger rate", "Hz", min_span=5.0),
    Trend("beam_on_fraction", "Beam-on fraction", "fraction", min_span=0.2),
    Trend("beam_power_mw", "Beam power", "MW", min_span=0.5),
    Trend("pot_total", "POT", "1e18", 1e-18),
    Trend("pot_to_signal_delay_ns", "POT-to-signal delay", "ns", min_span=200.0),
    Trend("losses", "Lost triggers / stream gaps", "count"),
)


class TimeAxis(pg.AxisItem):
    """A time axis with hour and date ticks (:func:`monitor.timeaxis.ticks`)."""

    def __init__(self) -> None:
        super().__init__(orientation="bottom")
        self._labels: dict[float, str] = {}
        self.setHeight(40)  # two lines: the clock, and the date where the day changes

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803 - Qt's names
        majors, minors = ticks(minVal, maxVal, max(3, size / 55))  # "HH:MM" needs ~55 px
        if majors and majors[0][1].count(":") == 2:  # "HH:MM:SS": ~70 px
            majors, minors = ticks(minVal, maxVal, max(3, size / 75))
        self._labels = {round(t, 3): label for t, label in majors}
        return [(1.0, [t for t, _ in majors]), (0.5, minors)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [self._labels.get(round(v, 3), "") for v in values]


class TrendPlot(pg.PlotWidget):
    """One DQ quantity versus time."""

    def __init__(self, trend: Trend, limits: tuple[float, float] | None) -> None:
        super().__init__(axisItems={"bottom": TimeAxis()})
        self.trend, self.limits = trend, limits
        self.setMinimumSize(150, 110)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.getAxis("left").enableAutoSIPrefix(False)  # the unit is in the title (no label over the ticks)
        self.getAxis("left").setWidth(48)
        self.following = True  # the time axis follows the run until the user pans or zooms
        self.getViewBox().sigRangeChangedManually.connect(lambda *_: setattr(self, "following", False))
        self.curve = self.plot([], [], pen=pg.mkPen("#e0e0e0", width=1.5), symbol="o", symbolSize=4,
                               symbolBrush="#e0e0e0", symbolPen=None)
        self.outside = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(BAD), pen=None)
        self.addItem(self.outside)
        if limits is not None:
            lo, hi = limits
            band = pg.LinearRegionItem((lo, hi), orientation="horizontal", movable=False, brush=pg.mkBrush(*OK_BAND),
                                       pen=pg.mkPen(None))
            band.setZValue(-10)
            self.addItem(band)
            for y in limits:
                self.addItem(pg.InfiniteLine(y, angle=0, pen=LIMIT_PEN, movable=False))
            pad = 0.15 * max(hi - lo, 1e-9)
            self.setYRange(lo - pad, hi + pad)
        self.marks: list[pg.GraphicsObject] = []  # beam-off stretches, run starts
        self.alert = False
        self._set_title(None)

    def _set_title(self, value: float | None, extra: str = "") -> None:
        colour = "#d0d0d0" if value is None or self.limits is None else (BAD if self.alert else OK)
        text = fmt_value(value)
        self.setTitle(f"<span style='font-size:8pt'>{self.trend.title} [{self.trend.unit}]: "
                      f"<b><span style='color:{colour}'>{text}</span></b>{extra}</span>")

    def follow(self, t0: float, t1: float) -> None:
        """Show [t0, t1] unless the user zoomed; the autorange button ("A") resumes following."""
        if self.getViewBox().autoRangeEnabled()[0]:
            self.following = True
        if self.following:
            self.setXRange(t0, max(t1, t0 + MIN_SPAN_S), padding=0.02)

    def set_marks(self, segments: list[tuple[float, float, str]], run_starts: list[float]) -> None:
        """Shade the stretches without beam, draw a dotted line at each run's start."""
        for item in self.marks:
            self.removeItem(item)
        self.marks = []
        for a, b, kind in segments[-MAX_MARKS:]:
            region = pg.LinearRegionItem((a, b), movable=False, brush=pg.mkBrush(*BEAM_BRUSH[kind]),
                                         pen=pg.mkPen(None))
            region.setZValue(-20)
            self.marks.append(region)
            if kind == "trip":  # a trip is short: a line too, so it shows on a 24 h axis
                self.marks.append(pg.InfiniteLine(a, angle=90, pen=TRIP_PEN, movable=False))
        for t in run_starts[-MAX_MARKS:]:
            self.marks.append(pg.InfiniteLine(t, angle=90, pen=RUN_PEN, movable=False))
        for item in self.marks:
            self.addItem(item)

    def update_data(self, t: np.ndarray, y: np.ndarray, extra: str = "", last: float | None = None) -> None:
        """Draw ``(t, y)`` (the window's rows); ``last``: the run's newest value (title and alert)."""
        y = y * self.trend.scale
        finite = np.isfinite(y)
        et, ey = envelope(t, y, ENVELOPE_BINS)
        self.curve.setData(et, ey)
        self.curve.setSymbol("o" if len(et) < 400 else None)  # dots only where they can be told apart
        last = last * self.trend.scale if last is not None and np.isfinite(last) else (
            float(y[finite][-1]) if finite.any() else None)
        if self.trend.field != "losses":
            yr = y_range(y, self.trend.min_span, self.limits)
            if yr is not None and self.following:
                self.setYRange(*yr, padding=0)
        if self.limits is not None:
            lo, hi = self.limits
            bad = finite & ((y < lo) | (y > hi))
            self.outside.setData(t[bad][-2000:], y[bad][-2000:])
            alert = last is not None and not lo <= last <= hi
            if alert != self.alert:
                self.alert = alert
                self.setBackground(ALERT_BG if alert else PLOT_BG)
        self._set_title(last, extra)


class TrendsPanel(Panel):
    topics = frozenset({"dq", "gaps", "run"})

    def __init__(self, cfg: Config, model: MonitorModel, parent: QWidget | None = None,
                 run_dir: str | None = None) -> None:
        super().__init__(parent)
        self.model = model
        limits = dq_limits(cfg)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Time window:"))
        self.window = QComboBox()
        self.window.addItems(list(WINDOWS))
        self.window.setCurrentText("run")
        self.window.setToolTip("the trends' time span: the last 10 min ... 24 h (across runs), this run, or every "
                               "run this viewer saw; grey: beam off, violet: beam trip, dotted: a run's start")
        self.window.currentTextChanged.connect(self._window_changed)
        bar.addWidget(self.window)
        bar.addStretch(1)
        outer.addLayout(bar)
        grid = QGridLayout()
        grid.setSpacing(4)
        outer.addLayout(grid, 1)
        self.plots: dict[str, TrendPlot] = {}
        for i, trend in enumerate(TRENDS):
            plot = TrendPlot(trend, limits.get(trend.field))
            wide = len(TRENDS) - i <= len(TRENDS) % COLUMNS  # the last row: fewer, wider plots
            column = 2 * (i % COLUMNS) if wide else i % COLUMNS
            grid.addWidget(plot, i // COLUMNS, column, 1, 2 if wide else 1)
            self.plots[trend.field] = plot
        losses = self.plots["losses"]
        losses.curve.setPen(pg.mkPen(BAD, width=1.5))
        self.gaps = pg.ScatterPlotItem(size=9, symbol="t", brush=pg.mkBrush("#ffca28"), pen=None)
        losses.addItem(self.gaps)
        losses.addLegend(offset=(5, 5)).addItem(self.gaps, "monitor gaps (this viewer)")
        self._marks_key: tuple | None = None
        self.cfg, self.run_dir = cfg, run_dir
        self._long: tuple[float, np.ndarray, list[tuple[float, int | None]]] | None = None
        self.note = QLabel("")
        self.note.setStyleSheet("color: #9e9e9e;")
        bar.insertWidget(2, self.note)

    def long_term(self) -> tuple[np.ndarray, list[tuple[float, int | None]]]:
        """The catalogue's last 30 days, hourly (read again after LONG_TERM_REFRESH_S)."""
        if self._long is None or time.monotonic() - self._long[0] > LONG_TERM_REFRESH_S:
            dq, starts, problem = catalogue_dq(self.cfg, self.run_dir)
            self._long = (time.monotonic(), dq, starts)
            text = f"catalogue: {len(starts)} runs, hourly means" + (f"; {problem}" if problem else "")
            self.note.setText(elide(text, 140))
            self.note.setToolTip(text)
        return self._long[1], self._long[2]
    def rows(self) -> tuple[np.ndarray, list[tuple[float, int | None]]]:
        """The DQ rows of the chosen window and the run starts within it."""
        span = WINDOWS[self.window.currentText()]
        if span is None:
            return self.model.dq(), []
        if self.window.currentText() == LONG_TERM:
            return self.long_term()
        rows, starts = self.model.dq_history()
        if len(rows) and np.isfinite(span):
            rows = rows[rows["time"] / 1e9 >= rows["time"][-1] / 1e9 - span]
        t0 = rows["time"][0] / 1e9 - float(rows["interval_s"][0]) if len(rows) else np.inf
        return rows, [(t, run) for t, run in starts if t >= t0 - 1e-6 and len(starts) > 1]

    def _window_changed(self, name: str) -> None:
        if name != LONG_TERM:
            self.note.setText("")
        self.refresh(force=True)

    def redraw(self) -> None:
        run_dq = self.model.dq()
        dq, starts = self.rows()
        t = dq["time"] / 1e9
        span = WINDOWS[self.window.currentText()]
        for name, plot in self.plots.items():
            extra = ""
            if name == "pot_total" and len(run_dq):
                extra = f" {run_dq['gwhr_total'][-1]:.3g} GWhr"
            last = float(run_dq[name][-1]) if len(run_dq) else None
            plot.update_data(t, dq[name].astype(float), extra, last)
            if len(t):
                t1 = float(t[-1])
                t0 = t1 - span if span is not None and np.isfinite(span) else float(t[0])
                plot.follow(t0, t1)
        key = (len(dq), float(t[0]) if len(t) else 0.0, len(starts))
        if key != self._marks_key:  # the shading changes only with new rows
            self._marks_key = key
            segments = beam_segments(dq)
            for plot in self.plots.values():
                plot.set_marks(segments, [s for s, _ in starts])
        stats = self.model.stream_stats()
        if stats.gap_events:
            g = np.array([(ts, missed) for _, ts, missed in stats.gap_events], float)
            self.gaps.setData(g[:, 0], g[:, 1])
        losses = self.plots["losses"]
        total = int(run_dq["losses"].sum()) if len(run_dq) else 0
        high = max([1.0, *(dq["losses"].astype(float)), *(g[1] for g in stats.gap_events)])
        losses.setYRange(0, 1.1 * high)
        losses.alert = bool(total or stats.dropped)
        losses.setBackground(ALERT_BG if losses.alert else PLOT_BG)
        colour = BAD if losses.alert else OK
        losses.setTitle(f"<span style='font-size:9pt'>Lost triggers: <b><span style='color:{colour}'>{total}"
                        f"</span></b>&nbsp;&nbsp; monitor gaps (this viewer): <b><span style='color:{colour}'>"
                        f"{stats.dropped}</span></b></span>")

    def alerts(self) -> list[str]:
        """Fields whose newest value is outside the limits."""
        return [name for name, p in self.plots.items() if p.alert]
