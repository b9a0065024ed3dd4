"""Live physics: PE spectrum and arrival time of C and AC, the PE x time histograms, the C - AC excess.

Windows that pass every cut, of beam-on triggers (see :mod:`monitor.histograms`). The
analysis window (``cuts.analysis_pe`` x ``cuts.analysis_time_ns``) is shaded in the 1D plots
and outlined in the 2D ones; the excess title counts the ``selected`` windows (the fit input).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF
from PyQt5.QtWidgets import QGridLayout, QWidget

from daq.config import Config
from monitor.histograms import Projections
from monitor.model import MonitorModel
from monitor.widgets.common import AC_PEN, C_PEN, OK, Panel

WINDOW_BRUSH = (255, 235, 59, 28)
BOX_PEN = pg.mkPen("#ffeb3b", width=1.5, style=2)


def _step_plot(title: str, xlabel: str, region: tuple[float, float]) -> tuple[pg.PlotWidget, dict]:
    plot = pg.PlotWidget(title=title)
    plot.setLabel("bottom", xlabel)
    plot.setLabel("left", "windows")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.addLegend(offset=(-5, 5))
    shade = pg.LinearRegionItem(region, movable=False, brush=pg.mkBrush(*WINDOW_BRUSH), pen=pg.mkPen(None))
    shade.setZValue(-10)
    plot.addItem(shade)
    curves = {"C": plot.plot([0, 1], [0], stepMode="center", pen=pg.mkPen(C_PEN, width=2), name="C (beam)"),
              "AC": plot.plot([0, 1], [0], stepMode="center", pen=pg.mkPen(AC_PEN, width=2), name="AC (background)")}
    return plot, curves


def _excess_plot(title: str, xlabel: str, region: tuple[float, float]) -> tuple[pg.PlotWidget, pg.ErrorBarItem,
                                                                                  pg.ScatterPlotItem]:
    plot = pg.PlotWidget(title=title)
    plot.setLabel("bottom", xlabel)
    plot.setLabel("left", "C - AC")
    plot.showGrid(x=True, y=True, alpha=0.2)
    shade = pg.LinearRegionItem(region, movable=False, brush=pg.mkBrush(*WINDOW_BRUSH), pen=pg.mkPen(None))
    shade.setZValue(-10)
    plot.addItem(shade)
    plot.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#9e9e9e", width=1)))
    bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), pen=pg.mkPen("#e0e0e0"))
    points = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(C_PEN), pen=None)
    plot.addItem(bars)
    plot.addItem(points)
    return plot, bars, points


class SpectraPanel(Panel):
    topics = frozenset({"spectra", "run"})

    def __init__(self, cfg: Config, model: MonitorModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        b = model.binning
        pe_win = b.analysis_pe
        t_win = (b.analysis_time_ns[0] / 1e3, b.analysis_time_ns[1] / 1e3)
        self.pe_edges, self.t_edges_us = b.pe_edges, b.time_edges / 1e3
        grid = QGridLayout(self)
        grid.setSpacing(4)
        grid.setContentsMargins(2, 2, 2, 2)
        t_txt = f"onset {t_win[0]:g}-{t_win[1]:g} µs"
        pe_txt = f"{pe_win[0]:g}-{pe_win[1]:g} PE"
        self.pe_plot, self.pe_curves = _step_plot(f"PE spectrum ({t_txt})", "PE", pe_win)
        self.t_plot, self.t_curves = _step_plot(f"Arrival time ({pe_txt})", "onset after ROI start [µs]",
                                                t_win)
        self.xpe_plot, self.xpe_bars, self.xpe_points = _excess_plot("C - AC excess vs PE", "PE", pe_win)
        self.xt_plot, self.xt_bars, self.xt_points = _excess_plot("C - AC excess vs time", "onset [µs]", t_win)
        self.xpe_plot.setXRange(0, float(self.pe_edges[-1]), padding=0.02)
        self.xt_plot.setXRange(0, float(self.t_edges_us[-1]), padding=0.02)
        self.images: dict[str, pg.ImageItem] = {}
        self.image_plots: dict[str, pg.PlotWidget] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}  # one scale for C and AC: their brightness compares
        cmap = pg.colormap.get("viridis")
        rect = QRectF(0.0, 0.0, float(self.t_edges_us[-1]), float(self.pe_edges[-1]))
        for name in ("C", "AC"):
            plot = pg.PlotWidget(title=f"{name}: PE x arrival time")
            plot.setLabel("bottom", "onset [µs]")
            plot.setLabel("left", "PE")
            image = pg.ImageItem(np.zeros((len(self.t_edges_us) - 1, len(self.pe_edges) - 1)))
            image.setColorMap(cmap)
            image.setRect(rect)
            plot.addItem(image)
            box = pg.PlotDataItem([t_win[0], t_win[1], t_win[1], t_win[0], t_win[0]],
                                  [pe_win[0], pe_win[0], pe_win[1], pe_win[1], pe_win[0]], pen=BOX_PEN)
            plot.addItem(box)
            bar = pg.ColorBarItem(values=(0, 1), colorMap=cmap, interactive=False, label="windows per bin",
                                  width=12)
            bar.setImageItem(image, insert_in=plot.getPlotItem())
            self.images[name], self.image_plots[name], self.bars[name] = image, plot, bar
        self.image_plots["AC"].setXLink(self.image_plots["C"])
        self.image_plots["AC"].setYLink(self.image_plots["C"])
        grid.addWidget(self.pe_plot, 0, 0)
        grid.addWidget(self.t_plot, 0, 1)
        grid.addWidget(self.image_plots["C"], 0, 2)
        grid.addWidget(self.xpe_plot, 1, 0)
        grid.addWidget(self.xt_plot, 1, 1)
        grid.addWidget(self.image_plots["AC"], 1, 2)
        self.last: Projections | None = None

    def redraw(self) -> None:
        p = self.model.projections()
        self.last = p
        top = max(1.0, float(p.image["C"].max()), float(p.image["AC"].max()))
        for name in ("C", "AC"):
            self.pe_curves[name].setData(self.pe_edges, p.pe[name])
            self.t_curves[name].setData(self.t_edges_us, p.time[name])
            self.images[name].setImage(p.image[name].T.astype(float), autoLevels=False)
            self.bars[name].setLevels((0.0, top))
        self.xpe_bars.setData(x=p.pe_centres, y=p.excess_pe, height=2 * p.excess_pe_err)
        self.xpe_points.setData(p.pe_centres, p.excess_pe)
        self.xt_bars.setData(x=p.time_centres_us, y=p.excess_time, height=2 * p.excess_time_err)
        self.xt_points.setData(p.time_centres_us, p.excess_time)
        c, ac = p.selected["C"], p.selected["AC"]
        excess, err = c - ac, math.sqrt(c + ac)
        colour = OK if excess > 2 * err and err > 0 else "#d0d0d0"
        self.xpe_plot.setTitle(f"<span style='font-size:9pt'>C - AC excess: "
                               f"<b><span style='color:{colour}'>{excess} ± {err:.0f}</span></b> in window</span>")
        self.xt_plot.setTitle(f"<span style='font-size:9pt'>C - AC vs time (selected C {c}, AC {ac})</span>")
        for name in ("C", "AC"):
            n = int(p.image[name].sum())
            self.image_plots[name].setTitle(f"<span style='font-size:9pt'>{name}: PE x time ({n} pass cuts)</span>")
