"""The supervisor's answers to run-control requests (``status``, ``start``, ``stop``, ``reset``,
``shutdown``, ``ack``), and the control-role check before them."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import zmq

from daq.control.alarm_log import check_ack_request
from daq.control.client import CONTROL_COMMANDS, reply_frames
from daq.control.processes import SupervisorError
from daq.control.run_state import TransitionError
from daq.wire import security, transport
from daq.wire.envelope import EnvelopeError

log = logging.getLogger("daq.control.supervisor")


def serve(sup: Any) -> None:
    """Answer one waiting request on the supervisor's control socket, if there is one: control
    commands need the control token or a control key; a malformed request is counted and answered."""
    try:
        req = transport.recv(sup.control, zmq.NOBLOCK)
    except zmq.Again:
        return
    except EnvelopeError as exc:
        sup.malformed["control"] += 1
        sup.control.send_multipart(reply_frames({"ok": False, "error": f"malformed request: {exc}"}))
        return
    cmd = req.meta.get("cmd")
    authorised = (secrets.compare_digest(str(req.meta.get("token", "")), sup.token)
                  or security.is_control(req.user_id))
    if cmd in CONTROL_COMMANDS and not authorised:
        sup.control.send_multipart(reply_frames(
            {"ok": False, "error": f"not authorised to {cmd}: the request has neither the control token "
                                   "nor a control key (viewer role)"}))
        log.warning("refused %r without a valid control token", cmd)
        return
    sup.control.send_multipart(reply_frames(answer(sup, cmd, req.meta)))


def answer(sup: Any, cmd: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The reply (its meta) of the :class:`~daq.control.supervisor.Supervisor` ``sup`` to request ``cmd``;
    a refused transition says the state."""
    try:
        if cmd == "status":
            return {"ok": True, **sup.status()}
        if cmd == "start":
            args = {k: meta[k] for k in ("seed", "rate_boost", "speed") if meta.get(k) is not None}
            try:
                params = sup.start_run(**args)
            except (SupervisorError, ValueError) as exc:
                return {"ok": False, "error": str(exc), "state": sup.state.value}
            return {"ok": True, "run_number": params.run_number}
        if cmd == "stop":
            sup.stop_run()
            return {"ok": True, "run_number": sup.run.run_number if sup.run else None}
        if cmd == "reset":
            if not sup.fsm.allowed("reset"):
                raise TransitionError(f"cannot 'reset' while {sup.state.value}")
            sup._stop_processes()
            sup.fsm.fire("reset")  # the daemon relaunches the processes from IDLE
            sup.error = None
            sup.alarms.clear("daq:error")
            return {"ok": True}
        if cmd == "shutdown":
            sup.shutdown_requested = True
            return {"ok": True}
        if cmd == "ack":  # shared by every GUI: the log records who and when
            try:
                ids, by = check_ack_request(meta)
            except ValueError as exc:
                return {"ok": False, "error": str(exc)}
            n = sup.alarms.acknowledge(ids, f"{by} (control)")
            sup._publish_alarms()
            return {"ok": True, "acknowledged": n}
        return {"ok": False, "error": f"unknown command {cmd!r}"}
    except TransitionError as exc:
        return {"ok": False, "error": str(exc), "state": sup.state.value}
