"""Trigger accounting: recorded + declared losses + found-missing = generated, with reasons."""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.stages import accounting


def losses(*rows: tuple[int, int, str]) -> np.ndarray:
    out = np.zeros(len(rows), dtypes.LOSS)
    for i, (first, count, reason) in enumerate(rows):
        out[i] = (first, count, 0, b"reader", reason.encode())
    return out


def test_id_ranges_merge_contiguous_batches() -> None:
    r = accounting.IdRanges()
    for chunk in (np.arange(0, 5), np.arange(5, 9), np.arange(12, 14), np.array([14])):
        r.add(chunk)
    assert r.ranges == [[0, 9], [12, 15]] and r.count() == 12


def test_everything_recorded_or_declared_closes_without_rows() -> None:
    acc = accounting.close(100, [np.arange(0, 40), np.arange(50, 100)], losses((40, 10, "digitizer buffer full")), [])
    assert (acc.recorded, acc.lost, acc.unaccounted, len(acc.missing_rows)) == (90, 10, 0, 0)


def test_missing_ids_are_unaccounted_without_restarts() -> None:
    acc = accounting.close(100, [np.arange(0, 30), np.arange(35, 100)], losses(), [])
    assert acc.unaccounted == 5 and acc.lost == 5 and acc.recorded == 95
    row = acc.missing_rows[0]
    assert (row["trigger_id"], row["count"], row["reason"]) == (30, 5, b"unaccounted")


def test_missing_ids_across_a_restart_are_attributed_to_it() -> None:
    acc = accounting.close(200, [np.arange(0, 120), np.arange(131, 190)], losses((190, 10, "buffer")),
                           [{"process": "builder", "time_ns": 1}])
    assert acc.unaccounted == 0
    assert acc.recorded + acc.lost == 200
    assert acc.missing_rows["reason"].tolist() == [b"lost in restart of builder"]
    assert acc.missing_rows["trigger_id"].tolist() == [120] and acc.missing_rows["count"].tolist() == [11]


def test_ids_recorded_twice_or_outside_the_run_are_counted_and_make_the_run_not_ok() -> None:
    # two DAQs on one socket: the same ids twice, and ids past the end of this run's triggers
    acc = accounting.close(100, [np.arange(0, 100), np.arange(0, 60), np.arange(150, 170)], losses(), [])
    assert acc.recorded == 100 and acc.lost == 0 and acc.unaccounted == 0
    assert acc.duplicated == 60 and acc.outside == 20
    assert acc.problems() == ["60 trigger ids recorded more than once",
                              "20 trigger ids outside the run's [0, generated)"]
    assert accounting.close(100, [np.arange(0, 100)], losses(), []).problems() == []


def test_id_ranges_count_what_was_there_already() -> None:
    r = accounting.IdRanges()
    assert r.add(np.arange(10, 20)) == 0
    assert r.add(np.arange(0, 5)) == 0  # before the first range
    assert r.add(np.arange(15, 30)) == 5
    assert r.add(np.array([3, 3, 40])) == 2  # one already there, one repeated within the batch
    assert r.ranges == [[0, 5], [10, 30], [40, 41]] and r.count() == 26


def test_gaps_in_the_beam_pulse_ids_are_lost_pulses() -> None:
    beam = accounting.close_beam([np.arange(100, 150), np.arange(160, 200), np.array([199])])
    assert beam.pulses == 90 and beam.missing == 10 and beam.duplicated == 1
    assert len(beam.missing_rows) == 1 and beam.missing_rows["count"][0] == 10
    assert beam.missing_rows["reason"][0].decode() == "beam pulses 150-159 missing"
