"""Run control: DAQ state, run number, elapsed time, triggers and rates, per-process health.

Start / Stop / New run / Reset act only in the control role (``sevens gui --control``) and only
when the state allows them; a viewer sees the same panel with the buttons disabled. Each
process row is green while it heartbeats and red when it is dead, silent or losing data.
"""

from __future__ import annotations

import html
import time
from typing import Any

from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from daq.config import Config
from monitor.model import MonitorModel
from monitor.stream import ControlLoop
from monitor.widgets.common import BAD, IDLE, OK, STATE_COLOURS, WARN, Panel, badge_style, elide, fmt_duration

COLUMNS = ("process", "pid", "state", "restarts", "beat", "in", "out", "triggers", "queue", "lost", "bad", "gaps")
TIPS = ("DAQ process", "process id", "process state", "restarts in this run (causes: the alarm list)",
        "age of the last heartbeat", "messages received (counters: this run)",
        "messages sent", "triggers received", "input queue depth", "triggers lost", "malformed messages received",
        "messages missing from its inputs")
ATTR_CHARS = 60
ROW_OK = QColor(46, 125, 50, 60)
ROW_BAD = QColor(198, 40, 40, 150)
ROW_WARN = QColor(239, 143, 0, 90)


def process_health(p: dict[str, Any], heartbeat_timeout_s: float) -> str:
    """"ok", "warn" (malformed or gap counts; compiling its kernels, silent meanwhile) or "bad" (dead,
    silent, losing triggers)."""
    age = p.get("heartbeat_age_s")
    if p.get("alive") and p.get("state") == "warming" and not p.get("losses"):
        return "warn"  # the supervisor allows it supervisor.warmup_timeout_s
    if not p.get("alive") or age is None or age > heartbeat_timeout_s or p.get("losses"):
        return "bad"
    if p.get("malformed") or p.get("gaps"):
        return "warn"
    return "ok"


class RunControlPanel(Panel):
    topics = frozenset({"status", "run", "gaps"})  # and once a second (counters, ages)

    def __init__(self, cfg: Config, model: MonitorModel, control: ControlLoop | None, live: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cfg, self.model, self.control, self.live = cfg, model, control, live
        self.is_control = control is not None and control.role == "control"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)

        box = QGroupBox("Run control")
        grid = QGridLayout(box)
        self.state = QLabel("-")
        self.role = QLabel()
        grid.addWidget(self.state, 0, 0, 1, 2)
        grid.addWidget(self.role, 0, 2, 1, 2)
        self.fields: dict[str, QLabel] = {}
        names = ("run", "elapsed", "triggers", "rate", "beam", "stream", "file")
        for i, name in enumerate(names):
            label = QLabel(name)
            label.setStyleSheet("color: #757575;")
            value = QLabel("-")
            value.setTextFormat(1)  # rich text
            row, col = 1 + i // 2, 2 * (i % 2)
            span = 3 if name == "file" else 1
            grid.addWidget(label, row, col)
            grid.addWidget(value, row, col + 1, 1, span)
            self.fields[name] = value
        self.fields["file"].setWordWrap(True)
        for label in (self.fields["file"], self.state):  # long texts are elided, never widen the window
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for cmd, text in (("start", "Start run"), ("stop", "Stop run"), ("new_run", "New run"), ("reset", "Reset")):
            b = QPushButton(text)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, c=cmd: self.send(c))
            buttons.addWidget(b)
            self.buttons[cmd] = b
        grid.addLayout(buttons, 5, 0, 1, 4)
        self.reply = QLabel("")
        self.reply.setWordWrap(True)
        self.reply.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        grid.addWidget(self.reply, 6, 0, 1, 4)
        layout.addWidget(box)

        columns = COLUMNS if live else ("run file", "")
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        if live:
            for col, tip in enumerate(TIPS):
                self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setMinimumHeight(200)
        if not live:
            self.table.horizontalHeader().setStretchLastSection(True)
            for b in self.buttons.values():
                b.setVisible(False)
        proc_box = QGroupBox("Processes" if live else "Run file attributes")
        QVBoxLayout(proc_box).addWidget(self.table)
        layout.addWidget(proc_box)

    def send(self, cmd: str) -> None:
        """Queue ``cmd`` for the control thread (buttons are disabled for a viewer)."""
        if self.control is None:
            return
        self.reply.setText(f"sending {cmd} ...")
        self.control.submit(cmd)

    def allowed(self, state: str | None) -> dict[str, bool]:
        """Which buttons the state permits (only in the control role with a readable token)."""
        can = self.is_control and self.model.token_ok
        return {"start": can and state == "ready", "stop": can and state == "running",
                "new_run": can and state in ("ready", "running"), "reset": can and state == "error"}

    def redraw(self) -> None:
        status, error, _ = self.model.status()
        run = self.model.run_info()
        stats = self.model.stream_stats()
        live = self.live
        if not live:
            state, colour = f"FILE ({elide(str(run.exit_status), 40)})", OK if run.exit_status == "ok" else WARN
            self.state.setToolTip(str(run.exit_status))
        elif status is None:
            state, colour = ("NO RUN CONTROL" if error else "CONNECTING"), (BAD if error else IDLE)
        else:
            state = str(status.get("state", "?"))
            colour = STATE_COLOURS.get(state, IDLE)
            state = state.upper()
        self.state.setText(state)
        self.state.setStyleSheet(badge_style(colour, 14))
        if not live:
            role, rcol = "FILE VIEW", IDLE
        elif self.control is None:
            role, rcol = "MONITOR ONLY", IDLE
        elif self.is_control:
            role, rcol = ("CONTROL", OK) if self.model.token_ok else ("CONTROL (no token!)", BAD)
        else:
            role, rcol = "VIEWER (read-only)", IDLE
        self.role.setText(role)
        self.role.setStyleSheet(badge_style(rcol, 10))
        for cmd, ok in self.allowed(status.get("state") if status else None).items():
            self.buttons[cmd].setEnabled(ok)

        number = status.get("run_number") if status and status.get("run_number") is not None else run.run_number
        self.fields["run"].setText(f"<b>{number if number is not None else '-'}</b>")
        elapsed = status.get("elapsed_s") if status else None
        self.fields["elapsed"].setText(fmt_duration(elapsed if elapsed is not None else run.duration_s))
        self.fields["triggers"].setText(f"{run.triggers:,}" + (f" (lost {run.trigger_losses})"
                                                                if run.trigger_losses else ""))
        rate = self.model.trigger_rate_hz() if live else None
        self.fields["rate"].setText(f"{rate:.1f} Hz" if rate is not None else "-")
        self.fields["beam"].setText(f"{run.beam_pulses:,} pulses, {run.pot:.3g} POT")
        age = time.monotonic() - stats.last_message if stats.last_message is not None and live else None
        colour = BAD if stats.dropped or stats.malformed else OK
        if not live:
            self.fields["stream"].setText("- (file view)")
        else:
            self.fields["stream"].setText(
                f"{stats.received:,} msgs, <span style='color:{colour}'><b>{stats.dropped} dropped</b></span>"
                + (f", {stats.malformed} malformed" if stats.malformed else "")
                + (f", last {age:.1f} s ago" if age is not None else ""))
        self.fields["file"].setText(elide(run.file or "-", 90, middle=True))
        self.fields["file"].setToolTip(run.file or "")
        if error and live:
            self.reply.setText(f"<span style='color:{BAD}'>{html.escape(elide(error, 200))}</span>")
            self.reply.setToolTip(error)
        elif self.model.last_command:
            cmd, reply, when = self.model.last_command
            text = "ok" if reply.get("ok") else str(reply.get("error", "refused"))
            self.reply.setToolTip(text)
            text = html.escape(elide(text, 200))
            c = OK if reply.get("ok") else BAD
            self.reply.setText(f"{time.strftime('%H:%M:%S', time.localtime(when))} {cmd}: "
                               f"<span style='color:{c}'>{text}</span>")
        if live:
            self._fill_table(status.get("processes", []) if status else [])
        else:
            self._fill_attrs(run.attrs)

    def _fill_attrs(self, attrs: dict[str, Any]) -> None:
        self.table.setRowCount(len(attrs))
        for row, (key, value) in enumerate(attrs.items()):
            if key.endswith("_time_ns") and isinstance(value, int) and value > 0:
                value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value / 1e9))
            elif isinstance(value, float):
                value = f"{value:.4g}"
            for col, text in enumerate((key, str(value))):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(elide(text, ATTR_CHARS))  # a 500-character exit status must not widen the window
                item.setToolTip(text)
            bad = key == "exit_status" and value != "ok" or key == "triggers_lost" and value not in (0, -1)
            self.table.item(row, 1).setBackground(ROW_BAD if bad else QColor(0, 0, 0, 0))

    def _fill_table(self, processes: list[dict[str, Any]]) -> None:
        self.table.setRowCount(len(processes))
        timeout = self.cfg.supervisor.heartbeat_timeout_s
        for row, p in enumerate(processes):
            age = p.get("heartbeat_age_s")
            state = p.get("state", "?") if p.get("alive") else f"DEAD ({p.get('exit_code')})"
            values = (p.get("name"), p.get("pid") or "-", state, p.get("restarts", 0),
                      "-" if age is None else f"{age:.1f} s",
                      p.get("msgs_in", 0), p.get("msgs_out", 0), p.get("triggers_in", 0), p.get("queue_depth", 0),
                      p.get("losses", 0), p.get("malformed", 0), p.get("gaps", 0))
            health = process_health(p, timeout)
            if health == "ok" and p.get("restarts"):
                health = "warn"  # restarted in this run: amber until the run ends
            colour = {"ok": ROW_OK, "warn": ROW_WARN, "bad": ROW_BAD}[health]
            for col, value in enumerate(values):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(f"{value:,}" if isinstance(value, int) and col > 1 else str(value))
                item.setBackground(colour)

    def healthy_processes(self) -> int:
        status, _, _ = self.model.status()
        timeout = self.cfg.supervisor.heartbeat_timeout_s
        return sum(process_health(p, timeout) == "ok" for p in (status or {}).get("processes", []))
