"""What the supervisor keeps about its processes and its runs: the processes it launched (by pid
and launch token), the frozen config they read, run parameters it accepts, run files a crash left.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daq.config import Config
from daq.config.schema import SupervisorConfig
from daq.wire import security
from daq.wire.envelope import Message

log = logging.getLogger(__name__)


class SupervisorError(RuntimeError):
    """The supervisor cannot do what was asked (start refused, launch failed, run directory owned)."""


def check_run_params(seed: Any, rate_boost: Any, speed: Any) -> None:
    """Refuse run parameters that cannot make a run (a request may come from any client)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ValueError(f"seed: expected an integer from 0 to 2**63 - 1, got {seed!r}")
    for name, value in (("rate_boost", rate_boost), ("speed", speed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{name}: expected a finite number above 0, got {value!r}")


def freeze(cfg: Config, run_dir: Path) -> Config:
    """The config every process of this supervisor reads, restarted ones included: a copy of the
    text as loaded now, so an edit of the file mid-run changes nothing until the next launch."""
    from daq import config as config_mod

    d = run_dir / "config"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"frozen-{cfg.sha256[:12]}.toml"
    if not path.is_file() or path.read_text() != cfg.text:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(cfg.text)
        os.replace(tmp, path)
    return config_mod.parse(cfg.text, str(path))


def metrics_server(cfg: Config) -> Any:
    """The Prometheus /metrics server of ``supervisor.metrics_port`` (None when 0); ValueError naming the
    port when it cannot be bound."""
    if not cfg.supervisor.metrics_port:
        return None
    from daq.ops.metrics import MetricsServer

    try:
        server = MetricsServer(cfg.supervisor.metrics_host, cfg.supervisor.metrics_port)
    except OSError as exc:
        raise ValueError(f"supervisor.metrics_port = {cfg.supervisor.metrics_port} on "
                         f"{cfg.supervisor.metrics_host}: {exc.strerror or exc}") from None
    log.info("metrics at http://%s:%d/metrics", cfg.supervisor.metrics_host, server.port)
    return server


def write_control_token(run_dir: Path) -> str:
    """A new control token in ``RUN_DIR/.control-token`` (mode 0600): whoever can read it may change the run."""
    from daq.control.client import TOKEN_FILE

    token = secrets.token_hex(16)
    path = run_dir / TOKEN_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def recover_crashed_runs(run_dir: Path) -> list[Path]:
    """Mark the run files a crashed DAQ left open (``exit_status`` names the crash); the run
    numbers continue after them. Run under the run directory's lock, so no live writer exists."""
    from daq.runfile.recovery import mark_unclosed, unclosed_run_files

    found = unclosed_run_files(run_dir)
    for path in found:
        status = (f"aborted: the DAQ stopped without closing this file (crash or kill of its supervisor); "
                  f"found by the next supervisor at {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        try:
            mark_unclosed(path, status)
            log.warning("%s: left open by a crashed DAQ; marked %r", path, status)
        except Exception as exc:  # a file we cannot mark must not stop the DAQ; say so
            log.error("%s: left open by a crashed DAQ and could not be marked: %s", path, exc)
    return found



# a process's counters over its life, shown from the run's start (losses are per run already)
RUN_COUNTERS = ("msgs_in", "msgs_out", "triggers_in", "triggers_out", "malformed", "errors", "blocked_s",
                "monitor_dropped", "gaps")


@dataclass
class ProcessInfo:
    name: str
    popen: subprocess.Popen | None = None
    last_seen: float = 0.0
    heartbeat: dict[str, Any] = field(default_factory=dict)
    remote: bool = False  # started elsewhere; known only by its heartbeats
    timeout_s: float = 2.0
    restarted_at: float = 0.0  # monotonic time of the last restart (0: never)
    launch_token: str = ""  # handed to the process at launch; its heartbeats must carry it
    foreign: int = 0  # status messages under this name that were not from this launch
    restarts_in_run: int = 0  # restarts of this process in the current run
    run_base: dict[str, Any] = field(default_factory=dict)  # its counters when the run started (see status)

    def owns(self, msg: Message) -> bool:
        """A status message counts only from the process this supervisor launched under the name
        (its pid and launch token; with CURVE also the DAQ key), or from a configured remote one."""
        if security.active() is not None and not security.is_daq_process(msg.user_id):
            return False
        if self.remote:
            return True
        token, pid = msg.meta.get("launch"), msg.meta.get("pid")
        return (bool(self.launch_token) and isinstance(token, str) and secrets.compare_digest(token, self.launch_token)
                and self.popen is not None and pid == self.popen.pid)

    def alive(self) -> bool:
        if self.remote:
            return bool(self.last_seen) and time.monotonic() - self.last_seen <= self.timeout_s
        return self.popen is not None and self.popen.poll() is None

    def status(self) -> dict[str, Any]:
        """Its state; the counters count from the start of the current run (a process restarted in the
        run counts from its restart), ``restarts`` are this run's."""
        hb = dict(self.heartbeat)
        for k in RUN_COUNTERS:
            base, now = self.run_base.get(k), hb.get(k)
            if isinstance(base, int | float) and isinstance(now, int | float) and now >= base:
                hb[k] = now - base
        return {
            "name": self.name,
            "pid": self.popen.pid if self.popen else hb.get("pid"),
            "host": hb.get("host"),
            "remote": self.remote,
            "alive": self.alive(),
            "state": hb.get("state", "unknown"),
            "heartbeat_age_s": round(time.monotonic() - self.last_seen, 3) if self.last_seen else None,
            "msgs_in": hb.get("msgs_in", 0),
            "msgs_out": hb.get("msgs_out", 0),
            "triggers_in": hb.get("triggers_in", 0),
            "triggers_out": hb.get("triggers_out", 0),
            "queue_depth": hb.get("queue_depth", 0),
            "losses": hb.get("losses", 0),
            "malformed": hb.get("malformed", 0),
            "errors": hb.get("errors", 0),
            "blocked_s": round(hb.get("blocked_s", 0.0), 3),
            "monitor_dropped": hb.get("monitor_dropped"),
            "gaps": hb.get("gaps", 0),
            "restarts": self.restarts_in_run,
            "exit_code": self.popen.returncode if self.popen and self.popen.poll() is not None else None,
        }


def not_ready(infos: Iterable[ProcessInfo]) -> tuple[list[str], list[str]]:
    """The processes not heard from yet, and those still compiling their kernels (``warming``)."""
    infos = list(infos)
    return ([p.name for p in infos if not p.last_seen],
            [p.name for p in infos if p.last_seen and p.heartbeat.get("state") == "warming"])


def silence_allowed(sup: SupervisorConfig, state: str | None) -> float:
    """How long a process in this state may be silent before it counts as hung: a warming process
    compiles (``warmup_timeout_s``), a starting one configures a device (``startup_timeout_s``)."""
    if state == "warming":
        return max(sup.warmup_timeout_s, sup.heartbeat_timeout_s)
    if state == "starting":
        return max(sup.startup_timeout_s, sup.heartbeat_timeout_s)
    return sup.heartbeat_timeout_s


def wait_for_exit(procs: Iterable[ProcessInfo], timeout_s: float) -> None:
    """Wait for the launched processes to exit (they were asked to); terminate, then kill, the rest.
    Remote processes keep running for the next supervisor."""
    deadline = time.monotonic() + timeout_s
    for info in procs:
        if info.popen is None:
            continue
        try:
            info.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not exit; terminating", info.name)
            info.popen.terminate()
            try:
                info.popen.wait(2.0)
            except subprocess.TimeoutExpired:
                info.popen.kill()
