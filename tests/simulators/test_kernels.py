"""Properties of the waveform kernels and the keyed generators."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.kernels import add_gaussian_pulses, digitize, normal_table
from simulators.rng import KeyedGenerator

N_SAMPLES = 2000
TABLE = normal_table()


@settings(max_examples=50, deadline=None)
@given(
    times=st.lists(st.floats(20.0, N_SAMPLES - 20.0), min_size=0, max_size=20),
    charge=st.floats(0.1, 1e4),
    sigma=st.floats(0.3, 4.0),
)
def test_pulses_inside_the_record_keep_their_charge(times, charge, sigma):
    signal = np.zeros(N_SAMPLES)
    add_gaussian_pulses(signal, np.array(times, dtype=float), np.full(len(times), charge), sigma)
    assert abs(signal.sum() - charge * len(times)) <= 1e-9 * charge * (1 + len(times))
    if len(times) == 1:
        assert abs(int(np.argmax(signal)) - times[0]) <= 0.5 + 1e-9


@settings(max_examples=50, deadline=None)
@given(
    baseline=st.floats(-50.0, 150.0),
    level=st.floats(-500.0, 500.0),
    polarity=st.sampled_from([-1, 1]),
    bits=st.sampled_from([8, 12]),
)
def test_noiseless_digitize_rounds_and_clips(baseline, level, polarity, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out = np.empty(101, np.int8 if bits == 8 else np.int16)
    signal = np.full(101, level)
    digitize(signal, baseline, 0.0, polarity, np.uint64(1), TABLE, lo, hi, out)
    expected = np.clip(np.floor(baseline + polarity * level + 0.5), lo, hi)
    np.testing.assert_array_equal(out, expected)


def test_noise_has_the_requested_rms_and_depends_only_on_the_seed():
    out = [np.empty(200_000, np.int16) for _ in range(3)]
    for o, seed in zip(out, (5, 5, 6), strict=True):
        digitize(np.zeros(len(o)), 0.0, 10.0, -1, np.uint64(seed), TABLE, -2048, 2047, o)
    assert np.array_equal(out[0], out[1]) and not np.array_equal(out[0], out[2])
    x = out[0].astype(float)
    assert abs(x.mean()) < 0.1 and abs(x.std() - np.sqrt(100 + 1 / 12)) < 0.1
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01  # neighbouring samples independent


def test_keyed_generators_repeat_per_key_and_differ_between_keys():
    gen = KeyedGenerator(seed=1, stream=2)
    a = gen.at(10).random(5)
    b = gen.at(11).random(5)
    assert np.array_equal(gen.at(10).random(5), a) and not np.array_equal(a, b)
    assert not np.array_equal(KeyedGenerator(seed=1, stream=3).at(10).random(5), a)
    assert not np.array_equal(KeyedGenerator(seed=2, stream=2).at(10).random(5), a)
