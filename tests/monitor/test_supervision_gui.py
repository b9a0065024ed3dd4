"""The supervisor's alarm log in the GUI (issue 16): two GUIs on one published log see the same
restart alarm, with its cause; an acknowledgement is a run-control command carrying the ids and
who, and once the supervisor records it every GUI shows who and when; the history keeps it; a
run file's log (or, for an older file, its restarts) shows in file mode; long text never widens
the window. The supervisor's side (push, ack, run file) is tests/reliability/test_supervision.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import h5py
import zmq
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from daq.config import Config
from daq.control.alarm_log import AlarmLog, AlarmPublisher
from monitor.alarms import AlarmMonitor
from monitor.filesource import alarm_log_of
from monitor.mainwindow import MainWindow
from monitor.model import MonitorModel
from monitor.stream import AlarmLoop, ControlLoop
from monitor.widgets.alarms import COLUMNS
from tests.conftest import private_config

MESSAGE, ACKED, STATE = COLUMNS.index("message"), COLUMNS.index("acknowledged"), COLUMNS.index("state")


class RecordingControl(ControlLoop):
    """A control loop that records what it would send (no supervisor)."""

    def __init__(self, cfg: Config, model: MonitorModel, run_dir: Path) -> None:
        super().__init__(cfg, model, run_dir)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def submit(self, cmd: str, **meta: Any) -> None:
        self.sent.append((cmd, meta))


def window(qtbot: QtBot, cfg: Config, model: MonitorModel, control: ControlLoop | None, live: bool = True
           ) -> MainWindow:
    w = MainWindow(cfg, model, AlarmMonitor(cfg, live=live), control, live=live)
    qtbot.addWidget(w)
    w.show()
    w.refresh_all()
    return w


def cells(w: MainWindow, col: int) -> list[str]:
    t = w.alarm_panel.table
    return [t.item(r, col).text() for r in range(t.rowCount())]


def test_a_published_restart_alarm_is_the_same_in_every_gui_and_its_ack_is_shared(
        qtbot: QtBot, tmp_path: Path, status) -> None:  # noqa: ANN001
    cfg = private_config(tmp_path)
    log = AlarmLog()
    pub = AlarmPublisher(zmq.Context.instance(), cfg.endpoints.alarms)
    models = [MonitorModel(cfg), MonitorModel(cfg)]
    loops = [AlarmLoop(cfg.endpoints.alarms, m) for m in models]
    for loop in loops:
        loop.start()
    try:
        controls = [RecordingControl(cfg, m, tmp_path) for m in models]
        windows = [window(qtbot, cfg, m, c) for m, c in zip(models, controls, strict=True)]
        for m in models:
            m.set_status(status())  # an old-style status has no alarms: the process table is all green
        log.raise_("process:cuts", "error", "process cuts died (exit code -9); restarted (1 of at most 3 in this "
                   "run)", "restarted", 7)
        log.clear("process:cuts")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(m.alarm_log() for m in models):
            pub.publish(log, 7, force=True)
            QApplication.processEvents()
            time.sleep(0.05)
        for w in windows:
            w.refresh_all()
        texts = [cells(w, MESSAGE) for w in windows]
        assert texts[0] == texts[1] and len(texts[0]) == 1
        assert "[restarted] process cuts died (exit code -9)" in texts[0][0]
        assert cells(windows[0], STATE) == ["cleared, unack"]
        assert "1 ALARM" in windows[0].banner["alarms"].text()

        qtbot.mouseClick(windows[0].alarm_panel.ack_all, Qt.LeftButton)
        assert [c for c, _ in controls[0].sent] == ["ack"]
        cmd, meta = controls[0].sent[0]
        assert meta["ids"] == [log.entries[0]["id"]] and "@" in meta["by"]
        assert cells(windows[1], STATE) == ["cleared, unack"]  # not acknowledged until the supervisor says so

        log.acknowledge(meta["ids"], f"{meta['by']} (control)")  # what the supervisor does on the request
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(e["acked_by"] for m in models for e in m.alarm_log()):
            pub.publish(log, 7)
            time.sleep(0.05)
        for w in windows:
            w.refresh_all()
            assert w.alarm_panel.table.rowCount() == 0  # cleared and acknowledged: off the list ...
            w.alarm_panel.history.setChecked(True)  # ... but in the history, with who
            assert meta["by"] in cells(w, ACKED)[0] and "(control)" in cells(w, ACKED)[0]
            assert w.banner["alarms"].text() == "no alarms"
    finally:
        for loop in loops:
            loop.stop()
        pub.close()


def test_a_run_file_shows_its_alarm_log_and_an_old_one_its_restarts(qtbot: QtBot, cfg: Config) -> None:
    log = AlarmLog()
    log.raise_("process:veto", "error", "process veto stopped heartbeating (2.1 s): hung, killed; restarted",
               "restarted", 3)
    log.raise_("daq:error", "error", "DAQ in ERROR: process reader died (exit code -9)", "run aborted", 3)


    entries = alarm_log_of({"alarms": json.dumps(log.snapshot()), "exit_status": "aborted: x"})
    assert [e["key"] for e in entries] == ["process:veto", "daq:error"]
    old = alarm_log_of({"restarts": json.dumps([
        {"process": "cuts", "reason": "process cuts died (exit code -9)", "time_ns": 1, "run": 3},
        {"process": "veto", "reason": "process veto died (exit code -9)", "time_ns": 2, "run": 3}]),
        "exit_status": "aborted: process reader died", "stop_time_ns": 3})
    assert [(e["key"], e["cause"]) for e in old] == [
        ("process:cuts", "restarted"), ("process:veto", "restarted"), ("run:exit_status", "run status")]
    model = MonitorModel(cfg)
    model.set_alarm_log(old)
    w = window(qtbot, cfg, model, None, live=False)
    assert len(cells(w, MESSAGE)) == 3 and any("veto died" in t for t in cells(w, MESSAGE))


def test_a_500_character_status_widens_nothing(qtbot: QtBot, cfg: Config, tmp_path: Path, status) -> None:  # noqa: ANN001
    long = "aborted: " + "process builder died (exit code -9) and " * 13
    assert len(long) > 500
    path = tmp_path / "run_000009.h5"
    with h5py.File(path, "w") as f:
        f.attrs["run_number"] = 9
    model = MonitorModel(cfg)
    model.set_file_info(str(tmp_path / ("x" * 300) / "run_000009.h5"), 9, long, 10.0, {"exit_status": long})
    model.set_alarm_log([{"id": 1, "key": "run:exit_status", "severity": "error", "message": long,
                          "cause": "run status", "raised_ns": time.time_ns()}])
    w = window(qtbot, cfg, model, None, live=False)
    w.resize(1400, 900)
    w.refresh_all()
    QApplication.processEvents()
    screen = QApplication.primaryScreen().availableGeometry().width()
    assert w.width() <= max(1400, screen) and w.minimumSizeHint().width() < 1400
    assert w.banner["state"].toolTip() == long and len(w.banner["state"].text()) < 60
    live = MonitorModel(cfg)
    live.set_status({**status("error"), "error": long, "alarms": []})
    live.set_command_reply("start", {"ok": False, "error": long})
    lw = window(qtbot, cfg, live, ControlLoop(cfg, live, tmp_path))
    lw.resize(1400, 900)
    lw.refresh_all()
    QApplication.processEvents()
    assert lw.minimumSizeHint().width() < 1400 and lw.width() <= max(1400, screen)


def test_the_trigger_badge_is_not_amber_at_a_run_boundary(qtbot: QtBot, cfg: Config, status, make_data) -> None:  # noqa: ANN001
    from monitor.widgets.common import IDLE, WARN

    model = MonitorModel(cfg)
    model.ingest(make_data(0, 5, seq=0))  # 5 triggers in the last seconds: 5 Hz, outside [55, 65] Hz
    w = window(qtbot, cfg, model, None)
    for state, elapsed, colour in (("running", 2.0, IDLE), ("stopping", 50.0, IDLE), ("ready", None, IDLE),
                                   ("running", 50.0, WARN)):
        model.set_status({**status(state), "elapsed_s": elapsed})
        w.refresh_all()
        assert colour in w.banner["rate"].styleSheet(), (state, elapsed)
