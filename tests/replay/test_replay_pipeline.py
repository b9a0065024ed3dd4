"""`sevens replay` feeds a recorded run through the same processes: same features, named lineage.

Replaying a run with its own config reproduces every per-trigger table bit for bit (the
features are deterministic however the records are batched); a changed cut config gives a
new file with other cut bits and another config hash in its lineage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import daq
from daq import config, dtypes
from tests.replay.replay_helpers import last_json, sevens

BIT_FOR_BIT = ("triggers", "features", "peaks", "veto_hits", "selected", "beam", "truth/events", "truth/windows",
               "dq", "raw/csi", "raw/veto")


def table_bytes(path: str | Path, name: str) -> bytes:
    with h5py.File(path, "r") as f:
        return f[name][:].tobytes()


@pytest.mark.parametrize("table", BIT_FOR_BIT)
def test_replay_with_its_own_config_reproduces_the_tables_bit_for_bit(recorded_run: Path, replayed: dict[str, Any],
                                                                     table: str) -> None:
    original, replay = table_bytes(recorded_run, table), table_bytes(replayed["file"], table)
    assert len(original) > 0
    assert replay == original


def test_replay_summary_and_accounting(recorded_run: Path, replayed: dict[str, Any]) -> None:
    with h5py.File(recorded_run, "r") as f:
        n, generated = len(f["triggers"]), f.attrs["triggers_generated"]
        span = (int(f["triggers"]["time"][-1]) - int(f["triggers"]["time"][0])) / 1e9
    assert replayed["triggers"] == replayed["input_triggers"] == n
    assert replayed["seconds"] > 0 and replayed["realtime_factor"] == pytest.approx(span / replayed["seconds"], 0.02)
    assert replayed["stopped_at"] == [] and replayed["exit_status"] == "ok" and replayed["speed"] == "max"
    with h5py.File(replayed["file"], "r") as f:
        a = f.attrs
        assert a["triggers_recorded"] == n  # and the input's losses (if any) are declared again:
        assert a["triggers_generated"] == a["triggers_recorded"] + a["triggers_lost"] == generated
        assert np.array_equal(f["raw/csi"][:64], h5py.File(recorded_run, "r")["raw/csi"][:64])


def test_lineage_names_input_config_hash_and_code_version(recorded_run: Path, replayed: dict[str, Any]) -> None:
    with h5py.File(recorded_run, "r") as f:
        input_sha, input_run = str(f.attrs["config_sha256"]), int(f.attrs["run_number"])
    with h5py.File(replayed["file"], "r") as f:
        lineage = json.loads(f.attrs["lineage"])
        out_sha, backend = str(f.attrs["config_sha256"]), str(f.attrs["backend"])
        replay_cfg = config.parse(str(f.attrs["config"]))
    assert lineage["inputs"] == [str(recorded_run.resolve())]
    assert lineage["input_config_sha256"] == input_sha
    assert lineage["input_run_number"] == input_run
    assert lineage["code_version"] == daq.__version__
    assert lineage["config_sha256"] == out_sha and lineage["replay_config"] == "input"
    assert backend == "replay" and replay_cfg.replay.files == [str(recorded_run.resolve())]
    assert replayed["lineage"] == lineage


def test_changed_cut_config_gives_other_cut_bits_and_lineage(recorded_run: Path, replayed: dict[str, Any],
                                                             tmp_path: Path) -> None:
    """A stricter afterglow cut, replayed at 20x the recorded rate (paced)."""
    with h5py.File(recorded_run, "r") as f:
        own = config.parse(str(f.attrs["config"]))
    strict = config.with_overrides(own, {"cuts": {"afterglow_max_pretrace_peaks": 1}})
    cfg_file = tmp_path / "strict.toml"
    cfg_file.write_text(strict.text)
    proc = sevens("replay", str(recorded_run), "--config", str(cfg_file), "--speed", "20", "--out",
                  str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = last_json(proc)
    assert result["speed"] == 20.0 and result["realtime_factor"] < 20 * 1.1
    with h5py.File(replayed["file"], "r") as f:
        same = f["features"][:]
        same_lineage = json.loads(f.attrs["lineage"])
    with h5py.File(result["file"], "r") as f:
        new = f["features"][:]
        lineage = json.loads(f.attrs["lineage"])
    assert np.array_equal(new["trigger_id"], same["trigger_id"])
    assert np.array_equal(new["baseline"], same["baseline"])  # the records are the same
    afterglow = dtypes.CUT_AFTERGLOW
    assert np.count_nonzero(new["cut_mask"] & afterglow) > np.count_nonzero(same["cut_mask"] & afterglow)
    assert lineage["config_sha256"] != same_lineage["config_sha256"]
    assert lineage["input_config_sha256"] == same_lineage["input_config_sha256"]
    assert lineage["replay_config"] == str(cfg_file.resolve())


@pytest.mark.parametrize("args, message", [
    (["--speed", "fast"], "--speed: expected a positive number or 'max'"),
    (["--speed", "0"], "--speed: expected a positive number or 'max'"),
])
def test_bad_arguments_are_one_line_errors(recorded_run: Path, args: list[str], message: str) -> None:
    proc = sevens("replay", str(recorded_run), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_input_is_a_one_line_error(tmp_path: Path) -> None:
    proc = sevens("replay", str(tmp_path / "run_000009.h5"))
    assert proc.returncode == 2 and "no such run file" in proc.stderr and "Traceback" not in proc.stderr
