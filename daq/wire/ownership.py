"""One owner per endpoint, per process role and per run directory: ``flock`` on a file beside it.

A ZeroMQ ipc bind silently unlinks another process's socket file and takes its place, so two
DAQs started on one config would interleave their data; a tcp bind is refused, but with an
unhelpful message. Before binding, a process claims the endpoint: an exclusive, non-blocking
``flock`` on ``PATH.lock`` beside an ipc socket (for tcp, on a file named after host and port in
a per-user directory under the system's temporary directory). The kernel releases the lock when
the holder dies, however it dies, so a stale lock never blocks a restart. The lock file holds
the holder's pid and command line, and a refused claim names them.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


class OwnedElsewhere(ValueError):
    """Another live process owns this endpoint, role or directory; the text names it."""


class Claim:
    """An exclusive lock held on ``path`` for as long as this object (or the process) lives."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None
            _HELD.pop(self.path, None)

    @property
    def held(self) -> bool:
        return self._fd is not None


_HELD: dict[Path, Claim] = {}  # this process's claims (flock conflicts across descriptors, even our own)


def holder(path: Path) -> str:
    """'pid N (command)' of the process that wrote ``path``, as far as it can be read."""
    try:
        pid, _, cmd = path.read_text().partition("\n")
    except OSError:
        return "another process"
    pid = pid.strip()
    try:
        live = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        cmd = live or cmd
    except OSError:
        pass
    return f"pid {pid} ({cmd.strip() or '?'})" if pid else "another process"


def claim(path: str | Path, what: str) -> Claim:
    """Claim ``path`` (created if needed) for this process; raise OwnedElsewhere naming the holder."""
    p = Path(path).resolve()
    if p in _HELD and _HELD[p].held:
        return _HELD[p]
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OwnedElsewhere(f"{what} is owned by {holder(p)} (lock {p}); stop that DAQ first, "
                             "or give this one its own endpoints (--ipc DIR) and run directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n{' '.join(sys.argv)}\n".encode())
    held = Claim(p, fd)
    _HELD[p] = held
    return held


def endpoint_lock(endpoint: str, role: str | None = None) -> Path | None:
    """The lock file of ``endpoint`` (with ``role``: of that role on it); None for inproc."""
    suffix = f".{role}.lock" if role else ".lock"
    if endpoint.startswith("ipc://"):
        return Path(endpoint[len("ipc://"):] + suffix)
    if endpoint.startswith("tcp://"):
        url = urlsplit(endpoint)
        host = {"*": "any", "": "any"}.get(url.hostname or "", url.hostname or "any")
        base = Path(tempfile.gettempdir()) / f"sevens-{os.getuid()}"
        return base / f"tcp-{host}-{url.port}{suffix}"
    return None


def claim_endpoint(endpoint: str, what: str, role: str | None = None) -> Claim | None:
    """Claim ``endpoint`` (or the process ``role`` on it) before binding or starting."""
    path = endpoint_lock(endpoint, role)
    if path is None:
        return None
    label = f"the {role} process of {endpoint}" if role else f"endpoints.{what} = {endpoint!r}"
    return claim(path, label)


def release_endpoint(endpoint: str, role: str | None = None) -> None:
    """Give up this process's claim of ``endpoint`` (a supervisor closing its sockets)."""
    path = endpoint_lock(endpoint, role)
    if path is not None and (held := _HELD.get(path.resolve())) is not None:
        held.release()


# the launch contract between a supervisor and the processes it starts (environment variables)
LAUNCH_TOKEN_ENV = "SEVENS_LAUNCH_TOKEN"  # a secret per launch: status messages must carry it
SUPERVISOR_PID_ENV = "SEVENS_SUPERVISOR_PID"  # the process dies with this parent
