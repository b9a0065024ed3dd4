"""The GUI on a live simulated DAQ run, and a viewer that never slows the DAQ; then the GUI on its file.

One `sevens daq` run (conftest ``live_run``) serves every test here, in order: the first ones
while it runs, the last ones on its file. Other modules must not use ``live_run`` (they would
wait for its end before these tests see it running).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PyQt5.QtGui import QImage
from pytestqt.qtbot import QtBot

from daq import dtypes
from daq.cli.gui import add_commands
from daq.runfile import open_run
from monitor.alarms import AlarmMonitor
from monitor.app import MonitorApp
from monitor.mainwindow import MainWindow
from monitor.model import MonitorModel


def _status_state(gui: MonitorApp) -> str | None:
    status, _, _ = gui.model.status()
    return status.get("state") if status else None


def test_the_gui_follows_a_live_run_and_a_viewer_cannot_change_it(live_run, qtbot: QtBot) -> None:  # noqa: ANN001
    gui = MonitorApp(live_run.cfg, connect=True, status_period_s=0.5)  # viewer: no run directory, no token
    qtbot.addWidget(gui.window)
    gui.start()
    try:
        model = gui.model
        qtbot.waitUntil(lambda: _status_state(gui) == "running", timeout=90_000)
        qtbot.waitUntil(lambda: len(model.dq()) >= 1 and model.records() and model.run_info().triggers > 100
                        and int(model.projections().image["C"].sum()) > 0, timeout=30_000)
        gui.window.refresh_all()
        status, _, _ = model.status()
        assert [p["name"] for p in status["processes"]] == ["recorder", "cuts", "veto", "builder", "beam", "reader"]
        assert gui.window.runcontrol.table.rowCount() == 6
        assert gui.window.runcontrol.healthy_processes() == 6
        assert gui.window.banner["state"].text() == "RUNNING"
        rec = model.records()[-1]
        assert rec.csi.shape == (live_run.cfg.digitizer.n_samples,) and len(rec.features) == 2
        assert np.isfinite(model.dq()["baseline_adc"]).all()
        assert gui.window.trends.plots["baseline_adc"].curve.getData()[0] is not None

        # the viewer: every run-changing button is disabled ...
        assert not any(b.isEnabled() for b in gui.window.runcontrol.buttons.values())
        # ... and a forced command has no token, so the supervisor refuses it and the run goes on
        reply = gui.control.execute("stop")
        assert reply["ok"] is False and "not authorised" in reply["error"]
        assert gui.control.poll_status()["state"] == "running"
    finally:
        gui.stop()


def test_the_control_role_may_stop_the_run(live_run, qtbot: QtBot) -> None:  # noqa: ANN001
    gui = MonitorApp(live_run.cfg, connect=True, run_dir=live_run.run_dir, status_period_s=0.5)
    qtbot.addWidget(gui.window)
    gui.start()
    try:
        qtbot.waitUntil(lambda: _status_state(gui) == "running" and gui.model.token_ok, timeout=30_000)
        gui.window.refresh_all()
        buttons = gui.window.runcontrol.buttons
        assert buttons["stop"].isEnabled() and buttons["new_run"].isEnabled()
        assert not buttons["start"].isEnabled()  # not while running
        assert gui.window.runcontrol.role.text() == "CONTROL"
    finally:
        gui.stop()


def test_a_viewer_that_does_not_read_never_slows_the_daq(live_run, qtbot: QtBot) -> None:  # noqa: ANN001
    summary = live_run.finish()
    live_run.sleeper.join(30)
    assert live_run.sleeper.error is None
    t = summary["triggers"]
    assert t["generated"] == t["recorded"] and t["lost"] == 0
    assert summary["exit_status"] == "ok"
    expected = live_run.cfg.beam.rep_rate_hz * live_run.seconds * live_run.speed  # the DAQ kept its pace
    assert 0.8 * expected < t["generated"] < 1.3 * expected

    # the late reader saw the gap in the sequence numbers, and the GUI shows it
    model = MonitorModel(live_run.cfg)
    for msg in live_run.sleeper.messages:
        model.ingest(msg)
    assert model.stream_stats().dropped > 0
    print(f"late reader: {model.stream_stats().received} messages received, {model.stream_stats().dropped} dropped")
    window = MainWindow(live_run.cfg, model, AlarmMonitor(live_run.cfg, live=True), control=None, live=True)
    qtbot.addWidget(window)
    window.refresh_all()
    assert f"{model.stream_stats().dropped} dropped" in window.banner["stream"].text()
    assert "stream:dropped" in window.alarms.book.alarms


def test_the_gui_on_the_recorded_file(live_run, qtbot: QtBot, tmp_path) -> None:  # noqa: ANN001
    path = live_run.finish()["file"]
    with open_run(path) as f:
        n_dq, last_id = len(f["dq"]), int(f["triggers"]["trigger_id"][-1])
        c_selected = int(np.count_nonzero(f["selected"]["window"] == dtypes.WINDOW_C))
    gui = MonitorApp(live_run.cfg, file=path, connect=False)
    qtbot.addWidget(gui.window)
    gui.start()
    try:
        gui.window.show_tab("waveform")
        gui.window.refresh_all()
        w = gui.window
        assert w.banner["state"].text() == "FILE: ok"
        assert len(w.trends.plots["spe_mean_charge"].curve.getData()[0]) > 0
        assert len(gui.model.dq()) == n_dq
        assert w.waveform.shown_id == last_id
        w.waveform.step(-1)
        assert w.waveform.shown_id == last_id - 1
        # beam-on selected C windows of the file (all triggers are beam-on in this run)
        assert gui.model.projections().selected["C"] == c_selected > 0
        shot = tmp_path / "file.png"
        gui.screenshot(shot)
        assert shot.stat().st_size > 10_000
    finally:
        gui.stop()


def test_screenshot_of_a_run_file_then_exit(live_run, qapp, tmp_path: Path) -> None:  # noqa: ANN001
    path = live_run.finish()["file"]
    shot = tmp_path / "img" / "gui-file.png"
    parser = argparse.ArgumentParser(prog="sevens")
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["gui", "--config", live_run.cfg.path, "--file", path, "--screenshot", str(shot),
                              "--exit-after", "0.5", "--tab", "physics", "--size", "1200x800"])
    assert args.func(args) == 0
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1200, 800)
