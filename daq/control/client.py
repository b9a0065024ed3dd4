"""The run-control client: one request to the supervisor, as the CLI and the GUI both send it.

Commands that change the run (``CONTROL_COMMANDS``) carry the supervisor's control token,
read from its run directory (or come with the control role's CURVE key); ``status`` needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq

from daq.config import Config
from daq.wire import envelope, transport
from daq.wire.envelope import Message

CONTROL_COMMANDS = ("start", "stop", "reset", "shutdown", "ack")  # need the control token; status does not
TOKEN_FILE = ".control-token"


class NoAnswer(RuntimeError):
    """No supervisor answered at the control endpoint within the timeout."""


def read_control_token(run_dir: str | Path) -> str | None:
    """The control token of the supervisor serving ``run_dir``, if this user may read it."""
    try:
        return (Path(run_dir) / TOKEN_FILE).read_text().strip()
    except OSError:
        return None


def request(cfg: Config, meta: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """One run-control request to the supervisor at ``endpoints.control``; its reply's meta."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    transport.limit_size(sock, cfg.endpoints.max_control_bytes)
    transport.connect(sock, cfg.endpoints.control)
    try:
        transport.send(sock, Message(stream="control", kind="command", source="cli", meta=meta))
        if not sock.poll(int(timeout_s * 1000)):
            raise NoAnswer(f"no DAQ answers at {cfg.endpoints.control} (is `sevens daemon` or `sevens daq` running?)")
        return envelope.unpack(sock.recv_multipart()).meta
    finally:
        sock.close(0)


def reply_frames(meta: dict[str, Any]) -> list[Any]:
    """The supervisor's reply to a request, as envelope frames."""
    return envelope.pack(Message(stream="control", kind="reply", source="supervisor", meta=meta))
