"""Assemble the GUI: model, socket threads, alarm monitor and main window; run it.

:class:`MonitorApp` is what ``sevens gui`` runs and what the tests drive with pytest-qt:
it loads a run file (``file``) and/or connects to a running DAQ (``connect``): the monitor
stream in one thread, run control (status ~1 Hz, commands) in another. ``run_dir`` gives
the control role (the control token is read from it); without it the GUI is a viewer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from daq.config import Config
from monitor.alarms import AlarmMonitor
from monitor.filesource import load_run_file
from monitor.mainwindow import MainWindow
from monitor.model import MonitorModel
from monitor.stream import AlarmLoop, ControlLoop, StreamLoop

DEFAULT_SIZE = (1720, 1000)


class MonitorApp:
    def __init__(self, cfg: Config, *, file: str | Path | None = None, connect: bool = True,
                 run_dir: str | Path | None = None, status_period_s: float = 1.0, curve_control: bool = False) -> None:
        self.cfg = cfg
        self.model = MonitorModel(cfg)
        self.live = connect
        self.stream = (StreamLoop(cfg.endpoints.monitor, self.model, max_bytes=cfg.endpoints.max_data_bytes)
                       if connect else None)
        self.supervision = AlarmLoop(cfg.endpoints.alarms, self.model, max_bytes=cfg.endpoints.max_control_bytes) \
            if connect else None  # the supervisor's alarm log, pushed
        self.control = ControlLoop(cfg, self.model, run_dir, status_period_s, curve_control) if connect else None
        self.alarms = AlarmMonitor(cfg, live=connect)
        if file is not None:
            load_run_file(self.model, file)
        self.window = MainWindow(cfg, self.model, self.alarms, self.control, live=connect)
        self.window.resize(*DEFAULT_SIZE)
        title = f"sevens — shift crew — {'live: ' + cfg.endpoints.monitor if connect else Path(file).name}"
        self.window.setWindowTitle(title + (f" ({self.control.role})" if self.control else ""))

    def start(self) -> None:
        for loop in (self.stream, self.supervision, self.control):
            if loop is not None:
                loop.start()
        self.window.show()

    def stop(self) -> None:
        self.window.timer.stop()
        for loop in (self.stream, self.supervision, self.control):
            if loop is not None:
                loop.stop()

    def screenshot(self, path: str | Path) -> None:
        self.window.refresh_all()
        QApplication.processEvents()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(path)):
            raise OSError(f"cannot write the screenshot {path}")


def run(cfg: Config, *, file: str | None, connect: bool, run_dir: str | None, screenshot: str | None,
        exit_after: float | None, tab: str | None = None, size: tuple[int, int] | None = None,
        curve_control: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    gui = MonitorApp(cfg, file=file, connect=connect, run_dir=run_dir, curve_control=curve_control)
    if size:
        gui.window.resize(*size)
    if tab:
        gui.window.show_tab(tab)
    gui.start()
    if exit_after is not None:
        def finish() -> None:
            if screenshot:
                gui.screenshot(screenshot)
                print(f"screenshot saved to {screenshot}")
            app.quit()

        QTimer.singleShot(int(exit_after * 1000), finish)
    try:
        return int(app.exec_())
    finally:
        gui.stop()
