"""Waveform viewer: the latest record (or a recent one) of the CsI and muon-veto channels.

Drawn on the CsI trace: the four windows (AC pretrace, AC ROI, C pretrace, C ROI; the C ROI
starts at the beam time), the SPE-like peaks the event builder found (pretrace: cyan, ROI:
yellow), the onset of each window and its charge-integration window. On the veto trace: the
veto hits. "Follow latest" shows the newest record (at most twice a second); the arrows step
through the recent ones.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt5.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from daq import dtypes
from daq.config import Config
from monitor.model import MonitorModel, WaveformRecord
from monitor.widgets.common import AC_PEN, C_PEN, Panel

REGION_BRUSH = {"AC pretrace": (66, 165, 245, 22), "AC ROI": (66, 165, 245, 55),
                "C pretrace": (255, 112, 67, 22), "C ROI": (255, 112, 67, 55)}
MIN_SPAN_ADC = 20.0  # the CsI trace's y-axis spans at least this
PEAK_BRUSH = {dtypes.REGION_PRETRACE: "#26c6da", dtypes.REGION_ROI: "#ffeb3b"}
INTEGRATION_BRUSH = (255, 235, 59, 45)
FOLLOW_PERIOD_S = 0.5  # following the stream, a new record at most this often (drawing 2 x 35k samples costs)


class WaveformPanel(Panel):
    topics = frozenset({"waveform", "run"})

    def __init__(self, cfg: Config, model: MonitorModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.cfg = model, cfg
        self.sample_us = cfg.digitizer.sample_ns / 1e3
        self.t_us = np.arange(cfg.digitizer.n_samples) * self.sample_us
        self.roi_start_us = {dtypes.WINDOW_AC: cfg.windows.ac_roi[0] / 1e3, dtypes.WINDOW_C: cfg.windows.c_roi[0] / 1e3}
        self.integration_us = cfg.features.integration_ns / 1e3
        self.target_id: int | None = None  # trigger id to show; None: follow the latest record
        self.shown_id: int | None = None
        self.records: list[WaveformRecord] = []
        self._last_show = 0.0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        self.older = QPushButton("◀ older")
        self.newer = QPushButton("newer ▶")
        self.follow = QCheckBox("follow latest")
        self.follow.setChecked(True)
        self.position = QLabel("no record yet")
        for w in (self.older, self.newer, self.follow, self.position):
            bar.addWidget(w)
        bar.addStretch(1)
        layout.addLayout(bar)
        self.info = QLabel("")
        self.info.setTextFormat(1)  # Qt.RichText
        layout.addWidget(self.info)

        self.csi_plot = pg.PlotWidget()
        self.csi_plot.setLabel("left", "CsI [ADC]")
        self.csi_plot.showGrid(x=True, y=True, alpha=0.2)
        self.csi_plot.setDownsampling(auto=True, mode="peak")
        self.csi_plot.setClipToView(True)
        self.veto_plot = pg.PlotWidget()
        self.veto_plot.setLabel("left", "veto [ADC]")
        self.veto_plot.setLabel("bottom", "time after record start [µs]")
        self.veto_plot.setDownsampling(auto=True, mode="peak")
        self.veto_plot.setClipToView(True)
        self.veto_plot.setXLink(self.csi_plot)
        # the whole record, small; the band is the zoom of the plots above (drag it, or zoom them)
        self.overview = pg.PlotWidget()
        self.overview.setLabel("left", "record")
        self.overview.setMaximumHeight(110)
        self.overview.setMouseEnabled(x=False, y=False)
        self.overview.hideButtons()
        self.overview.setDownsampling(auto=True, mode="peak")
        self.overview_curve = self.overview.plot([], [], pen=pg.mkPen("#9e9e9e", width=1))
        self.zoom = pg.LinearRegionItem(self.default_zoom(cfg), brush=pg.mkBrush(255, 255, 255, 40))
        self.overview.addItem(self.zoom)
        self.zoom.sigRegionChanged.connect(lambda: self.csi_plot.setXRange(*self.zoom.getRegion(), padding=0))
        self.csi_plot.sigXRangeChanged.connect(lambda _, r: self.zoom.setRegion(r))
        self.csi_plot.setXRange(*self.default_zoom(cfg), padding=0)
        layout.addWidget(self.csi_plot, 3)
        layout.addWidget(self.veto_plot, 1)
        layout.addWidget(self.overview, 1)

        w = cfg.windows
        for (name, (a, b)) in zip(REGION_BRUSH, (w.ac_pretrace, w.ac_roi, w.c_pretrace, w.c_roi), strict=True):
            region = pg.LinearRegionItem((a / 1e3, b / 1e3), movable=False, brush=pg.mkBrush(*REGION_BRUSH[name]),
                                         pen=pg.mkPen(None))
            region.setZValue(-10)
            pg.InfLineLabel(region.lines[0], text=name, position=0.97, anchor=(0, 0), color="#bdbdbd")
            self.csi_plot.addItem(region)
        # translucent: 8-bit noise of several samples per pixel reads as a band, pulses stand out of it
        self.csi_curve = self.csi_plot.plot([], [], pen=pg.mkPen((224, 224, 224, 140), width=1))
        self.veto_curve = self.veto_plot.plot([], [], pen=pg.mkPen("#b39ddb", width=1))
        self.peaks = pg.ScatterPlotItem(size=7, pen=None)
        self.csi_plot.addItem(self.peaks)
        self.veto_hits = pg.ScatterPlotItem(size=9, symbol="t", brush=pg.mkBrush("#ff5252"), pen=None)
        self.veto_plot.addItem(self.veto_hits)
        self.onsets: dict[int, pg.InfiniteLine] = {}
        self.integrations: dict[int, pg.LinearRegionItem] = {}
        for code, colour in ((dtypes.WINDOW_AC, AC_PEN), (dtypes.WINDOW_C, C_PEN)):
            line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(colour, width=2), movable=False,
                                   label=f"onset {dtypes.WINDOW_NAMES[code]}",
                                   labelOpts={"position": 0.1, "color": colour})
            integ = pg.LinearRegionItem((0, 1), movable=False, brush=pg.mkBrush(*INTEGRATION_BRUSH), pen=pg.mkPen(None))
            for item in (line, integ):
                item.setVisible(False)
                self.csi_plot.addItem(item)
            self.onsets[code], self.integrations[code] = line, integ

        self.older.clicked.connect(lambda: self.step(-1))
        self.newer.clicked.connect(lambda: self.step(+1))
        self.follow.toggled.connect(self._on_follow)

    @staticmethod
    def default_zoom(cfg: Config) -> tuple[float, float]:
        """The C ROI and the integration window of an onset at its end, with 5 % margins [µs]."""
        a, b = cfg.windows.c_roi[0] / 1e3, (cfg.windows.c_roi[1] + cfg.features.integration_ns) / 1e3
        margin = 0.05 * (b - a)
        return a - margin, b + margin

    # -- navigation --------------------------------------------------------------------
    def _on_follow(self, on: bool) -> None:
        if on:
            self.target_id = None
        self._dirty = True
        self.refresh(force=True)  # a click shows at once

    def _position(self, records: list[WaveformRecord]) -> int:
        """Index in ``records`` of the record to show."""
        if self.target_id is None:
            return len(records) - 1
        ids = [int(r.trigger["trigger_id"]) for r in records]
        return ids.index(self.target_id) if self.target_id in ids else 0

    def step(self, delta: int) -> None:
        """Show an older (-1) or newer (+1) record; stepping stops following the latest."""
        if not self.records:
            return
        i = int(np.clip(self._position(self.records) + delta, 0, len(self.records) - 1))
        self.target_id = int(self.records[i].trigger["trigger_id"])
        self.follow.blockSignals(True)
        self.follow.setChecked(False)
        self.follow.blockSignals(False)
        self._dirty = True
        self.refresh()

    # -- drawing -----------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        if not force and self.target_id is None and time.monotonic() - self._last_show < FOLLOW_PERIOD_S:
            return False  # stays dirty: drawn at the next tick after the period
        return super().refresh(force)

    def redraw(self) -> None:
        records = self.records = self.model.records()
        if not records:
            self.position.setText("no record yet")
            return
        i = self._position(records)
        self.position.setText(f"record {i + 1} of the last {len(records)}")
        self.older.setEnabled(i > 0)
        self.newer.setEnabled(i < len(records) - 1)
        rec = records[i]
        tid = int(rec.trigger["trigger_id"])
        if tid != self.shown_id:
            self.shown_id = tid
            self._last_show = time.monotonic()
            self.show_record(rec)

    def show_record(self, rec: WaveformRecord) -> None:
        csi = rec.csi.astype(np.float32)
        n = len(csi)
        self.csi_curve.setData(self.t_us[:n], csi)
        self.overview_curve.setData(self.t_us[:n], csi)
        a, b = (np.searchsorted(self.t_us[:n], x) for x in self.csi_plot.viewRange()[0])
        shown = csi[a:b] if b > a else csi
        if len(shown):  # the y-range of what is in view, at least MIN_SPAN_ADC: noise is not magnified
            lo, hi = float(shown.min()), float(shown.max())
            mid, half = 0.5 * (lo + hi), 0.5 * max(hi - lo, MIN_SPAN_ADC) * 1.1
            self.csi_plot.setYRange(mid - half, mid + half, padding=0)
        if rec.veto is not None:
            self.veto_curve.setData(self.t_us[: len(rec.veto)], rec.veto.astype(np.float32))
        peaks = rec.peaks
        idx = np.clip((peaks["time_ns"] / self.cfg.digitizer.sample_ns).astype(np.int64), 0, max(n - 1, 0))
        self.peaks.setData(peaks["time_ns"] / 1e3, csi[idx] if n else np.zeros(len(peaks)),
                           brush=[pg.mkBrush(PEAK_BRUSH.get(int(r), "#ffffff")) for r in peaks["region"]])
        hits = rec.veto_hits
        if hits is not None and rec.veto is not None and len(hits):
            hidx = np.clip((hits["time_ns"] / self.cfg.digitizer.sample_ns).astype(np.int64), 0, len(rec.veto) - 1)
            self.veto_hits.setData(hits["time_ns"] / 1e3, rec.veto[hidx].astype(float))
        else:
            self.veto_hits.setData([], [])
        lines = []
        for f in rec.features:
            code = int(f["window"])
            onset = int(f["onset_ns"])
            has = onset >= 0
            self.onsets[code].setVisible(has)
            self.integrations[code].setVisible(has)
            if has:
                x = self.roi_start_us[code] + onset / 1e3
                self.onsets[code].setValue(x)
                self.integrations[code].setRegion((x, x + self.integration_us))
            cuts = ", ".join(dtypes.cut_mask_names(int(f["cut_mask"]))) or "passes all cuts"
            colour = C_PEN if code == dtypes.WINDOW_C else AC_PEN
            sel = " <b>SELECTED</b>" if f["selected"] else ""
            lines.append(f"<span style='color:{colour}'><b>{dtypes.WINDOW_NAMES[code]}</b></span>: "
                         f"baseline {f['baseline']:.1f} ± {f['baseline_rms']:.2f} ADC, "
                         f"{int(f['n_pretrace_peaks'])} pretrace peaks, "
                         + (f"onset {onset / 1e3:.2f} µs, {f['pe']:.1f} PE, " if has else "no onset, ")
                         + f"cuts: {cuts}{sel}")
        t = rec.trigger
        beam = f"beam on {float(t['power_mw']):.2f} MW" if t["beam_on"] else "beam off"
        self.info.setText(f"trigger <b>{int(t['trigger_id'])}</b> &nbsp; {beam} &nbsp; "
                          f"{len(rec.peaks)} peaks, {int(t['n_veto_hits'])} veto hits<br>" + "<br>".join(lines))
