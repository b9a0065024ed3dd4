"""NI-SCOPE digitizer backend (NI PXIe-5153 and other NI-SCOPE devices) via the ``niscope`` Python API.

Written against the nimi-python ``niscope`` documentation (``niscope.Session`` methods
and properties, read-the-docs / nimi-python ``docs/niscope``); not yet run on hardware.
API names used, all from that documentation:

- ``niscope.Session(resource_name=...)``; ``session.channels["0,1"]`` (repeated capabilities);
- ``configure_vertical(range, coupling, ...)`` with ``niscope.VerticalCoupling.DC|AC``;
- ``allow_more_records_than_memory`` (property) and ``configure_horizontal_timing(min_sample_rate,
  min_num_pts, ref_position, num_records, enforce_realtime)``: one continuous multi-record
  acquisition of up to ``MAX_RECORDS`` records, fetched while it runs;
- ``configure_trigger_digital(trigger_source, slope=...)`` or ``configure_trigger_edge(trigger_source,
  level, trigger_coupling, slope=...)`` with ``niscope.TriggerSlope``/``niscope.TriggerCoupling``;
- ``horz_sample_rate``, ``horz_record_length`` (actual values, checked against the config);
- ``initiate()``, ``abort()``, ``records_done`` (records completely acquired, NISCOPE_ATTR_RECORDS_DONE);
- ``fetch_into(waveform, relative_to=niscope.FetchRelativeTo.PRETRIGGER, offset=0, record_number,
  num_records, timeout)`` into an int8 buffer (raw ADC codes, no scaling), which returns one
  ``WaveformInfo`` per (record, channel) with ``record``, ``channel``, ``relative_initial_x``
  (trigger to first sample [s]) and ``absolute_initial_x`` (first-sample timestamp [s]).

Records are fetched strictly in order by record number (= trigger id), so none is skipped
without being counted. The documented behaviour with ``allow_more_records_than_memory``
is that records not fetched in time are overwritten and fetching one raises an error; a
fetch that falls more than ``digitizer.buffer_records`` behind counts the oldest as lost
(reason ``digitizer records overwritten``) and moves on.

Trigger times: the device clock (``absolute_initial_x - relative_initial_x``) is anchored
so that record 0 is at ``RunParameters.start_time_ns``; sub-µs agreement with the beam
timestamps needs the digitizer clock disciplined to the accelerator timing (see
docs/interfaces.md).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from daq import dtypes
from daq.hardware.protocols import BackendUnavailable, LossRecord, RecordBatch, RunParameters

MAX_RECORDS = 2**31 - 1  # num_records is a ViInt32: ~414 days at 60 Hz in one acquisition
FETCH_CHUNK = 64  # most records per fetch_into call
POLL_S = 0.002
OVERWRITTEN = "digitizer records overwritten"
NOT_FETCHED = "records not fetchable after abort"
MISSING_DRIVER = ("digitizer.backend = 'niscope' needs the NI-SCOPE Python API (module 'niscope') and the NI-SCOPE "
                  "driver runtime from ni.com; the Python part: pip install 'sevens[niscope]'")


def import_driver() -> Any:
    """The ``niscope`` module, or BackendUnavailable naming what to install."""
    try:
        return importlib.import_module("niscope")
    except ImportError as exc:
        raise BackendUnavailable(f"{MISSING_DRIVER} ({exc})") from None


def decode_records(buffer: np.ndarray, infos: Sequence[Any], channel_names: dict[str, str], n_samples: int,
                   time_offset_ns: int) -> RecordBatch:
    """RecordBatch from a ``fetch_into`` int8 ``buffer`` and its WaveformInfo list (pure).

    Waveform ``i`` of the fetch occupies ``buffer[i * n_samples:(i + 1) * n_samples]``; each
    info says which record (-> trigger id) and device channel (-> ``channel_names``) it is,
    so the driver's ordering (record-major or channel-major) does not matter. Trigger time =
    ``time_offset_ns`` + (absolute_initial_x - relative_initial_x) in ns. Copies the samples
    (the buffer is reused).
    """
    if buffer.dtype != np.int8:
        raise ValueError(f"decode_records: expected an int8 buffer, got {buffer.dtype}")
    if len(buffer) < len(infos) * n_samples:
        raise ValueError(f"decode_records: buffer of {len(buffer)} samples for {len(infos)} waveforms of {n_samples}")
    records = sorted({int(info.record) for info in infos})
    if records and records != list(range(records[0], records[0] + len(records))):
        raise RuntimeError(f"NI-SCOPE: fetched records are not consecutive: {records}")
    row_of = {r: i for i, r in enumerate(records)}
    n = len(records)
    waveforms = {name: np.zeros((n, n_samples), np.int8) for name in channel_names.values()}
    filled = {name: np.zeros(n, bool) for name in channel_names.values()}
    triggers = np.zeros(n, dtypes.TRIGGER)
    triggers["trigger_id"] = records
    triggers["pulse_id"] = -1
    for i, info in enumerate(infos):
        name = channel_names.get(str(info.channel).strip())
        if name is None:
            raise RuntimeError(f"NI-SCOPE: waveform from unexpected channel {info.channel!r} "
                               f"(configured: {sorted(channel_names)})")
        samples = getattr(info, "samples", None)
        if samples is not None and len(samples) != n_samples:
            raise RuntimeError(f"NI-SCOPE: record {info.record} channel {info.channel} has {len(samples)} samples, "
                               f"expected {n_samples}")
        row = row_of[int(info.record)]
        waveforms[name][row] = buffer[i * n_samples:(i + 1) * n_samples]
        filled[name][row] = True
        trigger_s = float(info.absolute_initial_x) - float(info.relative_initial_x)
        triggers["time"][row] = time_offset_ns + round(trigger_s * 1e9)
    for name, ok in filled.items():
        if not ok.all():
            raise RuntimeError(f"NI-SCOPE: channel {name} missing in records {np.array(records)[~ok].tolist()}")
    return RecordBatch(triggers=triggers, waveforms=waveforms)


def ref_position_percent(cfg: Any) -> float:
    """Trigger position in the record [%]: the C ROI starts at the trigger (beam) time."""
    return 100.0 * cfg.windows.c_roi[0] / cfg.digitizer.record_length_ns


class NiscopeDigitizer:
    """DigitizerBackend over NI-SCOPE: one continuous multi-record acquisition per run."""

    exhausted = False

    def __init__(self, driver: Any = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._driver = driver  # a stand-in for the niscope module (tests); None = import it
        self._clock = clock
        self._sleep = sleep
        self.session: Any = None

    def configure(self, cfg: Any, params: RunParameters) -> None:
        """Open the session and configure vertical, horizontal and trigger settings."""
        niscope = self._driver if self._driver is not None else import_driver()
        d, n = cfg.digitizer, cfg.digitizer.niscope
        if d.bits > 8:
            raise BackendUnavailable(f"digitizer.bits = {d.bits}: the NI-SCOPE backend fetches int8 records (the "
                                     "feature kernels take int8); set digitizer.bits = 8")
        self._niscope = niscope
        self._n_samples = d.n_samples
        self._channel_list = ",".join(n.channels)
        self._channel_names = dict(zip(n.channels, d.channels, strict=True))
        self._capacity = d.buffer_records
        self._params = params
        self.session = niscope.Session(resource_name=n.resource)
        s = self.session
        s.channels[self._channel_list].configure_vertical(range=n.vertical_range_v,
                                                          coupling=niscope.VerticalCoupling[n.coupling])
        s.allow_more_records_than_memory = True
        s.configure_horizontal_timing(min_sample_rate=d.sample_rate_hz, min_num_pts=d.n_samples,
                                      ref_position=ref_position_percent(cfg), num_records=MAX_RECORDS,
                                      enforce_realtime=True)
        slope = niscope.TriggerSlope[n.trigger_slope.upper()]
        if n.trigger_type == "digital":
            s.configure_trigger_digital(trigger_source=n.trigger_source, slope=slope)
        else:
            s.configure_trigger_edge(trigger_source=n.trigger_source, level=n.trigger_level_v,
                                     trigger_coupling=niscope.TriggerCoupling.DC, slope=slope)
        if abs(s.horz_sample_rate - d.sample_rate_hz) > 1e-6 * d.sample_rate_hz or s.horz_record_length != d.n_samples:
            actual = (s.horz_sample_rate, s.horz_record_length)
            self.close()
            raise RuntimeError(f"NI-SCOPE {n.resource}: the device runs at {actual[0]:g} S/s with {actual[1]} samples "
                               f"per record, the config asks for digitizer.sample_rate_hz = {d.sample_rate_hz:g} and "
                               f"{d.n_samples} samples (record_length_ns); the windows would be wrong")
        self._buffer = np.empty(FETCH_CHUNK * len(n.channels) * d.n_samples, np.int8)
        self._next = 0
        self._final: int | None = None
        self._time_offset_ns: int | None = None

    def start(self) -> None:
        """initiate(): the acquisition runs until stop()."""
        if self.session is None:
            raise RuntimeError("NiscopeDigitizer.start: configure() first")
        self.session.initiate()

    def _records_done(self) -> int:
        return int(self.session.records_done) if self._final is None else self._final

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        """The next records in order, up to ``max_records``; waits at most ``timeout_s`` for the first."""
        if self.session is None:
            raise RuntimeError("NiscopeDigitizer.fetch: configure() first")
        deadline = self._clock() + max(timeout_s, 0.0)
        done = self._records_done()
        while done <= self._next and self._final is None and self._clock() < deadline:
            self._sleep(POLL_S)
            done = self._records_done()
        losses = []
        if done - self._next > self._capacity:  # the oldest were overwritten in the device memory
            lost = done - self._next - self._capacity
            losses.append(LossRecord(self._next, lost, OVERWRITTEN))
            self._next += lost
        n = min(max_records, done - self._next, FETCH_CHUNK)
        if n <= 0:
            return self._batch(np.zeros(0, np.int8), [], losses)
        buf = self._buffer[: n * len(self._channel_names) * self._n_samples]
        try:
            infos = self.session.channels[self._channel_list].fetch_into(
                buf, relative_to=self._niscope.FetchRelativeTo.PRETRIGGER, offset=0, record_number=self._next,
                num_records=n, timeout=max(timeout_s, 0.0))
        except Exception as exc:
            if self._final is not None:  # after abort(): what was not fetched is counted, not lost silently
                losses.append(LossRecord(self._next, self._final - self._next, NOT_FETCHED))
                self._next = self._final
                return self._batch(np.zeros(0, np.int8), [], losses)
            raise RuntimeError(f"NI-SCOPE fetch of records {self._next}..{self._next + n - 1} failed: {exc}") from exc
        if self._time_offset_ns is None:
            first = min(infos, key=lambda i: int(i.record))
            device_ns = round((float(first.absolute_initial_x) - float(first.relative_initial_x)) * 1e9)
            self._time_offset_ns = self._params.start_time_ns - device_ns
        self._next += n
        return self._batch(buf, infos, losses)

    def _batch(self, buf: np.ndarray, infos: Sequence[Any], losses: list[LossRecord]) -> RecordBatch:
        batch = decode_records(buf, infos, self._channel_names, self._n_samples, self._time_offset_ns or 0)
        batch.losses = losses
        return batch

    def stop(self) -> int:
        """abort(). Returns the records acquired in the run; those not yet fetched stay fetchable
        (or are counted lost if the driver refuses them after the abort)."""
        if self.session is None:
            return 0
        before = int(self.session.records_done)
        self.session.abort()
        try:
            after = int(self.session.records_done)  # triggers that came in while aborting
        except Exception:
            after = before
        self._final = max(before, after, self._next)
        return self._final

    def close(self) -> None:
        """Close the session."""
        if self.session is not None:
            session, self.session = self.session, None
            session.close()
