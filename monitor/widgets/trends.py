"""Data-quality trends versus (trigger) time: one plot per DQ quantity, with its alarm limits.

Each plot draws the DQ rows of the run, its ``[dq]`` limits as dashed red lines around a faint
green band, points outside the limits in red, and the newest value in its title; the plot's
background turns dark red while the newest value is outside the limits. The losses plot also
marks the monitor-stream gaps of this viewer. All plots share the time axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt5.QtWidgets import QGridLayout, QWidget

from daq.config import Config
from monitor.alarms import dq_limits
from monitor.model import MonitorModel
from monitor.widgets.common import ALERT_BG, BAD, LIMIT_PEN, OK, OK_BAND, PLOT_BG, Panel, fmt_value

COLUMNS = 4
MIN_SPAN_S = 60.0  # the time axis shows at least this much, so a young run's points are not stretched


@dataclass(frozen=True)
class Trend:
    field: str  # DQ field
    title: str
    unit: str
    scale: float = 1.0


TRENDS = (
    Trend("baseline_adc", "CsI baseline", "ADC"),
    Trend("baseline_rms_adc", "CsI baseline rms", "ADC"),
    Trend("spe_mean_charge", "SPE charge (gain)", "ADC·sample"),
    Trend("spe_gain", "SPE gain in use (PE scale)", "ADC·sample"),
    Trend("noise_peak_rate_hz", "Noise-peak rate", "Hz"),
    Trend("line_gain", "Internal-line gain", "ratio"),
    Trend("afterglow_fraction", "Afterglow cut", "fraction"),
    Trend("veto_fraction", "Muon-veto cut", "fraction"),
    Trend("linear_gate_fraction", "Linear gate (sat.)", "fraction"),
    Trend("overflow_fraction", "DAQ overflow", "fraction"),
    Trend("trigger_rate_hz", "Trigger rate", "Hz"),
    Trend("beam_on_fraction", "Beam-on fraction", "fraction"),
    Trend("beam_power_mw", "Beam power", "MW"),
    Trend("pot_total", "POT [1e18]", "1e18 protons", 1e-18),
    Trend("pot_to_signal_delay_ns", "POT-to-signal delay", "ns"),
    Trend("losses", "Lost triggers / stream gaps", "count"),
)


class TrendPlot(pg.PlotWidget):
    """One DQ quantity versus time."""

    def __init__(self, trend: Trend, limits: tuple[float, float] | None) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.trend, self.limits = trend, limits
        self.setMinimumSize(150, 110)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("left", text=trend.unit)
        self.getAxis("left").enableAutoSIPrefix(False)
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
            self.setYRange(lo - pad, hi + pad)  # the band stays in view; autorange widens for outliers
        self.enableAutoRange(axis="y", enable=True)
        self.alert = False
        self._set_title(None)

    def _set_title(self, value: float | None, extra: str = "") -> None:
        colour = "#d0d0d0" if value is None or self.limits is None else (BAD if self.alert else OK)
        text = fmt_value(value)
        self.setTitle(f"<span style='font-size:9pt'>{self.trend.title}: "
                      f"<b><span style='color:{colour}'>{text}</span></b>{extra}</span>")

    def follow(self, t0: float, t1: float) -> None:
        """Show [t0, t1] unless the user zoomed; the autorange button ("A") resumes following."""
        if self.getViewBox().autoRangeEnabled()[0]:
            self.following = True
        if self.following:
            self.setXRange(t0, max(t1, t0 + MIN_SPAN_S), padding=0.03)

    def update_data(self, t: np.ndarray, y: np.ndarray, extra: str = "") -> None:
        y = y * self.trend.scale
        finite = np.isfinite(y)
        self.curve.setData(t[finite], y[finite])
        last = float(y[finite][-1]) if finite.any() else None
        if self.limits is not None:
            lo, hi = self.limits
            bad = finite & ((y < lo) | (y > hi))
            self.outside.setData(t[bad], y[bad])
            alert = last is not None and not lo <= last <= hi
            if alert != self.alert:
                self.alert = alert
                self.setBackground(ALERT_BG if alert else PLOT_BG)
        self._set_title(last, extra)


class TrendsPanel(Panel):
    topics = frozenset({"dq", "gaps", "run"})

    def __init__(self, cfg: Config, model: MonitorModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        limits = dq_limits(cfg)
        grid = QGridLayout(self)
        grid.setSpacing(4)
        grid.setContentsMargins(2, 2, 2, 2)
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

    def redraw(self) -> None:
        dq = self.model.dq()
        t = dq["time"] / 1e9
        for name, plot in self.plots.items():
            extra = ""
            if name == "pot_total" and len(dq):
                extra = f" = {dq['gwhr_total'][-1]:.3g} GWhr"
            plot.update_data(t, dq[name].astype(float), extra)
            if len(t):
                plot.follow(float(t[0]), float(t[-1]))
        stats = self.model.stream_stats()
        if stats.gap_events:
            g = np.array([(ts, missed) for _, ts, missed in stats.gap_events], float)
            self.gaps.setData(g[:, 0], g[:, 1])
        losses = self.plots["losses"]
        total = int(dq["losses"].sum()) if len(dq) else 0
        high = max([1.0, *(dq["losses"].astype(float)), *(g[1] for g in stats.gap_events)])
        losses.setYRange(0, 1.1 * high)
        losses.alert = bool(total or stats.dropped)
        losses.setBackground(ALERT_BG if losses.alert else PLOT_BG)
        colour = BAD if losses.alert else OK
        losses.setTitle(f"<span style='font-size:10pt'>Lost triggers: <b><span style='color:{colour}'>{total}"
                        f"</span></b>&nbsp;&nbsp; monitor gaps (this viewer): <b><span style='color:{colour}'>"
                        f"{stats.dropped}</span></b></span>")

    def alerts(self) -> list[str]:
        """Fields whose newest value is outside the limits."""
        return [name for name, p in self.plots.items() if p.alert]

