"""The reader's end of run: disarm the digitizer, then read out its buffer, heartbeating throughout.

A digitizer that triggers faster than the reader reads (above about 1800 Hz with the simulator)
used to keep the end-of-run drain busy for ever, without a heartbeat, until the supervisor killed
the reader as hung.
"""

from __future__ import annotations

import numpy as np
import zmq

from daq import dtypes
from daq.config import Config
from daq.hardware.protocols import RecordBatch
from daq.processes.reader import DigitizerReader
from daq.wire import envelope

BUFFERED = 600


class EndlessDigitizer:
    """Always has a full batch while armed; holds BUFFERED records when disarmed."""

    def __init__(self, n_samples: int) -> None:
        self.n_samples = n_samples
        self.armed = True
        self.next_id = 0
        self.left_after_stop = BUFFERED
        self.fetches_after_stop = 0
        self.armed_fetches = 0

    def _batch(self, n: int) -> RecordBatch:
        trig = np.zeros(n, dtypes.TRIGGER)
        trig["trigger_id"] = np.arange(self.next_id, self.next_id + n)
        trig["time"] = trig["trigger_id"] * 16_666_667
        self.next_id += n
        wf = np.zeros((n, self.n_samples), np.int8)
        return RecordBatch(trig, {"csi": wf, "veto": wf.copy()})

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        if self.armed:
            self.armed_fetches += 1
            if self.armed_fetches > 50:  # the old end of run: it would have drained for ever
                raise AssertionError("the reader kept reading a digitizer it had not disarmed")
            return self._batch(max_records)
        self.fetches_after_stop += 1
        n = min(max_records, self.left_after_stop)
        self.left_after_stop -= n
        return self._batch(n)

    def stop(self) -> int:
        self.armed = False
        return self.next_id + BUFFERED

    def close(self) -> None:
        pass


def test_end_of_run_disarms_first_and_reads_out_the_buffer_with_heartbeats(daq_config: Config) -> None:
    reader = DigitizerReader(daq_config)
    sink = reader.ctx.socket(zmq.PULL)
    sink.bind(daq_config.endpoints.records)
    beats: list[str] = []
    reader.heartbeat = lambda force=False: beats.append(reader.state)  # type: ignore[method-assign]
    device = EndlessDigitizer(daq_config.digitizer.n_samples)
    reader.device = device  # type: ignore[assignment]
    reader.state = "stopping"
    try:
        reader.on_stop({})
        assert device.left_after_stop == 0 and device.fetches_after_stop >= BUFFERED // 64
        assert len(beats) >= device.fetches_after_stop - 1, "the read-out did not heartbeat"
        ids, eor = [], None
        while sink.poll(2000):
            msg = envelope.unpack(sink.recv_multipart())
            if msg.kind == "eor":
                eor = msg.meta
                break
            ids.append(msg.arrays["triggers"]["trigger_id"])
        assert eor is not None and eor["generated"] == BUFFERED and eor["read"] == BUFFERED
        np.testing.assert_array_equal(np.concatenate(ids), np.arange(BUFFERED))
    finally:
        sink.close(0)
        reader.ctx.destroy(0)
