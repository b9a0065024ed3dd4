"""A command that arrives while a process waits on a full lossless link acts after the send.

A stop handled inside the blocked send made the beam receiver send its last pulses before the
message still waiting: the builder saw a gap, matched records with pulses missing (beam off) and
the run file got those pulses at its end. Seen in a replay of a run that had lost triggers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import zmq

from daq.config import Config
from daq.hardware.protocols import RunParameters
from daq.processes.node import Node
from daq.wire import envelope, transport
from daq.wire.envelope import Message


class Source(Node):
    """On stop, sends its last message on the link its first one is waiting on."""

    name = "probe"

    def __init__(self, cfg: Config, out: zmq.Socket) -> None:
        super().__init__(cfg)
        self.out = out
        self.first_sent = False
        self.aborts: list[str] = []
        self.stops: list[bool] = []  # for each on_stop: had the first message gone?

    def on_stop(self, meta: dict[str, Any]) -> None:
        self.stops.append(self.first_sent)
        self.send_lossless(self.out, self.message("probe", arrays={"n": np.array([2])}))

    def on_abort(self, reason: str) -> None:
        self.aborts.append(reason)


def test_a_stop_during_a_blocked_send_acts_after_it_and_keeps_the_stream_in_order(daq_config: Config,
                                                                                   tmp_path) -> None:  # noqa: ANN001
    ctx = zmq.Context.instance()
    link = f"ipc://{tmp_path}/link"
    out = ctx.socket(zmq.PUSH)
    out.setsockopt(zmq.LINGER, 0)
    out.bind(link)  # no reader yet: a send waits
    supervisor = transport.publisher(ctx, daq_config.endpoints.command, 10, "commands")
    node = Source(daq_config, out)
    node.params = RunParameters(run_number=7, seed=0, rate_boost=1.0, speed=1.0, start_time_ns=0)
    node.state = "running"
    received: list[int] = []

    def supervise_then_read() -> None:
        stop = Message(stream="command", kind="command", source="supervisor", run=7, meta={"cmd": "stop", "run": 7})
        deadline = time.monotonic() + 5.0
        while not getattr(node, "_deferred", ()) and not node.stops and time.monotonic() < deadline:
            transport.send(supervisor, stop)  # repeated: a subscriber joins late
            time.sleep(0.05)
        reader = ctx.socket(zmq.PULL)
        reader.setsockopt(zmq.LINGER, 0)
        reader.connect(link)
        while len(received) < 2 and reader.poll(5000):
            received.append(int(envelope.unpack(reader.recv_multipart()).arrays["n"][0]))
        reader.close()

    thread = threading.Thread(target=supervise_then_read)
    thread.start()
    try:
        node.send_lossless(out, node.message("probe", arrays={"n": np.array([1])}))
        node.first_sent = True
        assert node.stops == [], "the stop acted inside the blocked send"
        node._drain_commands()  # the main loop's next turn
        thread.join(10)
        assert node.stops == [True]  # once, after the first message had gone
        assert received == [1, 2]
    finally:
        thread.join(10)
        supervisor.close()
        out.close()


def test_an_abort_during_a_blocked_send_gives_the_message_up_and_then_aborts(daq_config: Config, tmp_path) -> None:  # noqa: ANN001
    """A receiver that died for good (the run is aborted) must not hold the sender for ever."""
    ctx = zmq.Context.instance()
    out = ctx.socket(zmq.PUSH)
    out.setsockopt(zmq.LINGER, 0)
    out.bind(f"ipc://{tmp_path}/link")  # nobody will ever read it
    supervisor = transport.publisher(ctx, daq_config.endpoints.command, 10, "commands")
    node = Source(daq_config, out)
    node.params = RunParameters(run_number=7, seed=0, rate_boost=1.0, speed=1.0, start_time_ns=0)
    node.state = "running"
    abort = Message(stream="command", kind="command", source="supervisor", run=7,
                    meta={"cmd": "abort", "reason": "recorder died"})
    done = threading.Event()

    def supervise() -> None:
        while not done.wait(0.05):
            transport.send(supervisor, abort)

    thread = threading.Thread(target=supervise)
    thread.start()
    try:
        node.send_lossless(out, node.message("probe", arrays={"n": np.array([1])}), triggers=64)
        assert node.aborts == [] and node.counters["losses"] == 64 and node.counters["msgs_out"] == 0
        node._drain_commands()
        assert node.aborts == ["recorder died"] and node.state == "idle"
    finally:
        done.set()
        thread.join(10)
        supervisor.close()
        out.close()
