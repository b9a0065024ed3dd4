"""What each data stream carries: the arrays of a ``data`` message and their dtypes.

Receivers check every message against this before touching it (:func:`validate`): a message
with a valid envelope but the wrong arrays (missing, wrong dtype, inconsistent lengths) is
rejected and counted as malformed, exactly like a broken envelope — it never reaches the
processing code.

Waveforms travel only as far as they are needed. On the ``records`` stream every record has
its ``csi`` and ``veto`` rows. On the event streams (``events``, ``vetoed``, ``selected``) a
channel is carried whole (one row per trigger) when the recorder writes it, and empty (no rows)
past the last stage that reads it otherwise: the builder drops CsI, the veto trigger drops the
veto channel. ``view_csi`` and ``view_veto`` carry the batch's last record (at most one row) for
the waveform viewer either way.
"""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.wire.envelope import EnvelopeError, Message

PER_TRIGGER_TABLES = {
    "features": dtypes.FEATURES,
    "peaks": dtypes.PEAK,
    "beam": dtypes.BEAM_PULSE,
    "truth_events": dtypes.TRUTH_EVENT,
    "truth_windows": dtypes.TRUTH_WINDOW,
    "losses": dtypes.LOSS,
    "veto_hits": dtypes.VETO_HIT,
    "selected": dtypes.SELECTED,
}
RECORDS = {"triggers": dtypes.TRIGGER, "truth_events": dtypes.TRUTH_EVENT, "truth_windows": dtypes.TRUTH_WINDOW,
           "losses": dtypes.LOSS}
BEAM = {"beam": dtypes.BEAM_PULSE, "losses": dtypes.LOSS}
EVENTS = {"triggers": dtypes.TRIGGER, **PER_TRIGGER_TABLES}
WAVEFORMS = ("csi", "veto")
VIEWS = ("view_csi", "view_veto")
DATA_KINDS = frozenset({"sor", "data", "dq", "eor"})
STREAMS = {"records": (RECORDS, True), "beam": (BEAM, False), "events": (EVENTS, True),
           "vetoed": (EVENTS, True), "selected": (EVENTS, True)}


def validate(msg: Message, stream: str, n_samples: int) -> None:
    """Raise EnvelopeError unless ``msg`` is a well-formed message of ``stream``."""
    if msg.stream != stream:
        raise EnvelopeError(f"expected stream {stream!r}, got {msg.stream!r}")
    if msg.kind not in DATA_KINDS:
        raise EnvelopeError(f"kind {msg.kind!r} does not travel on the {stream} stream")
    if msg.kind == "dq":
        dq = msg.arrays.get("dq")
        if dq is None or dq.dtype != dtypes.DQ or dq.ndim != 1:
            raise EnvelopeError("dq message without a 1-d DQ array")
        return
    if msg.kind != "data":
        return
    tables, waveforms = STREAMS[stream]
    for name, dt in tables.items():
        arr = msg.arrays.get(name)
        if arr is None:
            raise EnvelopeError(f"{stream} data message lacks array {name!r}")
        if arr.dtype != dt or arr.ndim != 1:
            raise EnvelopeError(f"{stream} array {name!r} has dtype {arr.dtype} shape {arr.shape}, expected 1-d {name}")
    if not waveforms:
        return
    n = len(msg.arrays["triggers"])
    if n and np.any(np.diff(msg.arrays["triggers"]["trigger_id"]) <= 0):
        raise EnvelopeError(f"{stream} triggers are not in increasing trigger-id order")
    events = stream != "records"
    for name in WAVEFORMS:
        arr = msg.arrays.get(name)
        if arr is None or arr.dtype != np.int8 or arr.ndim != 2 or arr.shape[1] != n_samples or (
                arr.shape[0] != n and not (events and arr.shape[0] == 0)):
            got = None if arr is None else (arr.dtype, arr.shape)
            rows = f"{n} (or 0: not carried)" if events else f"{n}"
            raise EnvelopeError(f"{stream} waveform {name!r}: expected int8 ({rows}, {n_samples}), got {got}")
    for name in VIEWS if events else ():
        arr = msg.arrays.get(name)
        if (arr is None or arr.dtype != np.int8 or arr.ndim != 2 or arr.shape[1] != n_samples
                or arr.shape[0] > min(n, 1)):
            got = None if arr is None else (arr.dtype, arr.shape)
            raise EnvelopeError(f"{stream} viewer waveform {name!r}: expected int8 (<= {min(n, 1)}, {n_samples}), "
                                f"got {got}")
    if "features" in tables and len(msg.arrays["features"]) != 2 * n:
        raise EnvelopeError(f"{stream}: {len(msg.arrays['features'])} feature rows for {n} triggers (expected 2 each)")
