"""Muon-veto hit finding on hand-built veto traces (daq.kernels.veto_hits)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq import config, dtypes
from daq.kernels.veto_hits import find_veto_hits

CFG = config.load()
POL = CFG.digitizer.polarity
THR = CFG.veto.threshold_adc
DEAD = round(CFG.veto.deadtime_ns / CFG.digitizer.sample_ns)
NBASE = CFG.veto.baseline_samples
DT = CFG.digitizer.sample_ns
N = 35000


def trace(baseline: int = 100) -> np.ndarray:
    return np.full(N, baseline, np.int64)


def pulse(x: np.ndarray, start: int, heights: list[int], polarity: int = POL) -> None:
    """Put a pulse with the given heights above baseline at ``start`` (in place)."""
    x[start : start + len(heights)] += polarity * np.asarray(heights)


def hits_of(*traces: np.ndarray, polarity: int = POL, ids: list[int] | None = None) -> np.ndarray:
    ids = np.arange(500, 500 + len(traces)) if ids is None else np.asarray(ids)
    raw = np.clip(np.stack(traces), -128, 127).astype(np.int8)
    return find_veto_hits(raw, ids, polarity, THR, DEAD, NBASE, DT)


def test_flat_trace_has_no_hits() -> None:
    hits = hits_of(trace())
    assert hits.dtype == dtypes.VETO_HIT and hits.size == 0


def test_single_pulse_time_and_amplitude() -> None:
    x = trace()
    heights = [5, int(THR), 50, 80, 30, 10]  # crosses at its second sample, peaks at 80
    pulse(x, 1000, heights)
    hits = hits_of(x)
    assert hits.size == 1
    assert hits["time_ns"][0] == 1001 * DT and hits["amplitude"][0] == max(heights)
    assert hits["trigger_id"][0] == 500


def test_below_threshold_is_not_a_hit() -> None:
    x = trace()
    pulse(x, 1000, [int(THR) - 1] * 20)
    assert hits_of(x).size == 0


def test_deadtime_suppresses_a_second_crossing() -> None:
    x = trace()
    pulse(x, 1000, [60, 60])
    pulse(x, 1000 + DEAD - 1, [60, 60])  # a new crossing inside the deadtime: same hit
    pulse(x, 1000 + DEAD - 1 + DEAD + 5, [40])  # long after: a new hit
    hits = hits_of(x)
    assert list(hits["time_ns"]) == [1000 * DT, (1000 + 2 * DEAD + 4) * DT]


def test_crossing_exactly_at_the_deadtime_is_a_new_hit() -> None:
    x = trace()
    pulse(x, 1000, [60])
    pulse(x, 1000 + DEAD, [60])
    assert list(hits_of(x)["time_ns"]) == [1000 * DT, (1000 + DEAD) * DT]


def test_baseline_is_the_mean_of_the_first_samples() -> None:
    x = trace(91)
    x[:NBASE:2] = 90  # first samples alternate 90, 92: baseline 91 exactly
    x[1:NBASE:2] = 92
    pulse(x, 4000, [int(THR) - 1])
    pulse(x, 8000, [int(THR)])
    hits = hits_of(x)
    assert list(hits["time_ns"]) == [8000 * DT] and hits["amplitude"][0] == int(THR)


def test_hits_keep_their_trigger_ids_and_record_order() -> None:
    a, b, c = trace(), trace(), trace()
    pulse(a, 200, [50])
    pulse(a, 9000, [50])
    pulse(c, 300, [70])
    hits = hits_of(a, b, c, ids=[7, 8, 9])
    assert list(hits["trigger_id"]) == [7, 7, 9]
    assert list(hits["time_ns"]) == [200 * DT, 9000 * DT, 300 * DT]


def test_positive_polarity() -> None:
    x = trace(-100)
    pulse(x, 700, [30, 45, 20], polarity=1)
    hits = hits_of(x, polarity=1)
    assert list(hits["time_ns"]) == [700 * DT] and hits["amplitude"][0] == 45


@settings(max_examples=30, deadline=None)
@given(gaps=st.lists(st.integers(1, 3000), min_size=0, max_size=15))
def test_hit_count_respects_deadtime(gaps: list[int]) -> None:
    x = trace()
    starts = NBASE + 10 + np.cumsum(gaps).astype(int) * 2 if gaps else np.array([], int)
    starts = starts[starts < N - 5]
    for s in starts:
        pulse(x, s, [40])
    hits = hits_of(x)
    expected, last = [], -(10**9)
    for s in starts:
        if s - last >= DEAD:
            expected.append(s)
            last = s
    assert list(hits["time_ns"]) == [s * DT for s in expected]


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="int8"):
        find_veto_hits(np.zeros((1, 10), np.int16), np.zeros(1), POL, THR, DEAD, NBASE, DT)
    with pytest.raises(ValueError, match="trigger_ids"):
        find_veto_hits(np.zeros((2, 10), np.int8), np.zeros(1), POL, THR, DEAD, NBASE, DT)


def test_read_only_input() -> None:
    x = trace()
    pulse(x, 300, [50])
    raw = np.clip(x, -128, 127).astype(np.int8)[None]
    raw.flags.writeable = False
    assert find_veto_hits(raw, np.array([3]), POL, THR, DEAD, NBASE, DT)["time_ns"].tolist() == [300 * DT]


def oracle_hits(x: np.ndarray, polarity: int) -> list[tuple[int, float]]:
    """The module docstring's definition, written with numpy: (sample, amplitude) of each hit."""
    s = polarity * (x - x[:NBASE].mean())
    crossings = np.flatnonzero((s[1:] >= THR) & (s[:-1] < THR)) + 1
    out, last = [], -(10**9)
    for i in crossings:
        if i - last >= DEAD:
            below = np.flatnonzero(s[i:] < THR)
            end = i + below[0] if below.size else s.size
            out.append((int(i), float(s[i:end].max())))
            last = i
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pulses=st.integers(0, 40), polarity=st.sampled_from([-1, 1]))
def test_hits_agree_with_a_numpy_oracle(seed: int, n_pulses: int, polarity: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.round(-polarity * 100 + rng.normal(0, 3.0, N)).astype(np.int64)  # noisy: crossings near threshold
    for start in rng.integers(NBASE, N - 50, n_pulses):
        pulse(x, int(start), list(rng.integers(0, 90, rng.integers(1, 40))), polarity=polarity)
    raw = np.clip(x, -128, 127).astype(np.int8)
    hits = find_veto_hits(raw[None], np.array([1]), polarity, THR, DEAD, NBASE, DT)
    expected = oracle_hits(raw.astype(np.int64), polarity)
    assert list(hits["time_ns"]) == [i * DT for i, _ in expected]
    assert np.allclose(hits["amplitude"], [a for _, a in expected])
