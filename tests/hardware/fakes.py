"""Stand-ins for the vendor APIs, shaped after their documentation, that record every call.

- :func:`fake_niscope` returns a module-like namespace with ``Session`` and the enums the
  backend uses (nimi-python ``niscope``); the session's ``records_done`` is set by the test
  (triggers arriving) and ``fetch_into`` fills the int8 buffer with a known pattern.
- :func:`fake_felib` returns ``caen_felib``-like ``device`` and ``error`` namespaces; the
  board's parameters answer ``get_value`` and the scope endpoint serves queued events.
"""

from __future__ import annotations

import enum
import types
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# -- NI-SCOPE ---------------------------------------------------------------------------------
class VerticalCoupling(enum.Enum):
    AC = 0
    DC = 1


class TriggerSlope(enum.Enum):
    NEGATIVE = 0
    POSITIVE = 1


class TriggerCoupling(enum.Enum):
    AC = 0
    DC = 1


class FetchRelativeTo(enum.Enum):
    READ_POINTER = 388
    PRETRIGGER = 477


def niscope_sample(record: int, channel: int, n_samples: int) -> np.ndarray:
    """The samples the fake device holds for (record, channel)."""
    return ((np.arange(n_samples) + 3 * record + 50 * channel) % 200 - 100).astype(np.int8)


DEVICE_T0_S = 12.5  # device clock at record 0's trigger
PERIOD_S = 1 / 60


class FakeScopeSession:
    def __init__(self, log: list, resource_name: str, **kwargs: Any) -> None:
        self.log = log
        self.log.append(("Session", {"resource_name": resource_name, **kwargs}))
        self.records_done = 0
        self.horz_sample_rate = 0.0
        self.horz_record_length = 0
        self.fail_fetch: Exception | None = None
        self.order = "record-major"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "allow_more_records_than_memory":
            self.log.append(("set", {name: value}))
        object.__setattr__(self, name, value)

    @property
    def channels(self) -> _Channels:
        return _Channels(self)

    def configure_horizontal_timing(self, **kw: Any) -> None:
        self.log.append(("configure_horizontal_timing", kw))
        self.horz_sample_rate = kw["min_sample_rate"]
        self.horz_record_length = kw["min_num_pts"]

    def configure_trigger_digital(self, **kw: Any) -> None:
        self.log.append(("configure_trigger_digital", kw))

    def configure_trigger_edge(self, **kw: Any) -> None:
        self.log.append(("configure_trigger_edge", kw))

    def initiate(self) -> None:
        self.log.append(("initiate", {}))

    def abort(self) -> None:
        self.log.append(("abort", {}))

    def close(self) -> None:
        self.log.append(("close", {}))


class _Channels:
    def __init__(self, session: FakeScopeSession) -> None:
        self.session = session

    def __getitem__(self, channels: str) -> _ChannelSubset:
        return _ChannelSubset(self.session, channels)


class _ChannelSubset:
    def __init__(self, session: FakeScopeSession, channels: str) -> None:
        self.session, self.channels = session, channels

    def configure_vertical(self, **kw: Any) -> None:
        self.session.log.append(("configure_vertical", {"channels": self.channels, **kw}))

    def fetch_into(self, waveform: np.ndarray, **kw: Any) -> list:
        s = self.session
        s.log.append(("fetch_into", {"channels": self.channels, "dtype": waveform.dtype, "size": len(waveform), **kw}))
        if s.fail_fetch is not None:
            raise s.fail_fetch
        names = self.channels.split(",")
        first, n = kw["record_number"], kw["num_records"]
        assert first + n <= s.records_done, "fetching records not yet acquired"
        n_samples = len(waveform) // (n * len(names))
        pairs = ([(r, c) for r in range(first, first + n) for c in range(len(names))] if s.order == "record-major"
                 else [(r, c) for c in range(len(names)) for r in range(first, first + n)])
        infos = []
        for i, (r, c) in enumerate(pairs):
            waveform[i * n_samples:(i + 1) * n_samples] = niscope_sample(r, int(names[c]), n_samples)
            infos.append(types.SimpleNamespace(
                record=r, channel=names[c], relative_initial_x=-0.052, x_increment=2e-9, gain=1.0, offset=0.0,
                absolute_initial_x=DEVICE_T0_S + r * PERIOD_S - 0.052,
                samples=waveform[i * n_samples:(i + 1) * n_samples]))
        return infos


def fake_niscope() -> types.SimpleNamespace:
    """A module-like ``niscope`` stand-in; ``.log`` lists every call, ``.session`` the last session."""
    ns = types.SimpleNamespace(VerticalCoupling=VerticalCoupling, TriggerSlope=TriggerSlope,
                               TriggerCoupling=TriggerCoupling, FetchRelativeTo=FetchRelativeTo, log=[], session=None)

    def session(resource_name: str, **kwargs: Any) -> FakeScopeSession:
        ns.session = FakeScopeSession(ns.log, resource_name, **kwargs)
        return ns.session

    ns.Session = session
    return ns


# -- CAEN FELib -------------------------------------------------------------------------------
class ErrorCode(enum.IntEnum):
    TIMEOUT = -11
    STOP = -12
    COMMUNICATION_ERROR = -15


class FelibError(RuntimeError):
    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class FakeData:
    """Like caen_felib.device._Data: name, type and a preallocated ``value`` array."""

    name: str
    type: str
    value: np.ndarray


_TYPES = {"U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "SIZE_T": np.uint64}


@dataclass
class FakeEvent:
    trigger_id: int  # as the board sends it (32-bit)
    timestamp: int
    waveform: np.ndarray  # U16 (n_board_channels, n_samples)


@dataclass
class FakeBoard:
    values: dict[str, str]
    log: list = field(default_factory=list)
    events: deque = field(default_factory=deque)
    armed: bool = False
    closed: bool = False

    def send_command(self, path: str) -> None:
        self.log.append(("send_command", path))
        if path in ("/cmd/ArmAcquisition", "/cmd/DisarmAcquisition"):
            self.armed = path == "/cmd/ArmAcquisition"  # disarmed: the endpoint says STOP once drained

    def get_value(self, path: str) -> str:
        self.log.append(("get_value", path))
        return self.values[path]

    def set_value(self, path: str, value: str) -> None:
        assert isinstance(value, str), f"FELib values are strings, got {value!r} for {path}"
        self.log.append(("set_value", path, value))
        self.values[path] = value

    def get_node(self, path: str) -> FakeEndpoint:
        self.log.append(("get_node", path))
        return FakeEndpoint(self)

    def close(self) -> None:
        self.log.append(("close",))
        self.closed = True


class FakeEndpoint:
    def __init__(self, board: FakeBoard) -> None:
        self.board = board

    def set_read_data_format(self, fmt: list[dict]) -> tuple[FakeData, ...]:
        self.board.log.append(("set_read_data_format", fmt))
        return tuple(FakeData(f["name"], f["type"], np.zeros(f.get("shape", []), _TYPES[f["type"]])) for f in fmt)

    def read_data(self, timeout: int, data: tuple[FakeData, ...]) -> None:
        assert isinstance(timeout, int)
        if not self.board.events:
            code = ErrorCode.TIMEOUT if self.board.armed else ErrorCode.STOP
            raise FelibError("no data", code)
        ev = self.board.events.popleft()
        fields = {d.name: d for d in data}
        fields["TRIGGER_ID"].value[...] = ev.trigger_id
        fields["TIMESTAMP"].value[...] = ev.timestamp
        fields["WAVEFORM"].value[...] = ev.waveform
        fields["WAVEFORM_SIZE"].value[...] = ev.waveform.shape[1]
        fields["EVENT_SIZE"].value[...] = ev.waveform.nbytes


def fake_felib(values: dict[str, str]) -> types.SimpleNamespace:
    """``caen_felib``-like namespace (``device.connect``, ``error.Error``/``ErrorCode``); ``.board``
    is the board opened last."""
    ns = types.SimpleNamespace(board=None, urls=[])

    def connect(url: str) -> FakeBoard:
        ns.urls.append(url)
        ns.board = FakeBoard(dict(values))
        return ns.board

    ns.device = types.SimpleNamespace(connect=connect)
    ns.error = types.SimpleNamespace(Error=FelibError, ErrorCode=ErrorCode)
    return ns

