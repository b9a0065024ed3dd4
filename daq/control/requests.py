"""The supervisor's answers to run-control requests (``status``, ``start``, ``stop``, ``reset``,
``shutdown``, ``ack``), once the request has passed the control-role check."""

from __future__ import annotations

from typing import Any

from daq.control.alarm_log import check_ack_request
from daq.control.processes import SupervisorError
from daq.control.run_state import TransitionError


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
