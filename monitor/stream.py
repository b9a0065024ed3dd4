"""The GUI's sockets, each in its own thread, and the bridge from the model to Qt.

* :class:`StreamLoop` subscribes to the cut pipeline's monitor stream (``endpoints.monitor``)
  and feeds every message to the model. It only reads: a slow GUI loses messages at the
  publisher (counted there as ``monitor_dropped``, seen here as sequence gaps), never slows
  the DAQ.
* :class:`ControlLoop` asks the supervisor for its status about once a second and sends the
  run-control commands the GUI queues with :meth:`ControlLoop.submit`. In the control role
  (``run_dir`` given) it reads the control token from the run directory for every command
  (a restarted supervisor writes a new one), or relies on the control role's CURVE key when
  ``security.keys_dir`` is set; in the viewer role it has no token, so a forced command is
  refused by the supervisor.
* :class:`ModelNotifier` re-emits the model's change notices as a Qt signal, delivered in the
  GUI thread (queued across threads); widgets subscribe to it and redraw on their timer.

The loops are plain threads (no Qt in them), so they also serve tests and benchmarks.
"""

from __future__ import annotations

import getpass
import logging
import queue
import socket
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import zmq
from PyQt5.QtCore import QObject, pyqtSignal

from daq.config import Config
from daq.control.client import CONTROL_COMMANDS, read_control_token, request
from daq.wire import transport
from daq.wire.envelope import EnvelopeError, Message
from monitor.model import MonitorModel

log = logging.getLogger(__name__)

SUB_HWM = 100  # messages this viewer queues before the publisher drops for it
STATUS_PERIOD_S = 1.0
STATUS_TIMEOUT_S = 1.5
COMMAND_TIMEOUT_S = 5.0


class _Loop(ABC):
    """A daemon thread running :meth:`loop` until :meth:`stop`."""

    name = "loop"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sevens-gui-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop()
        except Exception:  # a GUI thread must not die silently
            log.exception("%s thread failed", self.name)

    @abstractmethod
    def loop(self) -> None:
        """The thread's body; returns when ``self._stop`` is set."""

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class StreamLoop(_Loop):
    """SUB on the monitor stream -> ``model.ingest``."""

    name = "stream"

    def __init__(self, endpoint: str, model: MonitorModel, hwm: int = SUB_HWM, max_bytes: int | None = None) -> None:
        super().__init__()
        self.endpoint, self.model, self.hwm, self.max_bytes = endpoint, model, hwm, max_bytes

    def loop(self) -> None:
        sock = transport.subscriber(zmq.Context.instance(), self.endpoint, self.hwm,
                                    max_bytes=self.max_bytes)
        try:
            while not self._stop.is_set():
                if not sock.poll(100):
                    continue
                for _ in range(256):
                    try:
                        msg = transport.recv(sock, zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    except EnvelopeError as exc:
                        log.warning("malformed monitor message: %s", exc)
                        self.model.note_malformed()
                        continue
                    self.handle(msg)
        finally:
            sock.close(0)

    def handle(self, msg: Message) -> None:
        self.model.ingest(msg)


class AlarmLoop(StreamLoop):
    """SUB on the supervisor's alarm log (``endpoints.alarms``) -> ``model.set_alarm_log``: a
    restart or a hang reaches every GUI when the supervisor sees it, not at the next status poll."""

    name = "alarms"

    def handle(self, msg: Message) -> None:
        if msg.stream == "alarms" and isinstance(msg.meta.get("alarms"), list):
            self.model.set_alarm_log(msg.meta["alarms"])


class ControlLoop(_Loop):
    """REQ to the supervisor: status about once a second, and the queued commands."""

    name = "control"

    def __init__(self, cfg: Config, model: MonitorModel, run_dir: str | Path | None = None,
                 period_s: float = STATUS_PERIOD_S, curve_control: bool = False) -> None:
        super().__init__()
        self.cfg, self.model, self.period_s = cfg, model, period_s
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.curve_control = curve_control  # the control role's CURVE key authorises without a token
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    @property
    def role(self) -> str:
        return "control" if self.run_dir is not None else "viewer"

    def token(self) -> str | None:
        """The control token, read now (None for a viewer, or if it cannot be read)."""
        return read_control_token(self.run_dir) if self.run_dir is not None else None

    def submit(self, cmd: str, **meta: Any) -> None:
        """Queue a command: start, stop, reset, new_run (stop, wait for READY, start), ack (``ids``)."""
        self._queue.put((cmd, meta))

    def acknowledge(self, ids: list[int] | None) -> None:
        """Acknowledge the supervisor's alarms ``ids`` (None: all) for every GUI, as this user."""
        self.submit("ack", ids=ids, by=f"{getpass.getuser()}@{socket.gethostname()}")

    def loop(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_poll:
                self.poll_status()
                next_poll = time.monotonic() + self.period_s
            try:
                cmd, meta = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self.execute(cmd, **meta)
            next_poll = 0.0

    def _request(self, meta: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return request(self.cfg, meta, timeout_s)

    def poll_status(self) -> dict[str, Any] | None:
        try:
            status = self._request({"cmd": "status"}, STATUS_TIMEOUT_S)
        except Exception as exc:  # NoAnswer, ZMQError
            self.model.set_status(None, str(exc))
            return None
        self.model.set_status(status, None, token_ok=self.curve_control or self.token() is not None)
        return status

    def execute(self, cmd: str, **extra: Any) -> dict[str, Any]:
        """Send ``cmd`` now (in this thread); the reply goes to the model."""
        if cmd == "new_run":
            reply = self._new_run()
        else:
            meta: dict[str, Any] = {**extra, "cmd": cmd}
            if cmd in CONTROL_COMMANDS:
                token = self.token()
                if token is not None:
                    meta["token"] = token  # a viewer sends none: the supervisor refuses
            try:
                reply = self._request(meta, COMMAND_TIMEOUT_S)
            except Exception as exc:
                reply = {"ok": False, "error": str(exc)}
        self.model.set_command_reply(cmd, reply)
        return reply

    def _new_run(self) -> dict[str, Any]:
        status = self.poll_status() or {}
        if status.get("state") == "running":
            reply = self.execute("stop")
            if not reply.get("ok"):
                return reply
            deadline = time.monotonic() + self.cfg.supervisor.stop_timeout_s + 5.0
            while time.monotonic() < deadline and not self._stop.is_set():
                status = self.poll_status() or {}
                if status.get("state") != "stopping":
                    break
                time.sleep(0.3)
        if status.get("state") != "ready":
            return {"ok": False, "error": f"cannot start a new run while {status.get('state')}"}
        return self.execute("start")


class ModelNotifier(QObject):
    """The model's change notices as a Qt signal (emitted in any thread, delivered in the GUI's)."""

    changed = pyqtSignal(object)  # set of topic names

    def __init__(self, model: MonitorModel) -> None:
        super().__init__()
        model.subscribe(self._emit)

    def _emit(self, topics: set[str]) -> None:
        try:
            self.changed.emit(topics)
        except RuntimeError:  # the window (and this object with it) is gone; the model lives on
            pass
