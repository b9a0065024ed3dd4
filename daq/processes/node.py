"""The common life of every DAQ process: commands in, heartbeats out, one poll loop.

A :class:`Node` subclass names its input sockets and reacts to messages, run starts and
run stops; this module does the rest: it subscribes to the supervisor's commands,
sends a heartbeat with its counters every ``supervisor.heartbeat_interval_s`` (also
while it waits on backpressure), decodes input messages (a malformed one is counted
and dropped, never fatal) and counts gaps in every input stream.

Commands (``kind="command"``, ``meta["cmd"]``): ``start`` (``meta["params"]``: the run
parameters), ``stop`` (sources end the run and send an end-of-run downstream), ``exit``, and
``tick`` (the supervisor's own heartbeat). A process blocked sending on a lossless link acts on
``ping``, ``exit`` and ``tick`` at once and on the others once the send is through, so that a command's
own messages (a source's last data and its end of run) never overtake the one still waiting.

A process never outlives its supervisor. One that a supervisor launched carries its launch token
in every status message (the supervisor ignores status under its name without it), asks the
kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and exits when the supervisor
has been silent for ``supervisor_timeout_s``; a remote one (started by systemd) ends the run it
is in and waits for the next supervisor. Either way an open run is aborted with a reason that
says the supervisor was lost, so the run file says what happened.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import time
from collections import deque
from dataclasses import asdict
from typing import Any

import zmq

from daq.config import Config
from daq.hardware.protocols import RunParameters
from daq.wire import envelope, ownership, streams, transport
from daq.wire.envelope import Message

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
IMMEDIATE_COMMANDS = ("ping", "exit", "tick")  # acted on even inside a blocked send (they send nothing on a data link)
SIGTERM_PARENT_WAIT_S = 0.5  # a run open at a SIGTERM: how long to wait to tell a dead supervisor


def supervisor_timeout_s(cfg: Config) -> float:
    """How long a process waits for a word (any command, a tick) from its supervisor."""
    return max(2.0 * cfg.supervisor.heartbeat_timeout_s, 3.0)


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies; exit now if it is gone already."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's silence still ends us
        pass
    if os.getppid() != parent_pid:
        raise SystemExit(f"supervisor (pid {parent_pid}) exited before this process started")


class Node:
    """Base class of the DAQ processes."""

    name = "node"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.launch_token = os.environ.get(ownership.LAUNCH_TOKEN_ENV, "")
        parent = os.environ.get(ownership.SUPERVISOR_PID_ENV, "")
        self.supervisor_pid = int(parent) if parent.isdigit() else None
        if self.supervisor_pid is not None:
            die_with_parent(self.supervisor_pid)
        # one process of each name per endpoint set (a second `sevens process NAME` is refused)
        try:
            ownership.claim_endpoint(cfg.endpoints.status, "status", role=self.name)
        except ownership.OwnedElsewhere as exc:
            raise transport.EndpointError(str(exc)) from None
        self.ctx = zmq.Context.instance()
        self.commands = transport.subscriber(self.ctx, cfg.endpoints.command,
                                             max_bytes=cfg.endpoints.max_control_bytes)
        self.status = self.ctx.socket(zmq.PUSH)
        self.status.setsockopt(zmq.SNDHWM, 20)
        self.status.setsockopt(zmq.LINGER, 500)
        transport.connect(self.status, cfg.endpoints.status)
        self.state = "idle"
        self.params: RunParameters | None = None
        self.extra: dict[str, Any] = {}
        self.counters = {
            "msgs_in": 0,
            "msgs_out": 0,
            "triggers_in": 0,
            "triggers_out": 0,
            "queue_depth": 0,
            "losses": 0,
            "malformed": 0,
            "errors": 0,
            "gaps": 0,
            "blocked_s": 0.0,
        }
        self.gaps = envelope.GapDetector()
        self._seq: dict[str, envelope.SequenceCounter] = {}
        self._next_heartbeat = 0.0
        self._exit = False
        self._sigterm = False  # a SIGTERM (the supervisor's death, or its terminate) ended the loop
        self.poll_timeout_ms = 20
        self.last_supervisor = time.monotonic()  # last word from the supervisor
        self.input_run = 0  # the run of the last data message received
        self.supervisor_lost: str | None = None
        self._sending = False  # inside send_lossless: commands wait (see _drain_commands)
        self._deferred: deque[Message] = deque()

    # -- for subclasses ------------------------------------------------------------------
    def inputs(self) -> list[zmq.Socket]:
        """Sockets whose messages go to :meth:`on_message`."""
        return []

    def input_stream(self, sock: zmq.Socket) -> str | None:
        """The data stream expected on ``sock`` (checked by daq.wire.streams), None for no check."""
        return None

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        """One decoded input message."""

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        """A run starts."""

    def on_stop(self, meta: dict[str, Any]) -> None:
        """The supervisor asks the run to end (sources act on it); ``meta`` is the command's."""

    def on_note(self, meta: dict[str, Any]) -> None:
        """Information from the supervisor (e.g. the run's process restarts so far)."""

    def on_abort(self, reason: str) -> None:
        """The run ends without a complete end-of-run (a process died); close what is open."""

    def on_finish(self, meta: dict[str, Any]) -> None:
        """The end of run will not arrive on the data stream (a process restarted while the run was
        stopping): end the run from ``meta``, the reader's end of run that the supervisor kept."""

    def on_tick(self) -> bool | None:
        """Called every loop turn (sources read their device here). Return True when more work
        is waiting (a full batch was read): the next turn then does not wait on the poller."""

    def warm_up(self) -> None:
        """Compile (or load from the numba cache) the kernels before the first data.

        Called by :meth:`run_forever` after a heartbeat in state ``warming``: a cold cache
        (the first start after an install, several processes compiling at once on a loaded
        host) may take minutes, which the supervisor allows (``supervisor.warmup_timeout_s``)
        for a process that has said it is warming; a JIT pause inside a run would instead
        outlast the heartbeat timeout."""
        self.warm_kernels(self.cfg)

    @staticmethod
    def warm_kernels(cfg: Config) -> None:
        """The kernels this process calls with ``cfg``, compiled or loaded, with no socket or file:
        what :meth:`warm_up` does, and what ``sevens warm`` does at install time for every process."""

    def on_exit(self) -> None:
        """The process is about to exit."""

    # -- helpers -------------------------------------------------------------------------
    def message(self, stream: str, kind: str = "data", **fields: Any) -> Message:
        """A message of this process's run; before it has taken a start (a process restarted
        mid-run), of the run its input data belongs to, so a run's data never changes its run."""
        seq = self._seq.setdefault(stream, envelope.SequenceCounter())()
        run = self.params.run_number if self.params else self.input_run
        return Message(stream=stream, kind=kind, source=self.name, run=run, seq=seq, **fields)

    def send_lossless(self, sock: zmq.Socket, msg: Message, triggers: int = 0) -> None:
        """Send on a lossless link; waits (heartbeating) as long as the receiver is behind.

        Only an abort of the run ends the wait unsent: the run is over and its file says so, and a
        receiver that never comes back would otherwise hold this process (and its next run) for ever."""
        frames = envelope.pack(msg)
        t0 = time.monotonic()
        outer, self._sending = self._sending, True
        try:
            while True:
                try:
                    sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                    break
                except zmq.Again:
                    if any(m.meta.get("cmd") == "abort" for m in self._deferred):
                        log.error("%s: run aborted while a %s %s message (%d triggers) waited for its receiver; "
                                  "not sent", self.name, msg.stream, msg.kind, triggers)
                        self.counters["losses"] += triggers
                        return
                    sock.poll(int(self.cfg.supervisor.heartbeat_interval_s * 500), zmq.POLLOUT)
                    self.heartbeat()
                    self._drain_commands()
                    self._check_supervisor()
                    if self._exit:
                        raise SystemExit(0) from None
        finally:
            self._sending = outer
        self.counters["blocked_s"] += time.monotonic() - t0
        self.counters["msgs_out"] += 1
        self.counters["triggers_out"] += triggers

    def heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.cfg.supervisor.heartbeat_interval_s
        meta = {
            "name": self.name,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "state": self.state,
            "run": self.params.run_number if self.params else None,
            "time_ns": time.time_ns(),
            "launch": self.launch_token,
            **self.counters,
            **self.extra,
        }
        msg = Message(stream="status", kind="heartbeat", source=self.name, meta=meta)
        transport.try_send(self.status, msg)

    def report(self, event: str, **meta: Any) -> None:
        """Tell the supervisor something now (run done, error), outside the heartbeat rhythm."""
        msg = Message(stream="status", kind="status", source=self.name,
                      meta={"event": event, **meta, "pid": os.getpid(), "launch": self.launch_token})
        transport.try_send(self.status, msg)

    def receive(self, sock: zmq.Socket) -> Message | None:
        """Decode one message from ``sock``; count and drop a malformed one."""
        try:
            msg = transport.recv(sock, zmq.NOBLOCK)
        except zmq.Again:
            return None
        except envelope.EnvelopeError as exc:
            self.counters["malformed"] += 1
            log.warning("%s: malformed message dropped: %s", self.name, exc)
            return None
        stream = None if sock is self.commands else self.input_stream(sock)
        if stream is not None:
            try:
                streams.validate(msg, stream, self.cfg.digitizer.n_samples)
            except envelope.EnvelopeError as exc:
                self.counters["malformed"] += 1
                log.warning("%s: malformed %s message dropped: %s", self.name, stream, exc)
                return None
        self.counters["msgs_in"] += 1
        if stream is not None:
            self.input_run = msg.run
        missed = self.gaps(msg)
        if missed:
            self.counters["gaps"] += missed
            log.warning("%s: %d messages missing before seq %d of %s", self.name, missed, msg.seq, msg.stream)
        return msg

    # -- the loop ------------------------------------------------------------------------
    def _command(self, msg: Message) -> None:
        self.last_supervisor = time.monotonic()
        cmd = msg.meta.get("cmd")
        target = msg.meta.get("target")
        if target not in (None, self.name):
            return
        if cmd == "start":
            params = RunParameters(**msg.meta["params"])
            if self.state == "running" and self.params and self.params.run_number == params.run_number:
                return  # repeated start (the supervisor repeats until all acknowledge)
            self.params = params
            self.gaps = envelope.GapDetector()
            self.state = "starting"  # on_start may take seconds (a device to configure): say so first
            self.heartbeat(force=True)
            log.info("%s: run %d starts", self.name, params.run_number)
            self.on_start(params, msg.meta)
            if self.state == "starting":  # on_start may have failed and gone idle
                self.state = "running"
            self.heartbeat(force=True)
        elif cmd == "stop":
            if self.state == "running" and msg.meta.get("run") == (self.params and self.params.run_number):
                self.state = "stopping"
                self.on_stop(msg.meta)
                self.heartbeat(force=True)
        elif cmd == "abort":
            if self.state != "idle":
                self.on_abort(str(msg.meta.get("reason", "aborted")))
                self.state = "idle"
                self.heartbeat(force=True)
        elif cmd == "note":
            self.on_note(msg.meta)
        elif cmd == "finish":
            if self.state != "idle":
                self.on_finish(msg.meta)
        elif cmd == "exit":
            self._exit = True
        elif cmd == "ping":
            self.heartbeat(force=True)

    def _drain_commands(self) -> None:
        """Take the waiting commands. Inside a blocked :meth:`send_lossless` only IMMEDIATE_COMMANDS
        act at once; the rest wait until the send is done, in order: a stop handled
        inside the send would send the source's last messages before the one still waiting,
        and the stream would arrive out of order (seen: a replay's beam pulses written late)."""
        while self._deferred and not self._sending:
            self._command(self._deferred.popleft())
        while True:
            msg = self.receive(self.commands)
            if msg is None:
                return
            self.counters["msgs_in"] -= 1  # commands are not data
            if msg.kind != "command":
                continue
            if self._sending and msg.meta.get("cmd") not in IMMEDIATE_COMMANDS:
                self.last_supervisor = time.monotonic()  # it has spoken, though we act later
                self._deferred.append(msg)
            else:
                self._command(msg)

    def _handle(self, sock: zmq.Socket, msg: Message) -> None:
        """on_message, with a bug in it reported (and the run stopped) rather than killing the process."""
        try:
            self.on_message(sock, msg)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            self.counters["errors"] += 1
            log.exception("%s: error handling %s/%s message seq %d", self.name, msg.stream, msg.kind, msg.seq)
            self.report("error", reason=f"{type(exc).__name__} handling {msg.stream} {msg.kind}: {exc}")

    def _on_sigterm(self, *_: object) -> None:
        self._sigterm = True
        self._exit = True

    def _supervisor_died(self, wait_s: float) -> bool:
        """True if the supervisor that launched us is gone, waiting up to ``wait_s`` for it to be: the
        kernel sends PR_SET_PDEATHSIG when the *thread* that started us ends, and while the supervisor's
        other threads are still being killed we are its child still (seen under load: a run said
        'recorder exited' instead of 'supervisor lost')."""
        deadline = time.monotonic() + wait_s
        while os.getppid() == self.supervisor_pid:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _check_supervisor(self) -> None:
        """End the run (and, if a supervisor launched us, the process) when the supervisor is silent."""
        silent = time.monotonic() - self.last_supervisor
        if silent <= supervisor_timeout_s(self.cfg):
            return
        reason = f"supervisor lost: no word from it for {silent:.1f} s"
        if self.state not in ("idle", "exited"):
            log.error("%s: %s; ending the run", self.name, reason)
            self.on_abort(reason)
            self.state = "idle"
            self.heartbeat(force=True)
        if self.supervisor_pid is not None:
            log.error("%s: %s; exiting", self.name, reason)
            self._exit = True
        self.last_supervisor = time.monotonic()  # a remote process says it once per silence

    def run_forever(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; Ctrl-C goes to it
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal is the supervisor's to handle
        poller = zmq.Poller()
        poller.register(self.commands, zmq.POLLIN)
        inputs = self.inputs()
        for sock in inputs:
            poller.register(sock, zmq.POLLIN)
        self.state = "warming"
        self.heartbeat(force=True)
        self.warm_up()
        self.state = "idle"
        self.last_supervisor = time.monotonic()  # its ticks of the warm-up wait in the socket
        self.heartbeat(force=True)
        busy = False
        try:
            while not self._exit:
                events = dict(poller.poll(0 if busy or self._deferred else self.poll_timeout_ms))
                if self.commands in events or self._deferred:
                    self._drain_commands()
                for sock in inputs:
                    if sock in events:
                        for _ in range(64):  # bounded, so commands and heartbeats keep flowing
                            msg = self.receive(sock)
                            if msg is None:
                                break
                            self._handle(sock, msg)
                            self.heartbeat()
                busy = bool(self.on_tick())
                self.heartbeat()
                self._check_supervisor()
        finally:
            if (self._sigterm and self.supervisor_pid is not None and not self.supervisor_lost
                    and self.state not in ("idle", "exited") and self._supervisor_died(SIGTERM_PARENT_WAIT_S)):
                self.supervisor_lost = f"supervisor lost: pid {self.supervisor_pid} died"
            if self.supervisor_lost and self.state not in ("idle", "exited"):
                log.error("%s: %s; ending the run", self.name, self.supervisor_lost)
                self.on_abort(self.supervisor_lost)
                self.state = "idle"
            self.on_exit()
            self.state = "exited"
            self.heartbeat(force=True)
            self.ctx.destroy(linger=500)
        return 0


def params_dict(params: RunParameters) -> dict[str, Any]:
    return asdict(params)
