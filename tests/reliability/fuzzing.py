"""Send hypothesis-generated bad messages to the sockets of a running DAQ and collect the outcome.

Who receives what (the bound data endpoints, see docs/architecture.md):

===========  =========================  ==========================================
endpoint     bound by                   socket used here
===========  =========================  ==========================================
records      builder                    PUSH
beam         builder                    PUSH
events       veto                       PUSH
vetoed       cuts                       PUSH
selected     recorder                   PUSH
status       supervisor                 PUSH
control      supervisor                 REQ (one reply per request)
===========  =========================  ==========================================
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from daq.config import Config
from daq.wire import envelope
from tests.reliability.daqrun import DaqRun, by_name, status, status_cli, wait_for

DATA_ENDPOINTS = {"records": "builder", "beam": "builder", "events": "veto", "vetoed": "cuts", "selected": "recorder"}
SEND_TIMEOUT_MS = 5000
EPILOGUE_WAIT_S = 4.0  # BEAM_WAIT_S (3 s) in the builder, plus a heartbeat
FUZZ_SEED = int(os.environ.get("SEVENS_FUZZ_SEED", random.randrange(2**32)))


@dataclass
class FuzzOutcome:
    """What was sent where, and what the DAQ looked like before, during and after."""

    seed: int
    before: dict[str, Any]
    after: dict[str, Any] | None = None  # status once the counters had caught up (or at the deadline)
    cli: dict[str, Any] | None = None  # `sevens status --json` at the same time
    final: dict[str, Any] | None = None  # status a few seconds after the epilogue (if any)
    returncode: int | None = None
    summary: dict[str, Any] | None = None
    stderr: str = ""
    sent: Counter = field(default_factory=Counter)  # endpoint -> messages sent
    what: dict[str, Counter] = field(default_factory=dict)  # endpoint -> description -> count
    replies: list[dict[str, Any] | None] = field(default_factory=list)  # control replies, in order
    send_failures: list[str] = field(default_factory=list)
    tracebacks: dict[str, str] = field(default_factory=dict)  # process -> traceback from its .stdout

    def expected_malformed(self) -> dict[str, int]:
        out: Counter = Counter()
        for endpoint, receiver in DATA_ENDPOINTS.items():
            out[receiver] += self.sent[endpoint]
        return dict(out)

    def context(self) -> str:
        """Text for assertion messages: the seed, what was sent, and any tracebacks."""
        lines = [f"SEVENS_FUZZ_SEED={self.seed}", f"sent: {dict(self.sent)}"]
        lines += [f"  {ep}: {dict(c)}" for ep, c in self.what.items()]
        lines += [f"send failures: {self.send_failures}"] if self.send_failures else []
        lines += [f"--- {name} traceback ---\n{tb}" for name, tb in self.tracebacks.items()]
        lines += [f"--- sevens daq stderr (end) ---\n{self.stderr[-2000:]}"] if self.stderr else []
        return "\n".join(lines)


def _push(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(endpoint)
    return sock


def _req(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
    sock.setsockopt(zmq.RCVTIMEO, SEND_TIMEOUT_MS)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def for_each_example(strategy: st.SearchStrategy, n: int, rng_seed: int, action: Callable[[Any], None]) -> None:
    """Call ``action`` on ``n`` examples of ``strategy`` (generation only: nothing to shrink here)."""

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(rng_seed)
    @given(strategy)
    def one(example: Any) -> None:
        action(example)

    one()


class Fuzzer:
    """Sends to the endpoints of ``cfg`` and records everything in a :class:`FuzzOutcome`."""

    def __init__(self, cfg: Config, outcome: FuzzOutcome, daq_ended: Callable[[], bool] = lambda: False) -> None:
        self.cfg = cfg
        self.out = outcome
        self.daq_ended = daq_ended  # once the DAQ is gone, sending more only waits for timeouts
        self.ctx = zmq.Context()
        self.socks = {ep: _push(self.ctx, getattr(cfg.endpoints, ep)) for ep in (*DATA_ENDPOINTS, "status")}
        self.control = _req(self.ctx, cfg.endpoints.control)

    def close(self) -> None:
        self.ctx.destroy(linger=2000)

    def push(self, endpoint: str, frames: list[bytes], what: str = "") -> None:
        if self.daq_ended():
            return
        try:
            self.socks[endpoint].send_multipart(frames)
        except zmq.Again:
            self.out.send_failures.append(f"{endpoint}: send timed out ({what})")
            return
        self.out.sent[endpoint] += 1
        if what:
            self.out.what.setdefault(endpoint, Counter())[what] += 1

    def request(self, frames: list[bytes]) -> None:
        """One malformed run-control request; its reply (None if none came) is kept."""
        try:
            self.control.send_multipart(frames)
            self.out.sent["control"] += 1
            reply = envelope.unpack(self.control.recv_multipart()).meta
        except (zmq.Again, envelope.EnvelopeError) as exc:
            self.out.send_failures.append(f"control: {type(exc).__name__}: {exc}")
            reply = None
            self.control.close(0)  # a REQ socket without its reply cannot send again
            self.control = _req(self.ctx, self.cfg.endpoints.control)
        self.out.replies.append(reply)

    def examples(self, endpoint: str, strategy: st.SearchStrategy, n: int, salt: int = 0) -> None:
        """``n`` examples of ``strategy`` to ``endpoint``; examples may be frames or (what, frames)."""

        def send(example: Any) -> None:
            if self.daq_ended():
                return
            what, frames = example if isinstance(example, tuple) else ("", example)
            if endpoint == "control":
                self.request(frames)
            else:
                self.push(endpoint, frames, what)

        for_each_example(strategy, n, (self.out.seed + salt) % 2**32, send)


def fuzz_live_run(cfg: Config, run_dir: Path, fuzz: Callable[[Fuzzer], None], expected_status: Callable[
        [FuzzOutcome], dict[str, int]], epilogue: Callable[[Fuzzer], None] | None = None, speed: float = 3.0,
        settle_s: float = 30.0) -> FuzzOutcome:
    """Run the DAQ, call ``fuzz`` while it runs, wait until every receiver has counted what it got
    (or ``settle_s`` passed), then call ``epilogue`` (if given) and look again after a few seconds;
    stop the run with Ctrl-C and return everything seen."""
    run = DaqRun(cfg, run_dir, 600.0, speed)
    try:
        outcome = FuzzOutcome(seed=FUZZ_SEED, before=run.wait_running())
        fuzzer = Fuzzer(cfg, outcome, lambda: run.proc.poll() is not None)
        try:
            _fuzz_and_watch(cfg, run, fuzzer, fuzz, expected_status, epilogue, settle_s)
        finally:
            fuzzer.close()
        outcome.returncode = run.stop()
    finally:
        if run.proc.poll() is None:
            run.kill()
            run.communicate(30)
    outcome.summary = run.summary()
    outcome.stderr = run.err
    for path in sorted((run_dir / "logs").glob("*.stdout")):
        text = path.read_text(errors="replace")
        if "Traceback" in text:
            outcome.tracebacks[path.stem] = text[text.index("Traceback"):][-2500:]
    return outcome


def _fuzz_and_watch(cfg: Config, run: DaqRun, fuzzer: Fuzzer, fuzz: Callable[[Fuzzer], None],
                    expected_status: Callable[[FuzzOutcome], dict[str, int]],
                    epilogue: Callable[[Fuzzer], None] | None, settle_s: float) -> None:
    outcome = fuzzer.out
    fuzz(fuzzer)
    want = expected_status(outcome)

    def caught_up() -> dict[str, Any] | None:
        st = status(cfg)
        if st is None or run.proc.poll() is not None:
            return None
        procs = by_name(st)
        done = all(procs[name]["malformed"] >= n for name, n in want.items() if name in procs)
        return st if done else None

    try:
        outcome.after = wait_for(caught_up, settle_s, "every malformed message to be counted")
    except AssertionError:
        outcome.after = status(cfg)
    outcome.cli = status_cli(cfg)
    if epilogue is not None:
        epilogue(fuzzer)
        time.sleep(EPILOGUE_WAIT_S)
        outcome.final = status(cfg)

