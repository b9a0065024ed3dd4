"""Replay inputs: sub-run files replay as one run; damaged files replay what is valid and say where they stopped.

Also the replay devices themselves (in-process, no DAQ processes): records and pulses as
recorded, input losses declared again, pacing by the recorded trigger times.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import numpy.lib.recfunctions as rfn
import pytest

from daq import config, dtypes
from daq.hardware.protocols import LossRecord, RunParameters
from daq.replay.sources import MAX_SPEED, ReplayBeam, ReplayDigitizer
from tests.replay.replay_helpers import (
    corrupt_raw_chunk,
    last_json,
    read_run,
    sevens,
    split_into_sub_runs,
    truncate,
    without_raw,
    write_run,
)


def features(path: str | Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["features"][:]


def own_config(run: Path, tmp_path: Path) -> Path:
    with h5py.File(run, "r") as f:
        text = str(f.attrs["config"])
    path = tmp_path / "own.toml"
    path.write_text(text)
    return path


def test_sub_run_files_replay_as_one_run(recorded_run: Path, replayed: dict, tmp_path: Path) -> None:
    """A run split in two files, the second repeating a few records (a restart), replays as the whole run."""
    with h5py.File(recorded_run, "r") as f:
        n = len(f["triggers"])
    files = split_into_sub_runs(recorded_run, tmp_path, at=n // 2 + 5, overlap=7)
    proc = sevens("replay", str(files[1]), "--out", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = last_json(proc)
    assert result["input"] == [str(p.resolve()) for p in files]
    assert result["triggers"] == n and result["stopped_at"] == []
    assert features(result["file"]).tobytes() == features(replayed["file"]).tobytes()
    # the raw waveforms link to both files (the repeated records read from the first), as recorded
    assert result["raw"] == "link" and result["raw_linked_segments"] == {"csi": 2, "veto": 2}
    with h5py.File(result["file"], "r") as f, h5py.File(recorded_run, "r") as g:
        for name in ("raw/csi", "raw/veto"):
            assert f[name].is_virtual
            assert f[name][:].tobytes() == g[name][:].tobytes()


def check_stopped_prefix(result: dict, damaged: Path, recorded_run: Path, row: int) -> None:
    """The replay holds exactly the records before ``row``, bit for bit, and accounts for the rest."""
    (stop,) = result["stopped_at"]
    assert stop["file"] == str(damaged.resolve()) and stop["trigger_index"] == row, stop
    assert "unreadable" in stop["reason"]
    assert result["triggers"] == row
    assert features(result["file"]).tobytes() == features(recorded_run)[: 2 * row].tobytes()
    with h5py.File(result["file"], "r") as f, h5py.File(recorded_run, "r") as g:
        a = f.attrs
        # the input's own losses are declared again; those after the cut may be gone with it (with the
        # losses table), so the ids not replayed reach at least stop id + rows not replayed, at most
        # what the intact input generated (the two agree when it lost nothing)
        generated = g.attrs["triggers_generated"]
        assert a["triggers_generated"] == a["triggers_recorded"] + a["triggers_lost"]
        assert stop["trigger_id"] + stop["rows_not_replayed"] <= a["triggers_generated"] <= generated
        losses = f["losses"][:]
        unread = losses[losses["reason"] == b"replay: input unreadable"]
        assert unread["trigger_id"].min() == g["triggers"]["trigger_id"][row] == stop["trigger_id"]
        last = int(f["triggers"]["time"][-1])
        assert f["beam"]["time"].max() < last + 30_000_000  # the exposure stops where the records stop


def test_truncated_file_replays_its_valid_part_and_says_where_it_stopped(recorded_run: Path, tmp_path: Path) -> None:
    damaged = truncate(recorded_run, tmp_path / recorded_run.name, 0.55)
    proc = sevens("replay", str(damaged), "--config", str(own_config(recorded_run, tmp_path)),
                  "--out", str(tmp_path / "out"), "--json", timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = last_json(proc)
    row = result["stopped_at"][0]["trigger_index"]
    assert 0 < row < result["input_triggers"]
    assert f"stopped at row {row}" in proc.stderr
    check_stopped_prefix(result, damaged, recorded_run, row)
    report = sevens("report", str(damaged), "--out", str(tmp_path / "report"))
    assert report.returncode == 2 and "sevens replay" in report.stderr and "Traceback" not in report.stderr


def test_corrupt_chunk_is_skipped_and_its_records_counted_lost(recorded_run: Path, tmp_path: Path) -> None:
    """A raw chunk that fails its checksum costs its own records, counted lost naming the rows; the file
    goes on after it."""
    with h5py.File(recorded_run, "r") as f:
        n_chunks = f["raw/csi"].id.get_num_chunks()
        step, ids = f["raw/csi"].chunks[0], f["triggers"]["trigger_id"][:]
    damaged = tmp_path / recorded_run.name
    row = corrupt_raw_chunk(recorded_run, damaged, n_chunks // 2)
    proc = sevens("replay", str(damaged), "--out", str(tmp_path / "out"), "--json", "--no-raw", timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = last_json(proc)
    (skip,) = result["stopped_at"]
    assert skip["skipped"] and skip["rows"] == [row, row + step - 1] and skip["rows_not_replayed"] == step, skip
    assert f"raw/csi rows {row}-{row + step - 1}" in skip["reason"] and "checksum" in skip["reason"]
    assert result["triggers"] == len(ids) - step
    assert result["exit_status"].startswith("damaged input")
    assert features(result["file"])[: 2 * row].tobytes() == features(recorded_run)[: 2 * row].tobytes()
    with h5py.File(result["file"], "r") as f:
        a, losses = f.attrs, f["losses"][:]
        assert a["triggers_generated"] == a["triggers_recorded"] + a["triggers_lost"]
        assert not np.isin(ids[row:row + step], f["triggers"]["trigger_id"][:]).any()
    bad = losses[losses["reason"] == f"bad checksum: raw/csi rows {row}-{row + step - 1}".encode()]
    assert bad["count"].sum() == step and bad["trigger_id"].min() == ids[row]


def test_missing_raw_waveforms_are_a_clear_error(recorded_run: Path, tmp_path: Path) -> None:
    stripped = without_raw(recorded_run, tmp_path / recorded_run.name)
    proc = sevens("replay", str(stripped))
    assert proc.returncode == 2
    assert "no 'raw/csi' dataset (recorder.raw_csi = false)" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- the devices, in-process ----------------------------------------------------------------
def small_input(recorded_run: Path, tmp_path: Path, n: int = 300, lost: tuple[int, int] = (100, 50),
                generated: int | None = None, swmr: bool = False) -> Path:
    """Trigger ids 0 .. ``n``-1 with ids lost[0] .. lost[0]+lost[1]-1 lost in a full buffer
    (``generated``: its ``triggers_generated``, default ``n``; ``swmr``: see ``write_run``).

    The records are the run's first ``n - lost[1]`` rows, given those ids: the recorded run may have
    lost triggers of its own (a loaded host), and this input must hold just the loss it declares."""
    attrs, t = read_run(recorded_run)
    rows = n - lost[1]
    old_ids = t["triggers"]["trigger_id"][:rows]
    new_ids = np.r_[0:lost[0], lost[0] + lost[1]:n]
    part: dict[str, np.ndarray] = {}
    for name, table in t.items():
        if name.startswith("raw/") or not table.dtype.names or "trigger_id" not in table.dtype.names:
            continue
        kept = table[np.isin(table["trigger_id"], old_ids)]
        kept["trigger_id"] = new_ids[np.searchsorted(old_ids, kept["trigger_id"])]
        part[name] = kept
    part.update({"raw/csi": t["raw/csi"][:rows], "raw/veto": t["raw/veto"][:rows], "dq": t["dq"][:0],
                 "beam": t["beam"][t["beam"]["time"] <= t["triggers"]["time"][rows - 1] + 8_000_000]})
    loss = np.zeros(1 if lost[1] else 0, dtypes.plain(dtypes.LOSS))
    if lost[1]:
        loss[0] = (lost[0], lost[1], 0, b"reader", b"digitizer buffer full")
    part["losses"] = loss
    path = tmp_path / "run_000001.h5"
    write_run(path, {**attrs, "triggers_generated": n if generated is None else generated}, part, swmr=swmr)
    return path


def test_a_cut_short_input_that_lost_triggers_past_the_cut_accounts_for_every_trigger_id(
        recorded_run: Path, tmp_path: Path) -> None:
    """Records 0-199 and 250-299, ids 200-249 lost live, no stop record (a recorder killed, then the
    file cut short): the ids not replayed reach 300, past the rows' count (250) by the loss."""
    (tmp_path / "src").mkdir()
    src = small_input(recorded_run, tmp_path / "src", n=300, lost=(200, 50), generated=-1, swmr=True)
    damaged = truncate(src, tmp_path / src.name, 0.3)  # in raw/csi, before row 200
    proc = sevens("replay", str(damaged), "--config", str(own_config(recorded_run, tmp_path)),
                  "--out", str(tmp_path / "out"), "--json", timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = last_json(proc)
    (stop,) = result["stopped_at"]
    assert 0 < stop["trigger_id"] < 200 and stop["rows_not_replayed"] == 250 - stop["trigger_index"]
    with h5py.File(result["file"], "r") as f:
        a, losses = f.attrs, f["losses"][:]
        assert a["triggers_generated"] == 300 == a["triggers_recorded"] + a["triggers_lost"]
        by_reason = {r.decode(): sorted((int(i), int(c)) for i, c, why in zip(
            losses["trigger_id"], losses["count"], losses["reason"], strict=True) if why == r)
            for r in set(losses["reason"])}
    assert by_reason == {"digitizer buffer full": [(200, 50)],
                         "replay: input unreadable": [(stop["trigger_id"], 200 - stop["trigger_id"]), (250, 50)]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        self.now += dt


def devices(path: Path, tmp_path: Path, speed: float, clock: FakeClock | None = None) -> tuple:
    with h5py.File(path, "r") as f:
        cfg = config.with_overrides(config.parse(str(f.attrs["config"])),
                                    {"replay": {"files": [str(path)]}, "run": {"directory": str(tmp_path)}})
    kw = {"clock": clock, "sleep": clock.sleep} if clock else {}
    dig, beam = ReplayDigitizer(**kw), ReplayBeam(**kw)
    params = RunParameters(run_number=3, seed=0, rate_boost=1.0, speed=speed, start_time_ns=0)
    dig.configure(cfg, params)
    beam.configure(cfg, params)
    dig.start()
    beam.start()
    return dig, beam


def test_devices_deliver_the_records_and_pulses_and_declare_input_losses(recorded_run: Path, tmp_path: Path) -> None:
    path = small_input(recorded_run, tmp_path)
    dig, beam = devices(path, tmp_path, MAX_SPEED)
    ids, losses, pulses, carriers = [], [], [], []
    while not dig.exhausted:
        batch = dig.fetch(64, 0.01)
        ids.append(batch.triggers["trigger_id"])
        losses += batch.losses
        if batch.losses:
            carriers.append(batch.triggers["trigger_id"])
        assert batch.waveforms["csi"].shape == (len(batch), 35000)
        pulses.append(beam.fetch(64, 0.0)[0])
    assert dig.stop() == 300  # generated: every trigger id, recorded or lost
    beam.stop()
    while len(p := beam.fetch(64, 0.0)[0]):
        pulses.append(p)
    attrs, t = read_run(path, with_raw=False)
    assert np.array_equal(np.concatenate(ids), t["triggers"]["trigger_id"])
    assert losses == [LossRecord(100, 50, "digitizer buffer full")]
    # no later than the first record after it (150), so the DQ rows count it where the live run did
    assert len(carriers) == 1 and len(carriers[0]) and carriers[0][0] <= 150
    assert np.concatenate(pulses).astype(t["beam"].dtype).tobytes() == t["beam"].tobytes()
    dig.close()
    beam.close()
    assert not list(tmp_path.glob(".replay_*.gate"))


def test_speed_one_delivers_records_at_their_recorded_times(recorded_run: Path, tmp_path: Path) -> None:
    path = small_input(recorded_run, tmp_path, lost=(0, 0))
    clock = FakeClock()
    dig, beam = devices(path, tmp_path, 1.0, clock)
    times = read_run(path, with_raw=False)[1]["triggers"]["time"]
    assert len(dig.fetch(64, 0.0)) == 1  # trigger 0 is due at start
    clock.now += 0.1
    batch = dig.fetch(64, 0.0)
    assert len(batch) == np.count_nonzero(times <= times[0] + 100_000_000) - 1
    pulses, _ = beam.fetch(64, 0.0)
    assert len(pulses) and pulses["time"].max() <= times[0] + 100_000_000
    start = clock.now
    batch = dig.fetch(1, 1.0)  # waits (on the clock) for the next record
    assert len(batch) == 1 and clock.now - start == pytest.approx((batch.triggers["time"][0] - times[0]) / 1e9 - 0.1,
                                                                  abs=1e-3)


# -- tables are read by field name ----------------------------------------------------------
def reordered(rows: np.ndarray, first: tuple[str, ...], **retype: str) -> np.ndarray:
    """``rows`` with the fields ``first`` moved to the front (and fields of ``retype`` given another type)."""
    names = [*first, *(n for n in rows.dtype.names or () if n not in first)]
    dt = np.dtype([(n, retype.get(n, rows.dtype.fields[n][0])) for n in names])
    out = np.zeros(len(rows), dt)
    for n in names:
        out[n] = rows[n]
    return out


def with_table(src: Path, dst: Path, name: str, rows: np.ndarray) -> Path:
    attrs, t = read_run(src)
    t[name] = rows
    write_run(dst, attrs, t)
    return dst


def test_tables_are_read_by_field_name_not_by_position(recorded_run: Path, tmp_path: Path) -> None:
    """A file whose beam table has ``time`` before ``pulse_id`` (and triggers ``time`` before
    ``trigger_id``) replays the same records and pulses: fields are matched by name."""
    path = small_input(recorded_run, tmp_path)
    attrs, t = read_run(path, with_raw=False)
    swapped = with_table(path, tmp_path / "swapped.h5", "beam", reordered(t["beam"], ("time", "pulse_id")))
    swapped = with_table(swapped, tmp_path / "run_000002.h5", "triggers", reordered(t["triggers"], ("time",)))
    dig, beam = devices(swapped, tmp_path, MAX_SPEED)
    ids, pulses = [], []
    while not dig.exhausted:
        ids.append(dig.fetch(64, 0.01).triggers["trigger_id"])
        pulses.append(beam.fetch(64, 0.0)[0])
    dig.stop()
    beam.stop()
    while len(p := beam.fetch(64, 0.0)[0]):
        pulses.append(p)
    dig.close()
    beam.close()
    assert np.array_equal(np.concatenate(ids), t["triggers"]["trigger_id"])
    got = np.concatenate(pulses)
    for name in ("pulse_id", "time", "pot", "beam_on"):
        assert np.array_equal(got[name], t["beam"][name]), name


@pytest.mark.parametrize(("table", "rows", "words"), [
    ("beam", lambda t: rfn.drop_fields(t["beam"], "pot", usemask=False), "table 'beam' has no field 'pot'"),
    ("beam", lambda t: reordered(t["beam"], (), time="<f8"), "table 'beam' field 'time' is <f8, expected <i8"),
    ("triggers", lambda t: reordered(t["triggers"], (), trigger_id="<f4"), "table 'triggers' field 'trigger_id'"),
])
def test_a_foreign_table_layout_is_one_line_naming_the_file_table_and_field(
        recorded_run: Path, tmp_path: Path, table: str, rows, words: str) -> None:
    path = small_input(recorded_run, tmp_path)
    _, t = read_run(path, with_raw=False)
    foreign = with_table(path, tmp_path / "run_000002.h5", table, rows(t))
    proc = sevens("replay", str(foreign), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"{foreign}: {words}" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
