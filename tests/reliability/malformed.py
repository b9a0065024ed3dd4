"""Hypothesis strategies for bad input: every example is a message that must be refused.

Two families:

- :func:`malformed_frames`: frames that :func:`daq.wire.envelope.unpack` must refuse with
  ``EnvelopeError`` (random bytes, JSON headers with bad fields, frame-count mismatches,
  protocol version 99, buffers whose size disagrees with the declared shape, huge declared
  shapes, bad dtypes, oversized and pathologically nested headers);
- :func:`bad_payload`: frames with a *valid* envelope whose arrays or kind do not fit the
  stream they are sent on (a receiver must count them as malformed and drop them).

The socket tests send both to a running DAQ; the unit tests feed the first to ``unpack``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import strategies as st

from daq import dtypes
from daq.processes.builder import event_arrays
from daq.wire import envelope
from daq.wire.envelope import Message

Frames = list[bytes]
N_SAMPLES = 35_000  # digitizer.n_samples of the shipped config (70 us at 500 MS/s)


def good_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"v": envelope.PROTOCOL_VERSION, "stream": "records", "source": "fuzz", "run": 1,
                              "seq": 0, "kind": "data", "meta": {}, "arrays": []}
    header.update(changes)
    return header


def encode(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def spec(name: str, dtype: Any, shape: list[Any]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


# -- values that are wrong for each header field ------------------------------------------
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
NOT_INT = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8), st.lists(st.integers(), max_size=2),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
NOT_STR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.lists(st.text(), max_size=2))
BAD_FIELD = st.one_of(
    st.tuples(st.just("v"), st.one_of(NOT_INT, st.integers(min_value=2), st.integers(max_value=0))),
    st.tuples(st.just("kind"), st.one_of(NOT_STR, st.text(max_size=10).filter(lambda k: k not in envelope.KINDS))),
    st.tuples(st.just("stream"), NOT_STR),
    st.tuples(st.just("source"), NOT_STR),
    st.tuples(st.just("run"), NOT_INT),
    st.tuples(st.just("seq"), NOT_INT),
    st.tuples(st.just("meta"), st.one_of(JSON_SCALARS, st.lists(st.integers(), max_size=3))),
    st.tuples(st.just("arrays"), st.one_of(JSON_SCALARS, st.dictionaries(st.text(max_size=3), st.integers(),
                                                                        max_size=2))),
)
REQUIRED = ("v", "kind", "arrays", "stream", "source", "run", "seq")


@st.composite
def bad_header_field(draw: st.DrawFn) -> Frames:
    """A JSON header with one field of the wrong type or value, or a required field missing."""
    header = good_header()
    if draw(st.booleans()):
        key, value = draw(BAD_FIELD)
        header[key] = value
    else:
        del header[draw(st.sampled_from(REQUIRED))]
    return [encode(header)]


@st.composite
def frame_count_mismatch(draw: st.DrawFn) -> Frames:
    """A header naming k arrays followed by j != k buffers."""
    k = draw(st.integers(0, 4))
    j = draw(st.integers(0, 6).filter(lambda j: j != k))
    arrays = [spec(f"a{i}", "|i1", [4]) for i in range(k)]
    return [encode(good_header(arrays=arrays)), *([b"\0" * 4] * j)]


@st.composite
def wrong_version(draw: st.DrawFn) -> Frames:
    """A well-formed message in every other respect, claiming protocol version 99 (or another)."""
    version = draw(st.one_of(st.just(99), st.integers(2, 2**31), st.integers(-(2**31), 0)))
    frames = [bytes(f) for f in envelope.pack(Message(stream="records", source="fuzz",
                                                      arrays={"triggers": np.zeros(1, dtypes.TRIGGER)}))]
    header = json.loads(frames[0])
    header["v"] = version
    return [encode(header), *frames[1:]]


DTYPES = ("|i1", "<i2", "<i4", "<i8", "<f4", "<f8", "|b1", dtypes.TRIGGER, dtypes.LOSS)


@st.composite
def buffer_size_mismatch(draw: st.DrawFn) -> Frames:
    """An array whose buffer is shorter or longer than its dtype and shape say."""
    dt = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=3))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize if shape else dt.itemsize
    size = draw(st.integers(0, nbytes + 64).filter(lambda n: n != nbytes))
    descr = np.lib.format.dtype_to_descr(dt)
    return [encode(good_header(arrays=[spec("a", json.loads(json.dumps(descr)), shape)])), draw(st.binary(
        min_size=size, max_size=size))]


HUGE_SHAPES = st.one_of(
    st.lists(st.integers(2**31, 2**62), min_size=1, max_size=3),  # more bytes than any message may hold
    st.just([2**32, 2**32]),  # the element count overflows int64 to 0
    st.just([2**63 - 1, 2]),  # ... or to a negative number
    st.lists(st.integers(2**63, 2**80), min_size=1, max_size=2),  # beyond int64 altogether
    st.lists(st.integers(1, 3), min_size=9, max_size=12),  # too many dimensions
)


@st.composite
def huge_shape(draw: st.DrawFn) -> Frames:
    """A header declaring an enormous array, followed by a small (or empty) buffer."""
    dtype = draw(st.sampled_from(["|i1", "<f8", "|V0", "<U0"]))
    shape = draw(HUGE_SHAPES)
    return [encode(good_header(arrays=[spec("csi", dtype, shape)])), draw(st.binary(max_size=16))]


BAD_DTYPES = st.one_of(
    st.sampled_from(["|O", "O", "(2,)<i4", "(3,2)|i1", "<i4,<f8", "x", "", "|V0", "<U0", "|S0", "int128",
                     "|V2147483648", "<M8[zz]"]),
    st.just([["a", "|O"]]),
    st.just([["a"]]),
    st.just([["a", "<i4", [2**40]]]),
    st.just([["a", "<i4", ["x"]]]),
    st.just({"names": ["a"], "formats": ["<i4"]}),
    st.just(None),
    st.integers(),
    st.recursive(st.just("<i4"), lambda inner: st.lists(st.tuples(st.just("f"), inner).map(list), min_size=1,
                                                         max_size=1), max_leaves=12).filter(
        lambda d: isinstance(d, list)).map(lambda d: d if _depth(d) > 9 else _nest(d, 10)),
)


def _depth(descr: Any) -> int:
    return 1 + max((_depth(item[1]) for item in descr), default=0) if isinstance(descr, list) else 0


def _nest(descr: Any, depth: int) -> Any:
    for _ in range(depth):
        descr = [["f", descr]]
    return descr


@st.composite
def bad_dtype(draw: st.DrawFn) -> Frames:
    """Object dtypes, sub-array dtypes, zero-size or unknown dtypes, too deeply nested records."""
    dtype = draw(BAD_DTYPES)
    shape = draw(st.sampled_from([[1], [2], [0], [3, 1]]))
    return [encode(good_header(arrays=[spec("a", dtype, shape)])), draw(st.sampled_from([b"", b"\0" * 8, b"\0" * 16]))]


@st.composite
def pathological_header(draw: st.DrawFn) -> Frames:
    """Headers that stress the JSON decoder: deep nesting, giant integers, oversize, NaN, not UTF-8."""
    depth = draw(st.integers(2_000, 60_000))
    kind = draw(st.sampled_from(["deep array", "deep meta", "giant int", "oversized", "nan", "latin-1"]))
    if kind == "deep array":
        return [b"[" * depth]
    if kind == "deep meta":
        return [b'{"v":1,"kind":"data","arrays":[],"meta":' + b"[" * depth + b"]" * depth + b"}"]
    if kind == "giant int":
        return [b'{"v":' + b"9" * draw(st.integers(4_301, 60_000)) + b"}"]
    if kind == "oversized":
        return [b" " * (envelope.MAX_HEADER_BYTES + draw(st.integers(1, 4096)))]
    if kind == "nan":
        return [b'{"v":NaN,"kind":"data","arrays":[]}']
    return ['{"v":1,"kind":"data","arrays":[],"stream":"\u00e9"}'.encode("latin-1")]


def random_frames() -> st.SearchStrategy[Frames]:
    """Random bytes in one to five frames (a multi-frame message is still one message)."""
    return st.lists(st.binary(min_size=0, max_size=256), min_size=1, max_size=5)


def malformed_frames() -> st.SearchStrategy[Frames]:
    """Any message that :func:`daq.wire.envelope.unpack` must refuse with EnvelopeError."""
    return st.one_of(random_frames(), bad_header_field(), frame_count_mismatch(), wrong_version(),
                     buffer_size_mismatch(), huge_shape(), bad_dtype(), pathological_header())


def oversized_message(n_bytes: int = 8 << 20) -> Frames:
    """A header declaring a small array followed by a buffer of ``n_bytes`` (default 8 MiB)."""
    return [encode(good_header(arrays=[spec("triggers", "|i1", [16])])), b"\x5a" * n_bytes]


# -- valid envelopes with wrong content, per data stream ------------------------------------
def _triggers(n: int) -> np.ndarray:
    trig = np.zeros(n, dtypes.TRIGGER)
    trig["trigger_id"] = 10**12 + np.arange(n)  # far from any real trigger id
    trig["time"] = 1_000 + 16_666_667 * np.arange(n)
    return trig


def good_event_arrays(n: int, stream: str) -> dict[str, np.ndarray]:
    """Arrays of a correct data message of ``stream`` with ``n`` triggers (never sent as is)."""
    wave = np.full((n, N_SAMPLES), 100, np.int8)
    if stream == "records":
        return {"triggers": _triggers(n), "csi": wave, "veto": wave.copy(),
                "truth_events": np.zeros(0, dtypes.TRUTH_EVENT), "truth_windows": np.zeros(0, dtypes.TRUTH_WINDOW),
                "losses": np.zeros(0, dtypes.LOSS)}
    if stream == "beam":
        beam = np.zeros(n, dtypes.BEAM_PULSE)
        beam["pulse_id"] = 10**12 + np.arange(n)
        return {"beam": beam, "losses": np.zeros(0, dtypes.LOSS)}
    feats = np.zeros(2 * n, dtypes.FEATURES)
    feats["trigger_id"] = np.repeat(_triggers(n)["trigger_id"], 2)
    feats["window"] = np.tile([0, 1], n)
    return event_arrays(N_SAMPLES, triggers=_triggers(n), csi=wave, veto=wave.copy(), features=feats)


DTYPE_NAMES = {dtypes.FEATURES: "FEATURES", dtypes.PEAK: "PEAK", dtypes.LOSS: "LOSS", dtypes.TRIGGER: "TRIGGER",
               dtypes.BEAM_PULSE: "BEAM_PULSE"}
WRONG_DTYPES = st.sampled_from([np.dtype(np.int64), np.dtype(np.float32), dtypes.FEATURES, dtypes.PEAK, dtypes.LOSS,
                                dtypes.TRIGGER])


@st.composite
def bad_payload(draw: st.DrawFn, stream: str) -> tuple[str, Frames]:
    """(what is wrong, frames): a valid envelope on ``stream`` whose content does not fit it."""
    n = draw(st.integers(1, 3))
    arrays = good_event_arrays(n, stream)
    kind = "data"
    msg_stream = stream
    main = "beam" if stream == "beam" else "triggers"
    waves = [] if stream == "beam" else ["csi", "veto"]
    required = [main, *waves] + (["features"] if stream in ("events", "vetoed", "selected") else [])
    tables = [main, "losses"] + (["features"] if "features" in required else [])
    choices = ["missing array", "wrong dtype", "2-D table", "foreign kind", "wrong stream"]
    if waves:
        choices += ["rows disagree", "wrong record length", "waveform dtype", "no triggers, waveforms"]
    if "features" in required:
        choices.append("features rows")
    what = draw(st.sampled_from(choices))
    if what == "missing array":
        name = draw(st.sampled_from(required))
        del arrays[name]
        what = f"missing {name!r}"
    elif what == "wrong dtype":
        name = draw(st.sampled_from(tables))
        dt = draw(WRONG_DTYPES.filter(lambda d, name=name: d != arrays[name].dtype))
        arrays[name] = np.zeros(max(len(arrays[name]), 1), dt)
        what = f"{name!r} of dtype {DTYPE_NAMES.get(dt, dt)}"
    elif what == "2-D table":
        arrays[main] = np.stack([arrays[main], arrays[main]])
        what = f"{main!r} of two dimensions"
    elif what == "foreign kind":
        kind = draw(st.sampled_from(["heartbeat", "command", "reply", "status"]))
        what = f"kind {kind!r} on a data stream"
    elif what == "wrong stream":
        msg_stream = draw(st.sampled_from(["monitor", "status", "control", "bogus"]))
        what = f"stream {msg_stream!r} sent to {stream!r}"
    elif what == "rows disagree":
        ch = draw(st.sampled_from(waves))
        # (no rows at all is valid on the event streams: the channel is not carried)
        fewer = n > 1 or stream == "records"
        arrays[ch] = arrays[ch][: n - 1] if fewer and draw(st.booleans()) else np.concatenate([arrays[ch], arrays[ch]])
        what = f"{ch!r} rows != triggers"
    elif what == "wrong record length":
        ch = draw(st.sampled_from(waves))
        arrays[ch] = np.zeros((n, draw(st.sampled_from([0, 100, N_SAMPLES + 1]))), np.int8)
        what = f"{ch!r} records of the wrong length"
    elif what == "waveform dtype":
        ch = draw(st.sampled_from(waves))
        arrays[ch] = arrays[ch].astype(draw(st.sampled_from([np.int16, np.float32, np.uint8])))
        what = f"{ch!r} samples of dtype {arrays[ch].dtype}"
    elif what == "no triggers, waveforms":
        arrays[main] = arrays[main][:0]
        what = "no triggers but waveform rows"
    elif what == "features rows":
        arrays["features"] = arrays["features"][:1] if n > 1 else arrays["features"][:0]
        what = "features rows != 2 x triggers"
    msg = Message(stream=msg_stream, kind=kind, source="fuzz", run=1, seq=draw(st.integers(0, 10**6)),
                  arrays=arrays if kind == "data" else {})
    return what, [bytes(f) for f in envelope.pack(msg)]


def empty_batch(stream: str) -> list[bytes]:
    """A *correct* data message of ``stream`` with no triggers and no rows (a reader may send one
    when a fetch returns only losses): it must be accepted and must not disturb the run."""
    arrays = {k: v[:0] for k, v in good_event_arrays(1, stream).items()}
    msg = Message(stream=stream, kind="data", source="fuzz", run=1, seq=0, arrays=arrays)
    return [bytes(f) for f in envelope.pack(msg)]
