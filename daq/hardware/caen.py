"""CAEN digitizer backend (Dig2 boards, e.g. V2740/VX2730, scope firmware) via ``caen-felib``.

Written against the caen-felib Python binding (module ``caen_felib.device``: ``connect``,
``Node.get_value``/``set_value``/``send_command``/``get_node``/``set_read_data_format``/
``read_data``; ``caen_felib.error.Error`` with ``ErrorCode.TIMEOUT``/``STOP``) and its Dig2
scope demos; not yet run on hardware. Device-tree names used:

- verified in CAEN's demos and the binding's docstrings: ``/cmd/Reset``, ``/cmd/ArmAcquisition``,
  ``/cmd/SwStartAcquisition``, ``/cmd/DisarmAcquisition``, ``/par/NumCh``, ``/par/ADC_NBit``,
  ``/par/ADC_SamplRate`` [MS/s], ``/par/RecordLengthS``, ``/par/PreTriggerS``,
  ``/par/AcqTriggerSource``, ``/ch/N/par/DCOffset``, ``/endpoint/par/ActiveEndpoint`` = ``scope``,
  the ``scope`` endpoint and its fields ``TIMESTAMP`` (U64), ``WAVEFORM`` (U16, 2-D),
  ``WAVEFORM_SIZE`` (1-D), ``EVENT_SIZE`` (SIZE_T);
- seen only in third-party code, NOT verified in CAEN documentation here: ``/ch/N/par/ChEnable``,
  ``/par/StartSource`` = ``SWcmd``, the ``TRIGGER_ID`` (U32) field, and the length of a
  ``TIMESTAMP`` count (config ``digitizer.caen.timestamp_tick_ns``, 8 ns assumed).

Samples: the board delivers unsigned ADC codes ``0 .. 2**bits - 1``; they become signed
codes ``raw - 2**(bits-1)`` (mid-scale -> 0), int8 for ``bits <= 8`` and int16 above. The
feature and veto kernels take int8 today, so a board with more than 8 bits is refused at
``configure`` with a clear error (the Dig2 family is 14/16-bit: supporting it means int16
kernels, or a documented requantisation, first).

Trigger ids come from ``TRIGGER_ID`` (a 32-bit counter, unwrapped here); a jump in it is
counted as lost triggers (reason ``board trigger id gap``).
"""

from __future__ import annotations

import importlib
import types
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daq import dtypes
from daq.hardware.protocols import BackendUnavailable, LossRecord, RecordBatch, RunParameters

MISSING_DRIVER = ("digitizer.backend = 'caen' needs the CAEN FELib and CAEN Dig2 libraries (from caen.it) and their "
                  "Python binding (module 'caen_felib'): pip install 'sevens[caen]'")
INT8_ONLY = ("the feature kernels take int8 records; boards with more than 8 bits are not supported yet "
             "(see docs/interfaces.md)")
GAP = "board trigger id gap"
TRIGGER_ID_BITS = 32


def import_driver() -> Any:
    """``caen_felib.device`` and ``caen_felib.error`` as one namespace, or BackendUnavailable."""
    try:
        return types.SimpleNamespace(device=importlib.import_module("caen_felib.device"),
                                     error=importlib.import_module("caen_felib.error"))
    except (ImportError, OSError) as exc:  # OSError: the binding is there but libCAEN_FELib is not
        raise BackendUnavailable(f"{MISSING_DRIVER} ({exc})") from None


def scope_format(n_board_channels: int, n_samples: int) -> list[dict[str, Any]]:
    """The ``set_read_data_format`` fields read for each event."""
    return [
        {"name": "TRIGGER_ID", "type": "U32"},
        {"name": "TIMESTAMP", "type": "U64"},
        {"name": "WAVEFORM", "type": "U16", "dim": 2, "shape": [n_board_channels, n_samples]},
        {"name": "WAVEFORM_SIZE", "type": "U64", "dim": 1, "shape": [n_board_channels]},
        {"name": "EVENT_SIZE", "type": "SIZE_T"},
    ]


def signed_codes(raw: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ADC codes -> signed codes around mid-scale: int8 for bits <= 8, else int16."""
    out = raw.astype(np.int32) - (1 << (bits - 1))
    return out.astype(np.int8 if bits <= 8 else np.int16)


@dataclass
class ScopeEvent:
    """One event read from the scope endpoint (copied out of the reused read buffers)."""

    trigger_id: int  # unwrapped
    timestamp: int  # board clock counts
    waveforms: np.ndarray  # U16, (n_used_channels, n_samples)


class TriggerIdUnwrapper:
    """Turns the board's 32-bit TRIGGER_ID into a run-long counter and reports jumps."""

    def __init__(self, bits: int = TRIGGER_ID_BITS) -> None:
        self.modulus = 1 << bits
        self.last = -1  # the first trigger of a run has id 0

    def __call__(self, raw: int) -> tuple[int, int]:
        """(unwrapped id, triggers skipped since the previous event)."""
        step = (int(raw) - self.last) % self.modulus
        if step == 0:
            raise RuntimeError(f"CAEN: trigger id {raw} repeated")
        self.last += step
        return self.last, step - 1


def decode_events(events: Sequence[ScopeEvent], channel_names: Sequence[str], bits: int, tick_ns: float,
                  t0_timestamp: int, t0_ns: int) -> RecordBatch:
    """RecordBatch from scope events (pure): trigger time = t0_ns + (timestamp - t0_timestamp) * tick_ns."""
    n = len(events)
    n_samples = events[0].waveforms.shape[1] if n else 0
    triggers = np.zeros(n, dtypes.TRIGGER)
    triggers["pulse_id"] = -1
    dtype = np.int8 if bits <= 8 else np.int16
    waves = {name: np.zeros((n, n_samples), dtype) for name in channel_names}
    for i, ev in enumerate(events):
        triggers["trigger_id"][i] = ev.trigger_id
        triggers["time"][i] = t0_ns + round((ev.timestamp - t0_timestamp) * tick_ns)
        for c, name in enumerate(channel_names):
            waves[name][i] = signed_codes(ev.waveforms[c], bits)
    return RecordBatch(triggers=triggers, waveforms=waves)


class CaenDigitizer:
    """DigitizerBackend over CAEN FELib: the scope endpoint, one event per trigger."""

    exhausted = False

    def __init__(self, driver: Any = None) -> None:
        self._driver = driver  # namespace with .device and .error (tests); None = import caen_felib
        self.dig: Any = None

    def configure(self, cfg: Any, params: RunParameters) -> None:
        """Open the board, set the record, trigger and channels, and the scope read format."""
        felib = self._driver if self._driver is not None else import_driver()
        d, c = cfg.digitizer, cfg.digitizer.caen
        if d.bits > 8:
            raise BackendUnavailable(f"digitizer.bits = {d.bits}: {INT8_ONLY}")
        self._felib, self._params = felib, params
        self._names, self._channels = list(d.channels), list(c.channels)
        self._bits, self._tick_ns, self._n_samples = d.bits, c.timestamp_tick_ns, d.n_samples
        self.dig = dig = felib.device.connect(c.url)
        dig.send_command("/cmd/Reset")
        n_ch = int(dig.get_value("/par/NumCh"))
        board_bits = int(dig.get_value("/par/ADC_NBit"))
        rate_hz = float(dig.get_value("/par/ADC_SamplRate")) * 1e6
        problems = []
        if board_bits != d.bits:
            problems.append(f"the board has a {board_bits}-bit ADC, digitizer.bits = {d.bits}"
                            + (f" ({INT8_ONLY})" if board_bits > 8 else ""))
        if abs(rate_hz - d.sample_rate_hz) > 1e-6 * d.sample_rate_hz:
            problems.append(f"the board samples at {rate_hz:g} S/s, digitizer.sample_rate_hz = {d.sample_rate_hz:g}")
        if max(self._channels) >= n_ch:
            problems.append(f"digitizer.caen.channels = {self._channels}, the board has {n_ch} channels")
        if problems:
            self.close()
            raise RuntimeError(f"CAEN {c.url}: " + "; ".join(problems))
        for ch in range(n_ch):
            dig.set_value(f"/ch/{ch}/par/ChEnable", "True" if ch in self._channels else "False")
        for ch in self._channels:
            dig.set_value(f"/ch/{ch}/par/DCOffset", f"{c.dc_offset_percent:g}")
        pretrigger = round(cfg.windows.c_roi[0] * d.sample_rate_hz / 1e9)  # the C ROI starts at the trigger
        dig.set_value("/par/RecordLengthS", str(d.n_samples))
        dig.set_value("/par/PreTriggerS", str(pretrigger))
        dig.set_value("/par/AcqTriggerSource", c.trigger_source)
        dig.set_value("/par/StartSource", "SWcmd")
        actual = int(dig.get_value("/par/RecordLengthS"))
        if actual != d.n_samples:
            self.close()
            raise RuntimeError(f"CAEN {c.url}: record length set to {d.n_samples} samples, the board took {actual}")
        dig.set_value("/endpoint/par/ActiveEndpoint", "scope")
        self._endpoint = dig.get_node("/endpoint/scope")
        self._data = self._endpoint.set_read_data_format(scope_format(n_ch, d.n_samples))
        self._unwrap = TriggerIdUnwrapper()
        self._queue: deque[ScopeEvent] = deque()
        self._losses: list[LossRecord] = []
        self._t0: int | None = None
        self._generated = 0
        self._stopped = False

    def start(self) -> None:
        """Arm and start the acquisition (software start)."""
        if self.dig is None:
            raise RuntimeError("CaenDigitizer.start: configure() first")
        self.dig.send_command("/cmd/ArmAcquisition")
        self.dig.send_command("/cmd/SwStartAcquisition")

    def _read_one(self, timeout_ms: int) -> bool:
        """Read one event into the queue; False on timeout or end of data."""
        err = self._felib.error
        try:
            self._endpoint.read_data(timeout_ms, self._data)
        except err.Error as exc:
            if exc.code in (err.ErrorCode.TIMEOUT, err.ErrorCode.STOP):
                return False
            raise
        fields = {f.name: f.value for f in self._data}
        sizes = fields["WAVEFORM_SIZE"]
        short = [ch for ch in self._channels if int(sizes[ch]) != self._n_samples]
        if short:
            raise RuntimeError(f"CAEN: event {int(fields['TRIGGER_ID'])} has {[int(sizes[c]) for c in short]} samples "
                               f"on channels {short}, expected {self._n_samples}")
        trigger_id, skipped = self._unwrap(int(fields["TRIGGER_ID"]))
        if skipped:
            self._losses.append(LossRecord(trigger_id - skipped, skipped, GAP))
        self._generated = trigger_id + 1
        wave = np.array(fields["WAVEFORM"][self._channels, : self._n_samples])
        self._queue.append(ScopeEvent(trigger_id, int(fields["TIMESTAMP"]), wave))
        return True

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        """Up to ``max_records`` events; waits at most ``timeout_s`` for the first."""
        if self.dig is None:
            raise RuntimeError("CaenDigitizer.fetch: configure() first")
        if not self._queue and not self._stopped:
            self._read_one(max(0, round(timeout_s * 1000)))
        while len(self._queue) < max_records and not self._stopped and self._read_one(0):
            pass
        events = [self._queue.popleft() for _ in range(min(max_records, len(self._queue)))]
        if events and self._t0 is None:
            self._t0 = events[0].timestamp
        batch = decode_events(events, self._names, self._bits, self._tick_ns, self._t0 or 0,
                              self._params.start_time_ns)
        batch.losses, self._losses = self._losses, []
        return batch

    def stop(self) -> int:
        """Disarm, read what the board still holds; returns the triggers seen (ids 0 .. last)."""
        if self.dig is None:
            return 0
        self.dig.send_command("/cmd/DisarmAcquisition")
        while self._read_one(100):
            pass
        self._stopped = True
        return self._generated

    def close(self) -> None:
        """Close the connection to the board."""
        if self.dig is not None:
            dig, self.dig = self.dig, None
            dig.close()
