"""envelope.unpack under structured bad input: every malformed message raises EnvelopeError, and only that.

tests/wire/test_envelope.py checks named malformations and random bytes; this adds
hypothesis-built headers that are valid JSON with bad fields, huge or overflowing shapes,
zero-size and sub-array dtypes, and headers that stress the JSON decoder. Anything other than
EnvelopeError escaping ``unpack`` escapes ``Node.receive`` too and kills the process (or the
supervisor), so "raises EnvelopeError" is the whole contract.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.wire import envelope
from daq.wire.envelope import EnvelopeError
from tests.reliability.malformed import (
    bad_dtype,
    bad_header_field,
    buffer_size_mismatch,
    encode,
    frame_count_mismatch,
    good_header,
    huge_shape,
    malformed_frames,
    pathological_header,
    spec,
    wrong_version,
)


def refused(frames: list[bytes]) -> None:
    with pytest.raises(EnvelopeError):
        envelope.unpack(frames)


# named cases first: each of these escaped unpack as another exception type when written
NAMED = {
    "JSON nested 5000 deep (RecursionError)": [b"[" * 5000],
    "a 5000-digit integer (ValueError: int max str digits)": [b'{"v":' + b"9" * 5000 + b"}"],
    "element count overflows int64 to 0": [encode(good_header(arrays=[spec("a", "|i1", [2**32, 2**32])])), b""],
    "a dimension beyond int64 (OverflowError)": [encode(good_header(arrays=[spec("a", "|i1", [2**70])])), b""],
    "a sub-array dtype": [encode(good_header(arrays=[spec("a", "(2,)<i4", [1])])), b"\0" * 8],
    "a zero-size dtype": [encode(good_header(arrays=[spec("a", "|V0", [3])])), b""],
    "a zero-size string dtype": [encode(good_header(arrays=[spec("a", "<U0", [3])])), b""],
    "two arrays of the same name": [encode(good_header(arrays=[spec("a", "|i1", [1]), spec("a", "|i1", [2])])),
                                    b"\0", b"\0\0"],
}


# named cases first: each of these escaped unpack as another exception type, or was accepted, when written
@pytest.mark.parametrize("what", list(NAMED))
def test_named_pathological_messages_are_refused(what: str) -> None:
    refused(NAMED[what])


@settings(max_examples=150, deadline=None)
@given(bad_header_field())
def test_header_with_a_bad_or_missing_field_is_refused(frames: list[bytes]) -> None:
    refused(frames)


@settings(max_examples=60, deadline=None)
@given(st.one_of(frame_count_mismatch(), wrong_version(), buffer_size_mismatch()))
def test_frame_count_version_and_buffer_size_mismatches_are_refused(frames: list[bytes]) -> None:
    refused(frames)


@settings(max_examples=100, deadline=None)
@given(st.one_of(huge_shape(), bad_dtype()))
def test_huge_shapes_and_bad_dtypes_are_refused(frames: list[bytes]) -> None:
    refused(frames)


@settings(max_examples=30, deadline=None)
@given(pathological_header())
def test_headers_that_stress_the_json_decoder_are_refused(frames: list[bytes]) -> None:
    refused(frames)


@settings(max_examples=200, deadline=None)
@given(malformed_frames())
def test_any_malformed_message_is_refused(frames: list[bytes]) -> None:
    refused(frames)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                max_size=3), max_leaves=10)
FIELDS = st.fixed_dictionaries({}, optional={k: JSON for k in ("v", "kind", "stream", "source", "run", "seq", "meta")})
ARRAY_SPEC = st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=4) | JSON,
    "dtype": JSON | st.sampled_from(["|i1", "<i4", "<f8", "|b1", "(2,)<i2", "|V0", "|O"]),
    "shape": st.lists(st.integers(-2, 2**64), max_size=3) | JSON})


@settings(max_examples=300, deadline=None)
@given(FIELDS, st.lists(ARRAY_SPEC, max_size=3) | JSON, st.lists(st.binary(max_size=24), max_size=4),
       st.booleans())
def test_arbitrary_json_headers_give_envelope_error_or_a_consistent_message(
        fields: dict[str, Any], arrays: Any, buffers: list[bytes], plausible: bool) -> None:
    header = {**good_header(), **fields, "arrays": arrays} if plausible else {**fields, "arrays": arrays}
    try:
        head = json.dumps(header).encode()
    except ValueError:  # an integer JSON cannot write: nothing to send
        return
    try:
        msg = envelope.unpack([head, *buffers])
    except EnvelopeError:
        return
    # accepted: then it must be exactly what the header said
    assert isinstance(arrays, list) and len(arrays) == len(buffers) == len(msg.arrays)
    for item, buf in zip(arrays, buffers, strict=True):
        arr = msg.arrays[item["name"]]
        assert arr.shape == tuple(item["shape"]) and arr.nbytes == len(buf)
        assert not arr.dtype.hasobject and arr.dtype.itemsize > 0
        np.testing.assert_array_equal(arr.reshape(-1).view(np.uint8), np.frombuffer(buf, np.uint8))
