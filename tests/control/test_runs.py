"""Run numbers increase, and never reuse the number of an existing file."""

from __future__ import annotations

from pathlib import Path

from daq.control.run_numbers import next_run_number


def test_run_numbers_count_up_and_skip_existing_files(tmp_path: Path) -> None:
    assert [next_run_number(tmp_path) for _ in range(3)] == [1, 2, 3]
    (tmp_path / "run_000010.h5").touch()
    assert next_run_number(tmp_path) == 11
    (tmp_path / "last_run_number").unlink()  # a lost counter: the files still rule out reuse
    assert next_run_number(tmp_path) == 11
