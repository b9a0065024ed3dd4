"""The main window: a status banner, the tabs (data quality, physics, waveforms), run control and alarms.

The banner says at a glance whether all is well: the DAQ state, the run, the trigger rate,
the monitor stream (dropped messages), how many DQ quantities are outside their limits and
how many alarms wait for acknowledgement — each green, amber or red. One timer redraws the
panels whose data changed (``REDRAW_HZ``); once a second it evaluates the alarms and updates
the banner and the run-control counters.
"""

from __future__ import annotations

import time

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from daq.config import Config
from monitor.alarms import AlarmMonitor, Severity
from monitor.model import RATE_WINDOW_S, MonitorModel
from monitor.stream import ControlLoop, ModelNotifier
from monitor.timeaxis import beam_state
from monitor.widgets.alarms import AlarmPanel
from monitor.widgets.common import BAD, IDLE, OK, STATE_COLOURS, WARN, Panel, badge_style, elide, fmt_duration
from monitor.widgets.runcontrol import RunControlPanel
from monitor.widgets.spectra import SpectraPanel
from monitor.widgets.trends import TrendsPanel
from monitor.widgets.waveform import WaveformPanel

REDRAW_HZ = 5.0
BEAM_COLOURS = {"on": OK, "off": WARN, "trip": BAD, "degraded": WARN, "unknown": IDLE}
ELIDED = ("dq", "alarms")
ALARM_EVERY = 5  # timer ticks between alarm evaluations (1 Hz)
TABS = {"dq": "Data quality", "physics": "Physics", "waveform": "Waveforms"}


class MainWindow(QMainWindow):
    def __init__(self, cfg: Config, model: MonitorModel, alarms: AlarmMonitor, control: ControlLoop | None,
                 live: bool) -> None:
        super().__init__()
        self.cfg, self.model, self.alarms, self.control, self.live = cfg, model, alarms, control, live
        self.setWindowTitle("sevens — shift crew")
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.banner: dict[str, QLabel] = {}
        bar = QHBoxLayout()
        for name in ("state", "run", "rate", "beam", "stream", "dq", "alarms"):
            label = QLabel("-")
            label.setStyleSheet(badge_style(IDLE, 12))
            if name in ELIDED:  # texts of any length: elided to the width (full text in the tooltip), never widen
                label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
            bar.addWidget(label, 1 if name in ELIDED else 0)  # the others are short (bounded texts)
            self.banner[name] = label
        outer.addLayout(bar)

        run_dir = str(control.run_dir) if control is not None and control.run_dir is not None else None
        self.trends = TrendsPanel(cfg, model, run_dir=run_dir)  # its catalogue: the run directory's
        self.spectra = SpectraPanel(cfg, model)
        self.waveform = WaveformPanel(cfg, model)
        self.runcontrol = RunControlPanel(cfg, model, control, live)
        self.alarm_panel = AlarmPanel(alarms, acknowledge_shared=control.acknowledge if control else None)
        self.tabs = QTabWidget()
        for key, panel in (("dq", self.trends), ("physics", self.spectra), ("waveform", self.waveform)):
            self.tabs.addTab(panel, TABS[key])
        side = QSplitter(Qt.Vertical)
        side.addWidget(self.runcontrol)
        side.addWidget(self.alarm_panel)
        side.setSizes([430, 370])
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.tabs)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([1150, 520])
        outer.addWidget(split, 1)
        self.setCentralWidget(central)

        self.panels: list[Panel] = [self.trends, self.spectra, self.waveform, self.runcontrol, self.alarm_panel]
        self.notifier = ModelNotifier(model)
        for panel in self.panels:
            self.notifier.changed.connect(panel.mark_dirty)
        self.ticks = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(int(1000 / REDRAW_HZ))

    def show_tab(self, key: str) -> None:
        self.tabs.setCurrentIndex(list(TABS).index(key))

    def tick(self, force: bool = False) -> None:
        """Timer: alarms once a second, then redraw what changed."""
        once_a_second = force or self.ticks % ALARM_EVERY == 0
        if once_a_second or self.alarm_panel._dirty:  # the supervisor's log: shown as it arrives
            if self.alarms.evaluate(self.model):
                self.alarm_panel.mark_dirty({"alarms"})
            self.runcontrol.mark_dirty({"status"})  # counters, ages and rates move with the clock
        self.ticks += 1
        for panel in self.panels:
            panel.refresh(force=force)
        if once_a_second:
            self._banner()

    def refresh_all(self) -> None:
        """Evaluate and redraw everything now (before a screenshot)."""
        for panel in self.panels:
            panel.mark_dirty(set(panel.topics))
        self.tick(force=True)

    def _banner(self) -> None:
        b = self.banner
        status, error, _ = self.model.status()
        run = self.model.run_info()
        stats = self.model.stream_stats()
        if not self.live:
            b["state"].setText(f"FILE: {elide(str(run.exit_status), 40)}")
            b["state"].setStyleSheet(badge_style(OK if run.exit_status == "ok" else WARN, 14))
        elif status is None:
            b["state"].setText("NO RUN CONTROL" if error else "CONNECTING")
            b["state"].setStyleSheet(badge_style(BAD if error else IDLE, 14))
        else:
            state = str(status.get("state", "?"))
            b["state"].setText(state.upper())
            b["state"].setStyleSheet(badge_style(STATE_COLOURS.get(state, IDLE), 14))
        number = status.get("run_number") if status and status.get("run_number") is not None else run.run_number
        elapsed = status.get("elapsed_s") if status else run.duration_s
        b["run"].setText(f"Run {number if number is not None else '-'}  {fmt_duration(elapsed)}")
        b["run"].setStyleSheet(badge_style(IDLE, 12))
        rate = self.model.trigger_rate_hz() if self.live else None
        lo, hi = self.cfg.dq.trigger_rate_hz
        dq = self.model.dq()
        if rate is None and len(dq):
            rate = float(dq["trigger_rate_hz"][-1])
        in_range = rate is not None and lo <= rate <= hi  # at speed > 1 the wall-clock rate is higher
        # the rate of a run's first or last seconds covers part of a window: amber only in a settled run
        settled = (status or {}).get("state") == "running" and (elapsed or 0) > RATE_WINDOW_S + 1 if self.live \
            else not run.ended or len(dq) > 1
        colour = OK if in_range else (IDLE if rate is None or not settled else WARN)
        b["rate"].setText((f"{rate:.1f} Hz, " if rate is not None else "") + f"{run.triggers:,} triggers")
        b["rate"].setStyleSheet(badge_style(colour, 12))
        beam, text = beam_state(dq, self.cfg.beam.power_mw)
        b["beam"].setText(text)
        b["beam"].setStyleSheet(badge_style(BEAM_COLOURS[beam], 12))
        age = time.monotonic() - stats.last_message if stats.last_message is not None else None
        silent = self.live and run.triggers > 0 and not run.ended and age is not None and age > 3.0
        if not self.live:
            b["stream"].setText("no live stream (file view)")
            b["stream"].setStyleSheet(badge_style(IDLE, 12))
        elif stats.dropped or stats.malformed or silent:
            what = f"{stats.dropped} dropped" + (f", silent {age:.0f} s" if silent else "")
            b["stream"].setText(f"stream: {what}")
            b["stream"].setStyleSheet(badge_style(BAD if silent else WARN, 12))
        else:
            b["stream"].setText(f"stream OK ({stats.received:,} msgs)" if stats.received else "stream: waiting")
            b["stream"].setStyleSheet(badge_style(OK if stats.received else IDLE, 12))
        alerts = [self.trends.plots[n].trend.title for n in self.trends.alerts()]
        b["dq"].setText(f"DQ out of limits: {', '.join(alerts)}" if alerts else "DQ within limits")
        b["dq"].setStyleSheet(badge_style(BAD if alerts else (OK if len(dq) else IDLE), 12))
        for name, label in b.items():
            label.setToolTip(str(run.exit_status) if name == "state" and not self.live else label.text())
            if name in ELIDED:  # cut with an ellipsis to the badge's width, the whole text in the tooltip
                width = max(40, label.width() - 20)
                label.setText(label.fontMetrics().elidedText(label.text(), Qt.ElideRight, width))
        self.tabs.tabBar().setTabTextColor(0, QColor(BAD) if alerts else QColor())
        unack = self.alarms.unacknowledged()
        worst = self.alarms.worst()
        if unack:
            b["alarms"].setText(f"{len(unack)} ALARM{'S' if len(unack) > 1 else ''} to acknowledge")
        else:
            active = self.alarms.active()
            b["alarms"].setText(f"{active} active alarm(s), acknowledged" if active else "no alarms")
        colour = {Severity.ERROR: BAD, Severity.WARNING: WARN, None: OK}[worst]
        b["alarms"].setStyleSheet(badge_style(colour, 12))
