"""The wire envelope: the one place that turns messages into ZeroMQ frames and back.

A message is a list of frames::

    frame 0   header: UTF-8 JSON, at most MAX_HEADER_BYTES
              {"v": PROTOCOL_VERSION, "stream": str, "source": str, "run": int,
               "seq": int, "kind": str, "meta": {...},
               "arrays": [{"name": str, "dtype": <numpy descr>, "shape": [int, ...]}, ...]}
    frame 1.. one raw buffer per array, C-contiguous, in the header's order

Arrays travel as raw bytes (zero-copy on send, a read-only view of the received frame
on receive); their dtypes travel as numpy ``descr`` lists, never as pickles. Every
malformed message raises :class:`EnvelopeError`, naming what was wrong.

Message kinds on the data streams:
``data`` (a batch of triggers), ``sor`` (start of run), ``eor`` (end of run, carries the
final counts in ``meta``), ``loss`` (loss records), ``dq`` (a data-quality row).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
MAX_ARRAYS = 64
MAX_ARRAY_BYTES = 1 << 31

KINDS = frozenset({"data", "sor", "eor", "loss", "dq", "status", "command", "reply", "heartbeat"})


class EnvelopeError(ValueError):
    """A message that cannot be decoded; the text says what was wrong."""


@dataclass
class Message:
    stream: str
    kind: str = "data"
    source: str = ""
    run: int = 0
    seq: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    user_id: str | None = None  # the sender's authenticated identity (CURVE), set on receipt; not sent


def _descr(dtype: np.dtype) -> Any:
    return np.lib.format.dtype_to_descr(dtype)


def _jsonable(descr: Any) -> Any:
    """Tuples to lists, recursively (JSON has no tuples)."""
    if isinstance(descr, tuple | list):
        return [_jsonable(d) for d in descr]
    return descr


def _tuplify(descr: Any, depth: int = 0) -> Any:
    """Inverse of :func:`_jsonable` for numpy descr lists."""
    if depth > 8:
        raise EnvelopeError("dtype descr nested too deeply")
    if isinstance(descr, str):
        return descr
    if isinstance(descr, list):
        out = []
        for item in descr:
            if not isinstance(item, list) or len(item) not in (2, 3):
                raise EnvelopeError(f"bad dtype field {item!r}")
            name = tuple(item[0]) if isinstance(item[0], list) else item[0]
            fmt = _tuplify(item[1], depth + 1)
            out.append((name, fmt, tuple(item[2])) if len(item) == 3 else (name, fmt))
        return out
    raise EnvelopeError(f"bad dtype descr {descr!r}")


def _dtype_from(descr: Any) -> np.dtype:
    try:
        dt = np.lib.format.descr_to_dtype(_tuplify(descr))
    except EnvelopeError:
        raise
    except Exception as exc:  # numpy raises several types for bad descr
        raise EnvelopeError(f"bad dtype {descr!r}: {exc}") from None
    if dt.hasobject:
        raise EnvelopeError("object dtypes are not allowed on the wire")
    if dt.itemsize == 0 or dt.subdtype is not None:
        raise EnvelopeError(f"dtype {dt} is not allowed on the wire (empty or subarray)")
    return dt


def pack(msg: Message) -> list[Any]:
    """Frames for ``msg``: a JSON header, then each array's buffer (no copy if contiguous)."""
    if msg.kind not in KINDS:
        raise EnvelopeError(f"unknown message kind {msg.kind!r}")
    arrays = []
    buffers: list[Any] = []
    for name, arr in msg.arrays.items():
        arr = np.require(arr, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        if arr.dtype.hasobject:
            raise EnvelopeError(f"array {name!r} has an object dtype")
        arrays.append({"name": name, "dtype": _jsonable(_descr(arr.dtype)), "shape": list(arr.shape)})
        buffers.append(memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b"")
    header = {
        "v": PROTOCOL_VERSION,
        "stream": msg.stream,
        "source": msg.source,
        "run": int(msg.run),
        "seq": int(msg.seq),
        "kind": msg.kind,
        "meta": msg.meta,
        "arrays": arrays,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise EnvelopeError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return [head, *buffers]


def _require(header: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in header:
        raise EnvelopeError(f"header lacks {key!r}")
    value = header[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EnvelopeError(f"header {key!r} is {type(value).__name__}, expected {kind}")
    return value


def unpack(frames: list[Any], copy: bool = False) -> Message:
    """Decode frames from :func:`pack`. Arrays are read-only views unless ``copy``."""
    if not frames:
        raise EnvelopeError("empty message")
    head = bytes(frames[0].buffer if hasattr(frames[0], "buffer") else frames[0])
    if len(head) > MAX_HEADER_BYTES:
        raise EnvelopeError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(head)
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, integers beyond the digit limit
        raise EnvelopeError(f"header is not JSON: {exc}") from None
    except RecursionError:
        raise EnvelopeError("header JSON nested too deeply") from None
    if not isinstance(header, dict):
        raise EnvelopeError("header is not a JSON object")
    version = _require(header, "v", int)
    if version != PROTOCOL_VERSION:
        raise EnvelopeError(f"protocol version {version}, this build speaks {PROTOCOL_VERSION}")
    kind = _require(header, "kind", str)
    if kind not in KINDS:
        raise EnvelopeError(f"unknown message kind {kind!r}")
    specs = _require(header, "arrays", list)
    if len(specs) > MAX_ARRAYS:
        raise EnvelopeError(f"{len(specs)} arrays exceed the limit of {MAX_ARRAYS}")
    if len(frames) != 1 + len(specs):
        raise EnvelopeError(f"header names {len(specs)} arrays but {len(frames) - 1} buffers follow")
    arrays: dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames[1:], strict=True):
        if not isinstance(spec, dict):
            raise EnvelopeError("array spec is not an object")
        name = _require(spec, "name", str)
        if name in arrays:
            raise EnvelopeError(f"array {name!r} appears twice")
        dtype = _dtype_from(spec.get("dtype"))
        shape = _require(spec, "shape", list)
        if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape) or len(shape) > 8:
            raise EnvelopeError(f"array {name!r} has a bad shape {shape!r}")
        count = math.prod(shape)  # Python ints: no overflow
        nbytes = count * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES or (count == 0 and math.prod(s for s in shape if s) > MAX_ARRAY_BYTES):
            raise EnvelopeError(f"array {name!r} of shape {shape} exceeds the limit")
        buf = frame.buffer if hasattr(frame, "buffer") else frame
        if len(memoryview(buf).cast("B")) != nbytes:
            raise EnvelopeError(
                f"array {name!r}: buffer of {len(memoryview(buf).cast('B'))} bytes, header says {nbytes}"
            )
        arr = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape) if count else np.zeros(shape, dtype)
        arrays[name] = arr.copy() if copy else arr
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise EnvelopeError("header 'meta' is not an object")
    return Message(
        stream=_require(header, "stream", str),
        kind=kind,
        source=_require(header, "source", str),
        run=_require(header, "run", int),
        seq=_require(header, "seq", int),
        meta=meta,
        arrays=arrays,
    )


class SequenceCounter:
    """Numbers outgoing messages of one stream: 0, 1, 2, ..."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> int:
        seq = self.next
        self.next += 1
        return seq


class GapDetector:
    """Counts messages missing from a stream, from the sequence numbers that arrive.

    One detector per (stream, source). A sequence number below the expected one is a
    restart of the sender (counted in ``restarts``), not a gap.
    """

    def __init__(self) -> None:
        self.expected: dict[tuple[str, str], int] = {}
        self.gaps = 0
        self.restarts = 0
        self.received = 0

    def __call__(self, msg: Message) -> int:
        """Record ``msg``; return how many messages were missed just before it."""
        key = (msg.stream, msg.source)
        self.received += 1
        want = self.expected.get(key)
        self.expected[key] = msg.seq + 1
        if want is None:
            return 0
        if msg.seq < want:
            self.restarts += 1
            return 0
        missed = msg.seq - want
        self.gaps += missed
        return missed
