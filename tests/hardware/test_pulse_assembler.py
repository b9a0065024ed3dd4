"""PulseAssembler: CA updates -> BEAM_PULSE rows, with every missing pulse counted (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from daq.hardware.epics_beam import PulseAssembler, epics_stamp_to_ns, ns_to_epics_stamp

FIELDS = ("pulse_id", "pot", "power_mw", "beam_on", "good")
T0 = 1_767_225_600_000_000_000
DT = 16_666_667
TIMEOUT = 0.5


def stamp(k: int) -> int:
    return T0 + k * DT


def send(a: PulseAssembler, k: int, now: float, fields: tuple[str, ...] = FIELDS) -> None:
    values = {"pulse_id": k, "pot": 1.5e14 + k, "power_mw": 1.4, "beam_on": 1, "good": 1}
    for f in fields:
        a.add(f, stamp(k), values[f], now)


@pytest.fixture
def asm() -> PulseAssembler:
    return PulseAssembler(FIELDS, TIMEOUT, energy_gev=1.0)


def test_complete_pulses_come_out_in_time_order(asm: PulseAssembler) -> None:
    send(asm, 1, 0.0)
    send(asm, 0, 0.0)
    asm.advance(0.0)
    rows, missed = asm.collect(10)
    np.testing.assert_array_equal(rows["pulse_id"], [0, 1])
    np.testing.assert_array_equal(rows["time"], [stamp(0), stamp(1)])
    assert rows["pot"][1] == 1.5e14 + 1 and rows["energy_gev"][0] == 1.0 and rows["good"].all()
    assert missed == 0


def test_a_pulse_waits_for_its_last_field_then_times_out_as_missed(asm: PulseAssembler) -> None:
    send(asm, 0, 0.0)
    send(asm, 1, 0.1, fields=("pulse_id", "power_mw", "beam_on", "good"))  # no POT
    send(asm, 2, 0.2)
    asm.advance(0.3)
    assert asm.collect(10)[0]["pulse_id"].tolist() == [0]  # 2 waits behind the incomplete 1
    asm.advance(0.1 + TIMEOUT)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [2] and missed == 1
    assert asm.stats["incomplete"] == 1 and asm.stats["gaps"] == 0


def test_gaps_in_pulse_id_are_counted(asm: PulseAssembler) -> None:
    for k in (0, 1, 4, 5, 9):
        send(asm, k, 0.0)
    asm.advance(0.0)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [0, 1, 4, 5, 9] and missed == 2 + 3


def test_an_incomplete_pulse_without_its_id_is_counted_once(asm: PulseAssembler) -> None:
    send(asm, 0, 0.0)
    send(asm, 1, 0.0, fields=("pot", "power_mw"))  # the pulse-id update never came
    send(asm, 2, 0.0)
    asm.advance(TIMEOUT)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [0, 2] and missed == 1


def test_late_fields_of_a_dropped_pulse_and_repeats_are_ignored(asm: PulseAssembler) -> None:
    send(asm, 0, 0.0)
    send(asm, 1, 0.0, fields=("pulse_id",))
    send(asm, 2, 0.0)
    asm.advance(TIMEOUT)
    send(asm, 1, TIMEOUT, fields=("pot", "power_mw", "beam_on", "good"))  # too late
    send(asm, 2, TIMEOUT)  # a reconnect re-sends the current value
    asm.advance(TIMEOUT)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [0, 2] and missed == 1
    assert asm.stats["stale"] == 4 + 5


def test_counting_starts_at_the_first_complete_pulse(asm: PulseAssembler) -> None:
    send(asm, 7, 0.0, fields=("pot",))  # we connected in the middle of pulse 7
    send(asm, 8, 0.0)
    asm.advance(TIMEOUT)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [8] and missed == 0 and asm.stats["warmup_dropped"] == 1


def test_a_restarted_source_rebases_without_counting(asm: PulseAssembler) -> None:
    send(asm, 100, 0.0)
    asm.advance(0.0)
    for k in (0, 1):  # the source restarted its ids (timestamps still move forward)
        for f, v in {"pulse_id": k, "pot": 1.0, "power_mw": 1.0, "beam_on": 1, "good": 1}.items():
            asm.add(f, stamp(200 + k), v, 0.0)
    asm.advance(0.0)
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [100, 0, 1] and missed == 0 and asm.stats["resets"] == 1


def test_flush_counts_an_incomplete_pulse_older_than_a_complete_one(asm: PulseAssembler) -> None:
    send(asm, 0, 0.0)
    send(asm, 1, 0.0, fields=("pulse_id", "pot"))
    send(asm, 2, 0.0)
    send(asm, 3, 0.0, fields=("pulse_id",))  # in flight when the run stops
    asm.flush()
    rows, missed = asm.collect(10)
    assert rows["pulse_id"].tolist() == [0, 2] and missed == 1


def test_good_defaults_to_beam_on_with_protons_when_not_configured() -> None:
    asm = PulseAssembler(FIELDS[:-1], TIMEOUT, energy_gev=1.0)
    for k, (pot, on) in enumerate(((1e14, 1), (0.0, 1), (1e14, 0))):
        for f, v in {"pulse_id": k, "pot": pot, "power_mw": 1.0, "beam_on": on}.items():
            asm.add(f, stamp(k), v, 0.0)
    asm.advance(0.0)
    assert asm.collect(10)[0]["good"].tolist() == [True, False, False]


def test_epics_timestamps_round_trip_to_the_nanosecond() -> None:
    for t in (T0, T0 + 1, stamp(12345)):
        assert epics_stamp_to_ns(*ns_to_epics_stamp(t)) == t
    assert ns_to_epics_stamp(631_152_000 * 10**9 + 7) == (0, 7)
