"""Run control: launches the DAQ processes, watches their heartbeats, starts and stops runs.

The supervisor owns the :class:`~daq.control.run_state.RunStateMachine`. It answers run-control
requests (``status``, ``start``, ``stop``, ``shutdown``, ``reset``) on ``endpoints.control``
whether it runs inside ``sevens daq`` or ``sevens daemon``.

A run starts downstream first (recorder ... builder), then the sources (beam, reader), so
no stage sees data before its start. A run stops from the source: the reader ends and
reports its last trigger time, the beam receiver then delivers pulses past it, and the
end-of-run travels down the pipeline to the recorder, whose ``run_done`` closes the run.
Requests that change the run (start, stop, reset, shutdown) must carry the control token,
a random secret written to ``RUN_DIR/.control-token`` (mode 0600) at start-up: the shift
crew's control role reads it, a viewer does not have it and can only ask for ``status``.
A process that dies or stops heartbeating is reported, the run is aborted with the file
closed and an ``exit_status`` naming the process, and the state becomes ERROR.

One supervisor owns a run directory and a set of endpoints for its whole life (a ``flock``,
:mod:`daq.wire.ownership`); a second one is refused naming the first. Its processes read the
config it froze at start-up, carry the launch token it gave them in every status message, and
die with it (see :mod:`daq.processes.node`). At start-up it marks the run files a crash left open.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import zmq

from daq.catalogue.writer import for_supervisor as catalogue_writer
from daq.config import PROCESS_NAMES as PROCESSES
from daq.config import SOURCES, Config
from daq.control import processes as procs
from daq.control import requests, run_numbers
from daq.control.alarm_log import AlarmLog, AlarmPublisher
from daq.control.client import TOKEN_FILE
from daq.control.processes import ProcessInfo, SupervisorError, check_run_params, freeze, wait_for_exit
from daq.control.run_state import RunState, RunStateMachine
from daq.hardware.protocols import RunParameters
from daq.runfile import RUN_DIR_LOCK, RunFileError, check_free_space
from daq.wire import ownership, transport
from daq.wire.envelope import EnvelopeError, Message

log = logging.getLogger(__name__)

LOCK_FILE = RUN_DIR_LOCK  # held by the one supervisor of a run directory
LAUNCH_TOKEN_ENV = ownership.LAUNCH_TOKEN_ENV
SUPERVISOR_PID_ENV = ownership.SUPERVISOR_PID_ENV
TICK_S = 0.5  # the supervisor's own heartbeat to its processes (a "tick" command)


class Supervisor:
    def __init__(self, cfg: Config, run_dir: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir or cfg.run.directory).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # one supervisor per run directory and per endpoint set, for its whole life
        try:
            self.claim = ownership.claim(self.run_dir / LOCK_FILE, f"run directory {self.run_dir}")
        except ownership.OwnedElsewhere as exc:
            raise SupervisorError(str(exc)) from None
        self.log_dir = self.run_dir / "logs"
        self.log_dir.mkdir(exist_ok=True)
        self.cfg = freeze(cfg, self.run_dir)
        self.fsm = RunStateMachine()
        self.ctx = zmq.Context.instance()
        self.status_in = None
        self.commands = None
        self.control = None
        self.alarm_pub: AlarmPublisher | None = None
        self.alarms = AlarmLog()  # the run's faults, shared by every GUI (see daq.control.alarm_log)
        try:
            self.status_in = transport.pull(self.ctx, cfg.endpoints.status, 1000, "status",
                                            cfg.endpoints.max_control_bytes)
            self.commands = transport.publisher(self.ctx, cfg.endpoints.command, 1000, "command")
            self.control = self.ctx.socket(zmq.REP)
            self.control.setsockopt(zmq.LINGER, 0)
            transport.limit_size(self.control, cfg.endpoints.max_control_bytes)
            transport.bind(self.control, cfg.endpoints.control, "control")
            self.alarm_pub = AlarmPublisher(self.ctx, cfg.endpoints.alarms)
        except transport.EndpointError as exc:
            self.close()
            raise SupervisorError(str(exc)) from None
        self.catalogue = catalogue_writer(self.cfg, self.run_dir)  # never waits on the database
        self.catalogue.recovered(procs.recover_crashed_runs(self.run_dir))
        self.procs = {name: ProcessInfo(name, remote=name in cfg.supervisor.remote,
                                        timeout_s=cfg.supervisor.heartbeat_timeout_s) for name in PROCESSES}
        # the control role: whoever can read this file (mode 0600) may change the run
        self.token = procs.write_control_token(self.run_dir)
        self.seq = 0
        self.run: RunParameters | None = None
        self.run_started = 0.0
        self.run_file: str | None = None
        self.last_run: dict[str, Any] | None = None
        self.error: str | None = None
        self._stop_deadline = 0.0
        self._start_pending: set[str] = set()
        self._start_meta: dict[str, Any] = {}
        self._start_extra: dict[str, dict[str, Any]] = {}  # per-process additions (a restarted recorder's sub-run)
        self.restarts: list[dict[str, Any]] = []
        self.malformed = {"control": 0, "status": 0}  # requests and heartbeats refused as malformed
        self._last_start_sent = 0.0
        self.metrics = None
        self._next_snapshot = 0.0
        self._next_tick = 0.0
        self._stop_requested = False
        self._finish_pending = False  # a process restarted while stopping: the recorder must finish
        self._reader_eor: dict[str, Any] | None = None  # the reader's end of run (generated...)
        self.refused: str | None = None  # the last start refused (disk full, unwritable counter)
        try:
            self.metrics = procs.metrics_server(cfg)
        except ValueError as exc:
            self.close()
            raise SupervisorError(str(exc)) from None

    # -- processes -----------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return self.fsm.state

    def launch(self) -> None:
        self.fsm.fire("launch")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for info in self.procs.values():
            info.last_seen = 0.0
            if not info.remote:
                self._spawn(info, env)
        log.info("launched %s; remote: %s", ", ".join(f"{n}[{p.popen.pid}]" for n, p in self.procs.items()
                                                      if p.popen), ", ".join(self.cfg.supervisor.remote) or "none")

    def _spawn(self, info: ProcessInfo, env: dict[str, str] | None = None) -> None:
        """Start one process on the frozen config, with a fresh launch token. It runs in its own
        session (a closed terminal's SIGHUP is the supervisor's to handle) and dies with the
        supervisor (see :mod:`daq.processes.node`)."""
        # the process writes its own rotating log; NAME.stdout only catches what escapes logging
        out = open(self.log_dir / f"{info.name}.stdout", "ab")  # noqa: SIM115 - handed to the child
        cmd = [sys.executable, "-m", "daq.cli", "process", info.name, "--config", self.cfg.path,
               "--log-dir", str(self.log_dir)]
        info.launch_token = secrets.token_hex(8)
        child_env = dict(env or os.environ, PYTHONUNBUFFERED="1", **{
            LAUNCH_TOKEN_ENV: info.launch_token, SUPERVISOR_PID_ENV: str(os.getpid())})
        info.popen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()

    def _restart(self, info: ProcessInfo, reason: str) -> None:
        """Relaunch a dead process; during a run it rejoins the run (a recorder in a new sub-run file)."""
        name = info.name
        event = {"process": name, "reason": reason, "time_ns": time.time_ns(),
                 "run": self.run.run_number if self.run else None}
        log.error("supervisor: %s; restarting it", reason)
        resume = info.heartbeat.get("resume")  # the state its successor continues from (DQ running sums)
        info.last_seen, info.heartbeat, info.restarted_at = 0.0, {}, time.monotonic()
        info.run_base = {}
        self._spawn(info)
        if self.state in (RunState.RUNNING, RunState.STOPPING):
            self.restarts.append(event)
            info.restarts_in_run += 1
            self.alarms.raise_(f"process:{name}", "error", f"{reason}; restarted ({info.restarts_in_run} of at most "
                               f"{self.cfg.supervisor.max_restarts} in this run)", "restarted", event["run"])
            self._start_extra[name] = {"resume": resume} if resume else {}
            if self.state is RunState.STOPPING:  # the end of run may have died with it: the recorder
                self._finish_pending = True  # is told to finish once the restarted process has started
                self._stop_deadline = max(self._stop_deadline, time.monotonic() + self.cfg.supervisor.stop_timeout_s)
            if name == "recorder":
                self._start_extra["recorder"]["sub_run"] = info.restarts_in_run
            self._start_pending.add(name)
            self._last_start_sent = 0.0
            self._send("note", target="recorder", restarts=self.restarts)

    def _may_restart(self, name: str) -> bool:
        if self.state is RunState.READY:
            return True
        count = sum(1 for r in self.restarts if r["process"] == name)
        return (self.state in (RunState.RUNNING, RunState.STOPPING) and self.cfg.supervisor.restart_policy == "restart"
                and name not in SOURCES and count < self.cfg.supervisor.max_restarts)

    def wait_ready(self) -> None:
        """Wait until every process is ready: each must say it is alive within ``startup_timeout_s``
        and may then spend up to ``warmup_timeout_s`` compiling its kernels (state ``warming``)."""
        sup, started, warned = self.cfg.supervisor, time.monotonic(), False
        while self.state is RunState.LAUNCHING:
            self.poll(0.1)
            silent, warming = procs.not_ready(self.procs.values())
            waited = time.monotonic() - started
            if not silent and not warming:
                self.fsm.fire("ready")
            elif silent and waited > sup.startup_timeout_s:
                self._fail(f"processes did not report within {sup.startup_timeout_s} s: {silent}")
            elif warming and waited > sup.warmup_timeout_s:
                self._fail(f"processes still compiling their kernels after {sup.warmup_timeout_s} s "
                           f"(supervisor.warmup_timeout_s): {warming}")
            elif warming and not warned and waited > 10.0:
                warned = True
                log.warning("supervisor: %s compiling kernels (a cold numba cache); waiting up to %g s",
                            ", ".join(warming), sup.warmup_timeout_s)
        if self.state is RunState.ERROR:
            raise SupervisorError(self.error or "launch failed")

    def _send(self, cmd: str, target: str | None = None, **meta: Any) -> None:
        self.seq += 1
        msg = Message(stream="command", kind="command", source="supervisor", seq=self.seq,
                      run=self.run.run_number if self.run else 0, meta={"cmd": cmd, "target": target, **meta})
        transport.send(self.commands, msg)

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, seed: int | None = None, rate_boost: float | None = None, speed: float | None = None,
                  start_time_ns: int | None = None, lineage: dict[str, Any] | None = None) -> RunParameters:
        """Start a run; ``lineage`` (input files, their config hash...) goes into the run file.

        Refused (SupervisorError, the state unchanged, ``refused`` in the status) when the run
        directory is below the recorder's free-space reserve or its run-number counter cannot be
        written: a run that could not be recorded never starts."""
        sim = self.cfg.simulation
        if not self.fsm.allowed("start"):
            self.fsm.fire("start")  # raises TransitionError naming the state
        check_run_params(seed, rate_boost, speed)
        try:
            check_free_space(self.run_dir, int(self.cfg.recorder.min_free_mb * 1e6))
            number = run_numbers.next_run_number(self.run_dir)
        except (OSError, RunFileError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.refused = f"start refused: run directory {self.run_dir}: {why}"
            log.error("supervisor: %s", self.refused)
            raise SupervisorError(self.refused) from None
        self.refused = None
        self.fsm.fire("start")
        t0 = start_time_ns if start_time_ns is not None else (sim.start_time_ns or time.time_ns())
        self.run = RunParameters(run_number=number, seed=sim.seed if seed is None else seed,
                                 rate_boost=sim.rate_boost if rate_boost is None else rate_boost,
                                 speed=sim.speed if speed is None else speed, start_time_ns=int(t0))
        self.run_file = None
        self.last_run = None
        self._start_meta = {"params": asdict(self.run), "run_dir": str(self.run_dir), "lineage": lineage or {}}
        self._start_extra = {}
        self._finish_pending, self._reader_eor, self._stop_requested = False, None, False
        self.restarts = []
        for info in self.procs.values():  # the process table counts from this run's start
            info.restarts_in_run, info.run_base = 0, dict(info.heartbeat)
        self.alarms.clear_prefix("run:")
        self._start_pending = set(PROCESSES)
        self._last_start_sent = 0.0
        self.run_started = time.monotonic()
        self._push_start()
        self.catalogue.run_started(asdict(self.run), self.cfg, lineage)
        log.info("run %d starting: %s", number, self.run)
        return self.run

    def _push_start(self) -> None:
        """(Re)send start to processes not yet running; sources only after all the others."""
        if not self._start_pending or time.monotonic() - self._last_start_sent < 0.3:
            return
        downstream = [n for n in self._start_pending if n not in SOURCES]
        targets = downstream or list(self._start_pending)
        for name in targets:
            self._send("start", target=name, **self._start_meta, restarts=self.restarts,
                       alarms=self.alarms.snapshot(), **self._start_extra.get(name, {}))
        self._last_start_sent = time.monotonic()

    def stop_run(self) -> None:
        """Stop the run. A stop before every process has taken the start waits for it (a reader
        that has not started would ignore the stop), then goes out; the stop timeout runs from then."""
        if self.state is RunState.RUNNING and self._start_pending:
            self._stop_requested = True
            log.info("run %d: stop waits until every process has started", self.run.run_number if self.run else 0)
            return
        self.fsm.fire("stop")
        self._send_stop()

    def _send_stop(self) -> None:
        if self.state is RunState.RUNNING:
            self.fsm.fire("stop")
        self._stop_deadline = time.monotonic() + self.cfg.supervisor.stop_timeout_s
        assert self.run is not None
        self._send("stop", target="reader", run=self.run.run_number)
        log.info("run %d stopping", self.run.run_number)

    def _fail(self, reason: str) -> None:
        log.error("supervisor: %s", reason)
        self.error = reason
        running = self.state in (RunState.RUNNING, RunState.STOPPING)
        self.alarms.raise_("daq:error", "error", f"DAQ in ERROR: {reason}", "run aborted" if running else "error",
                           self.run.run_number if self.run else None)
        if running:  # the recorder writes the alarm log into the file it closes
            self._send("note", target="recorder", alarms=self.alarms.snapshot())
            self._send("abort", reason=reason)
        if self.fsm.allowed("fail"):
            self.fsm.fire("fail")

    # -- the loop ------------------------------------------------------------------------
    def poll(self, timeout_s: float = 0.1) -> None:
        poller = zmq.Poller()
        poller.register(self.status_in, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        events = dict(poller.poll(int(timeout_s * 1000)))
        if self.status_in in events:
            self._drain_status()
        if self.control in events:
            requests.serve(self)
        self._check_health()
        if time.monotonic() >= self._next_tick:  # the processes time out on a silent supervisor
            self._send("tick")
            self._next_tick = time.monotonic() + TICK_S
        if self._stop_requested and self.state is RunState.RUNNING:
            if not self._start_pending:
                self._stop_requested = False
                self._send_stop()
            elif time.monotonic() - self.run_started > self.cfg.supervisor.startup_timeout_s:
                self._stop_requested = False
                self._fail(f"processes never took the start of run {self.run.run_number if self.run else '?'}: "
                           f"{sorted(self._start_pending)}")
        self._publish_alarms()
        if self.metrics is not None and time.monotonic() >= self._next_snapshot:
            self.metrics.snapshot = self.status()
            self._next_snapshot = time.monotonic() + 1.0
        if self.state in (RunState.RUNNING, RunState.STOPPING):
            self._push_start()
        if (self.state is RunState.STOPPING and self._finish_pending and not self._start_pending
                and self._reader_eor is not None):
            self._finish_pending = False
            log.warning("run %s: a process restarted while stopping; the recorder finishes the run from the "
                        "reader's end of run", self.run.run_number if self.run else "?")
            self._send("finish", target="recorder", **self._reader_eor)
        if self.state is RunState.STOPPING and time.monotonic() > self._stop_deadline:
            self._fail(f"end of run did not reach the recorder within {self.cfg.supervisor.stop_timeout_s} s")

    def _drain_status(self) -> None:
        while True:
            try:
                msg = transport.recv(self.status_in, zmq.NOBLOCK)
            except zmq.Again:
                return
            except EnvelopeError as exc:
                self.malformed["status"] += 1
                log.warning("malformed status message: %s", exc)
                continue
            info = self.procs.get(msg.source)
            if info is None or not info.owns(msg):
                if info is not None:
                    info.foreign += 1
                self.malformed["status"] += 1
                log.warning("status message as %r not from a process this supervisor launched: ignored",
                            msg.source)
                continue
            if not info.last_seen and info.restarted_at:  # a restarted process is back
                self.alarms.clear(f"process:{msg.source}")
            info.last_seen = time.monotonic()
            if msg.kind == "heartbeat":
                info.heartbeat = msg.meta
                if self.run and msg.meta.get("run") == self.run.run_number:
                    self._start_pending.discard(msg.source)  # it has taken this run's start
            elif msg.kind == "status":
                self._on_event(msg.source, msg.meta)

    def _on_event(self, source: str, meta: dict[str, Any]) -> None:
        event = meta.get("event")
        if event == "exhausted" and self.state is RunState.RUNNING:
            log.info("%s: source exhausted; stopping the run", source)
            self.stop_run()
        elif event == "file_open":
            self.run_file = meta.get("file")
        elif event == "stopped" and source == "reader" and self.run is not None:
            self._reader_eor = {k: v for k, v in meta.items() if k not in ("event", "pid", "launch")}
            until = int(meta.get("last_trigger_time_ns", 0)) + self.cfg.beam.match_window_ns
            self._send("stop", target="beam", run=self.run.run_number, until_ns=until)
        elif event == "run_done":
            self.last_run = meta
            self.run_file = meta.get("file", self.run_file)
            self.catalogue.run_done(meta, self._start_meta.get("lineage"))
            if meta.get("exit_status", "ok") != "ok":
                self.alarms.raise_("run:exit_status", "warning", f"run {self.run.run_number if self.run else '?'} "
                                   f"ended: {meta.get('exit_status')}", "run status", meta.get("run"))
            if self.state is RunState.STOPPING:
                self.fsm.fire("stopped")
            elif self.state is RunState.RUNNING:
                self._fail(f"recorder ended the run early: {meta.get('exit_status')}")
        elif event == "error":
            self._fail(f"{source}: {meta.get('reason')}")

    def _publish_alarms(self) -> None:
        """The alarm log to the viewers (at a change, and once a second) and, changed, to the recorder."""
        run = self.run.run_number if self.run else None
        if self.alarm_pub is not None and self.alarm_pub.publish(self.alarms, run):
            if self.state in (RunState.RUNNING, RunState.STOPPING):
                self._send("note", target="recorder", alarms=self.alarms.snapshot())

    def _check_health(self) -> None:
        if self.state in (RunState.IDLE, RunState.ERROR):
            return
        now = time.monotonic()
        sup = self.cfg.supervisor
        for name, info in self.procs.items():
            if info.remote:
                if self.state is not RunState.LAUNCHING and not info.alive():
                    self._fail(f"remote process {name} stopped heartbeating "
                               f"({now - info.last_seen:.1f} s; last from {info.heartbeat.get('host')})")
                    return
                continue
            reason = None
            if not info.alive():
                code = info.popen.returncode if info.popen else None
                reason = f"process {name} died (exit code {code}); see {self.log_dir / (name + '.log')}"
            elif (self.state is not RunState.LAUNCHING and info.last_seen
                  and now - info.last_seen > procs.silence_allowed(sup, info.heartbeat.get("state"))):
                reason = f"process {name} stopped heartbeating ({now - info.last_seen:.1f} s): hung, killed"
                assert info.popen is not None
                info.popen.kill()
                info.popen.wait(5)
            elif info.restarted_at and not info.last_seen and now - info.restarted_at > sup.startup_timeout_s:
                info.restarted_at = 0.0
                self._fail(f"restarted process {name} did not report within {sup.startup_timeout_s} s")
                return
            if reason is None:
                continue
            if self._may_restart(name):
                self._restart(info, reason)
            else:
                if name in SOURCES and self.state is RunState.RUNNING:
                    reason += " (a source is not restarted within a run: its trigger ids would start again)"
                self.alarms.raise_(f"process:{name}", "error", f"{reason}; not restarted",
                                   "source lost" if name in SOURCES else "not restarted",
                                   self.run.run_number if self.run else None)
                self._fail(reason)
                return

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "run_number": self.run.run_number if self.run else None,
            "run_file": self.run_file,
            "elapsed_s": round(time.monotonic() - self.run_started, 3) if self.state is RunState.RUNNING else None,
            "error": self.error,
            "refused": self.refused,
            "restarts": self.restarts,
            "alarms": self.alarms.snapshot(),
            "malformed": dict(self.malformed),
            "last_run": self.last_run,
            "catalogue": self.catalogue.status() if hasattr(self, "catalogue") else None,
            "processes": [p.status() for p in self.procs.values()],
        }

    shutdown_requested = False

    def wait_stopped(self) -> None:
        while self.state is RunState.STOPPING or (self._stop_requested and self.state is RunState.RUNNING):
            self.poll(0.1)

    def shutdown(self) -> None:
        """Ask every process to exit; terminate any that do not."""
        self._stop_processes()
        if self.fsm.allowed("shutdown"):
            self.fsm.fire("shutdown")

    def _stop_processes(self) -> None:
        """Ask the processes this supervisor started to exit; terminate any that do not."""
        local = [name for name, info in self.procs.items() if not info.remote]
        for _ in range(3):  # remote processes stay up for the next supervisor (systemd owns them)
            for name in local:
                self._send("exit", target=name)
            time.sleep(0.05)
        wait_for_exit(self.procs.values(), 5.0)

    def close(self) -> None:
        for sock in (self.status_in, self.commands, self.control, self.alarm_pub and self.alarm_pub.sock):
            if sock is not None:
                sock.close(0)
        endpoints = self.cfg.endpoints if hasattr(self, "cfg") else None
        if endpoints is not None:
            for endpoint in (endpoints.status, endpoints.command, endpoints.control, endpoints.alarms):
                ownership.release_endpoint(endpoint)
        if getattr(self, "token", None) is not None:
            (self.run_dir / TOKEN_FILE).unlink(missing_ok=True)
        if getattr(self, "metrics", None) is not None:
            self.metrics.close()
        if getattr(self, "catalogue", None) is not None:
            self.catalogue.close()
        self.claim.release()

