"""The widgets on a model fed by hand: roles and buttons, red and green, alarms, waveform stepping."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt5.QtCore import Qt
from pytestqt.qtbot import QtBot

from daq.config import Config
from monitor.alarms import AlarmMonitor
from monitor.app import DEFAULT_SIZE
from monitor.mainwindow import MainWindow
from monitor.model import MonitorModel
from monitor.stream import ControlLoop
from monitor.widgets.runcontrol import ROW_BAD, ROW_OK


def window(qtbot: QtBot, cfg: Config, model: MonitorModel, control: ControlLoop | None,
           live: bool = True) -> MainWindow:
    w = MainWindow(cfg, model, AlarmMonitor(cfg, live=live), control, live=live)
    qtbot.addWidget(w)
    w.resize(*DEFAULT_SIZE)  # as `sevens gui` opens it (the banner's badges elide to their width)
    w.show()
    w.refresh_all()
    return w


def enabled(w: MainWindow) -> set[str]:
    return {cmd for cmd, b in w.runcontrol.buttons.items() if b.isEnabled()}


@pytest.mark.parametrize(("state", "buttons"), [
    ("ready", {"start", "new_run"}), ("running", {"stop", "new_run"}), ("stopping", set()), ("error", {"reset"}),
])
def test_only_the_control_role_gets_buttons_and_only_those_the_state_allows(
        qtbot: QtBot, cfg, status, tmp_path: Path, state: str, buttons: set[str]) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.set_status(status(state), token_ok=True)
    control = window(qtbot, cfg, model, ControlLoop(cfg, model, run_dir=tmp_path))
    assert enabled(control) == buttons and control.runcontrol.role.text() == "CONTROL"
    viewer = window(qtbot, cfg, model, ControlLoop(cfg, model))
    assert enabled(viewer) == set() and viewer.runcontrol.role.text().startswith("VIEWER")


def test_a_control_role_without_a_readable_token_cannot_act(qtbot: QtBot, cfg, status, tmp_path) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.set_status(status("ready"), token_ok=False)
    w = window(qtbot, cfg, model, ControlLoop(cfg, model, run_dir=tmp_path))
    assert enabled(w) == set() and "no token" in w.runcontrol.role.text()


def test_a_dead_process_is_red_raises_an_alarm_and_acknowledging_keeps_it_while_active(
        qtbot: QtBot, cfg, status) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.set_status(status(builder={"alive": False, "exit_code": -9}))
    w = window(qtbot, cfg, model, ControlLoop(cfg, model))
    table = w.runcontrol.table
    rows = {table.item(r, 0).text(): table.item(r, 0).background().color() for r in range(table.rowCount())}
    assert rows["builder"] == ROW_BAD and rows["cuts"] == ROW_OK
    alarms = w.alarm_panel.table
    assert alarms.rowCount() == 1 and "process builder is not running" in alarms.item(0, 5).text()
    assert "1 ALARM" in w.banner["alarms"].text()
    qtbot.mouseClick(w.alarm_panel.ack_all, Qt.LeftButton)
    assert alarms.rowCount() == 1 and "unack" not in alarms.item(0, 2).text()  # still active
    model.set_status(status())  # the process is back
    w.refresh_all()
    assert alarms.rowCount() == 0 and w.banner["alarms"].text() == "no alarms"


def test_the_gui_shows_dropped_monitor_messages(qtbot: QtBot, cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_data(0, 5, seq=0))
    model.ingest(make_data(5, 5, seq=4))
    w = window(qtbot, cfg, model, None)
    assert "3 dropped" in w.banner["stream"].text()
    assert "3 dropped" in w.runcontrol.fields["stream"].text()
    assert "stream:dropped" in w.alarms.book.alarms
    assert w.trends.plots["losses"].alert


def test_a_dq_value_outside_its_limits_turns_its_plot_and_the_banner_red(qtbot: QtBot, cfg, make_dq) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_dq([5.0, 10.0]))
    w = window(qtbot, cfg, model, None, live=False)
    assert w.trends.alerts() == [] and w.banner["dq"].text() == "DQ within limits"
    model.ingest(make_dq([15.0], seq=1, baseline_adc=80.0))
    w.refresh_all()
    assert w.trends.alerts() == ["baseline_adc"]
    assert "CsI baseline" in w.banner["dq"].text()
    assert "dq:baseline_adc" in w.alarms.book.alarms


def test_stepping_through_recent_records(qtbot: QtBot, cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    for k in range(4):
        model.ingest(make_data(10 * k, 10, seq=k))
    w = window(qtbot, cfg, model, None)
    w.show_tab("waveform")
    wf = w.waveform
    w.refresh_all()
    assert wf.shown_id == 39
    qtbot.mouseClick(wf.older, Qt.LeftButton)
    qtbot.mouseClick(wf.older, Qt.LeftButton)
    assert wf.shown_id == 19 and not wf.follow.isChecked()
    model.ingest(make_data(40, 10, seq=4))  # a new record does not move a record being looked at
    w.refresh_all()
    assert wf.shown_id == 19
    wf.follow.setChecked(True)
    assert wf.shown_id == 49
    assert "trigger <b>49</b>" in wf.info.text() and "SELECTED" in wf.info.text()


def test_panels_redraw_only_when_their_data_changed(qtbot: QtBot, cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    w = window(qtbot, cfg, model, None)
    w.show_tab("physics")
    w.tick()
    before = w.spectra.redraws
    for _ in range(3):
        w.tick()
    assert w.spectra.redraws == before
    model.ingest(make_data(0, 5))
    qtbot.waitUntil(lambda: w.spectra._dirty, timeout=2000)  # the notice crosses to the GUI thread
    w.tick()
    assert w.spectra.redraws == before + 1
    assert w.spectra.last is not None and w.spectra.last.selected["C"] == 5


@pytest.fixture
def supervisor(daq_config: Config, tmp_path: Path) -> Iterator[Path]:
    """A real supervisor (no DAQ processes) answering run control in its own thread; yields its run dir."""
    from daq.control.supervisor import Supervisor

    stop, ready = threading.Event(), threading.Event()

    def serve() -> None:
        sup = Supervisor(daq_config, tmp_path)
        ready.set()
        try:
            while not stop.is_set():
                sup.poll(0.05)
        finally:
            sup.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield tmp_path
    stop.set()
    thread.join(5)


def test_the_viewer_role_cannot_send_commands(daq_config: Config, supervisor: Path) -> None:
    model = MonitorModel(daq_config)
    viewer = ControlLoop(daq_config, model)
    assert viewer.role == "viewer" and viewer.token() is None
    assert viewer.poll_status()["state"] == "idle"  # a viewer may look
    for cmd in ("start", "stop", "reset", "shutdown"):
        reply = viewer.execute(cmd)
        assert reply["ok"] is False and "not authorised" in reply["error"], cmd
    assert model.last_command[0] == "shutdown" and not model.last_command[1]["ok"]
    # the control role's token is accepted: the refusal is now the state machine's, not the token check
    control = ControlLoop(daq_config, model, run_dir=supervisor)
    reply = control.execute("reset")
    assert reply["ok"] is False and "cannot 'reset' while idle" in reply["error"]
    assert viewer.poll_status()["state"] == "idle"
