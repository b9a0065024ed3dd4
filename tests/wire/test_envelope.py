"""The wire envelope: round trips, and every kind of malformed message is refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from daq import dtypes
from daq.wire import envelope
from daq.wire.envelope import EnvelopeError, Message


def roundtrip(msg: Message) -> Message:
    frames = [bytes(f) for f in envelope.pack(msg)]
    return envelope.unpack(frames)


def test_structured_and_waveform_arrays_round_trip() -> None:
    feats = np.zeros(4, dtypes.FEATURES)
    feats["trigger_id"] = [1, 1, 2, 2]
    feats["pe"] = [3.5, 7.25, 0.0, 12.0]
    wave = np.arange(2 * 35000, dtype=np.int64).astype(np.int8).reshape(2, 35000)
    msg = Message(stream="events", kind="data", source="builder", run=7, seq=42, meta={"gain": 30.0},
                  arrays={"features": feats, "csi": wave, "empty": np.zeros(0, dtypes.LOSS)})
    out = roundtrip(msg)
    assert (out.stream, out.kind, out.source, out.run, out.seq, out.meta) == ("events", "data", "builder", 7, 42,
                                                                               {"gain": 30.0})
    assert out.arrays["features"].dtype == dtypes.FEATURES
    np.testing.assert_array_equal(out.arrays["features"], feats)
    np.testing.assert_array_equal(out.arrays["csi"], wave)
    assert out.arrays["empty"].shape == (0,) and out.arrays["empty"].dtype == dtypes.LOSS


def test_received_arrays_are_read_only_views_unless_copied() -> None:
    frames = [bytes(f) for f in envelope.pack(Message(stream="s", arrays={"a": np.arange(5)}))]
    assert not envelope.unpack(frames).arrays["a"].flags.writeable
    assert envelope.unpack(frames, copy=True).arrays["a"].flags.writeable


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.int8, np.int16, np.uint16, np.int64, np.float32, np.float64, np.bool_]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7)),
       st.integers(min_value=0, max_value=2**62), st.text(max_size=20))
def test_any_numeric_array_round_trips(arr: np.ndarray, seq: int, source: str) -> None:
    out = roundtrip(Message(stream="x", source=source, seq=seq, arrays={"a": arr}))
    assert out.seq == seq and out.source == source
    assert out.arrays["a"].dtype == arr.dtype and out.arrays["a"].shape == arr.shape
    np.testing.assert_array_equal(out.arrays["a"], arr)


def good_frames() -> list[bytes]:
    return [bytes(f) for f in envelope.pack(Message(stream="s", arrays={"a": np.arange(4, dtype=np.int32)}))]


def with_header(**changes: object) -> list[bytes]:
    frames = good_frames()
    header = json.loads(frames[0])
    header.update(changes)
    return [json.dumps(header).encode(), *frames[1:]]


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        ([], "empty"),
        ([b"\xff\xfe not json"], "not JSON"),
        ([b"[1, 2]"], "not a JSON object"),
        (with_header(v=99), "protocol version 99"),
        (with_header(kind="evil"), "unknown message kind"),
        (with_header(seq="seven"), "'seq'"),
        (good_frames()[:1], "names 1 arrays but 0 buffers"),
        ([good_frames()[0], b"123"], "buffer of 3 bytes"),
        (with_header(arrays=[{"name": "a", "dtype": "|O", "shape": [4]}]), "object"),
        (with_header(arrays=[{"name": "a", "dtype": "<i4", "shape": [-1]}]), "bad shape"),
        (with_header(arrays=[{"name": "a", "dtype": "<i4", "shape": [2**35]}]), "exceeds the limit"),
        ([b" " * (envelope.MAX_HEADER_BYTES + 1)], "exceeds"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(frames: list[bytes], words: str) -> None:
    with pytest.raises(EnvelopeError, match=words):
        envelope.unpack(frames)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=4))
def test_random_bytes_never_escape_as_anything_but_envelope_error(frames: list[bytes]) -> None:
    try:
        envelope.unpack(frames)
    except EnvelopeError:
        pass


def test_gap_detector_counts_missing_sequence_numbers_and_restarts() -> None:
    gaps = envelope.GapDetector()
    for seq in (0, 1, 2, 5, 6, 9):
        gaps(Message(stream="monitor", source="cuts", seq=seq))
    assert gaps.gaps == 2 + 2
    gaps(Message(stream="monitor", source="cuts", seq=0))  # the sender restarted
    assert gaps.restarts == 1 and gaps.gaps == 4
    gaps(Message(stream="monitor", source="other", seq=100))  # first message of a new source: no gap
    assert gaps.gaps == 4
