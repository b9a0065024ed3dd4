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
