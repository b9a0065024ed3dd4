"""A replay or reprocessing of a run that has not ended ``ok`` never says ``ok``; an export refuses a live run.

Before: `sevens replay` and `sevens reprocess` of a run file still being recorded read whatever had
been flushed (840 and 1174 of the run's 1483 triggers) and wrote outputs that said ``ok``. Now a run
still being recorded (its run directory held by a live supervisor) is refused with one line, and a run
left ``running`` by a crash, or ended otherwise than ``ok``, replays with an exit status that says so.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import pytest

from daq.cli.reprocess import plan
from daq.runfile import RunFileError, open_run
from tests.reliability.recorded import private_ipc_dir, reliability_config, remove
from tests.replay.replay_helpers import SEVENS, sevens

pytestmark = pytest.mark.timeout(300)


def test_a_run_still_being_recorded_is_refused_and_replays_once_it_has_ended(tmp_path: Path) -> None:
    ipc = private_ipc_dir()
    run_dir = tmp_path / "live"
    try:
        cfg = reliability_config(ipc)
        daq = subprocess.Popen([*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
                                "--duration", "300", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        path = run_dir / "run_000001.h5"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and daq.poll() is None:
            if path.exists():
                try:
                    with open_run(path) as f:
                        if "triggers" in f and f["triggers"].shape[0] > 0:
                            break
                except RunFileError:  # being created
                    pass
            time.sleep(0.2)
        assert daq.poll() is None, "the run ended before the test could replay it"
        proc = sevens("replay", str(path), "--out", str(tmp_path / "replays"), "--json")
        assert proc.returncode == 2, proc.stdout[-2000:]
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith(f"sevens: error: {path}: the run is still being recorded (exit_status 'running'; "
                               "its run directory is held by pid "), line
        with pytest.raises(RunFileError, match="still being recorded"):
            plan([str(path)], None, tmp_path / "reprocessed", "link")
        export = sevens("export", str(path), "--out", str(tmp_path / "events.h5"))
        assert export.returncode == 2 and "the run is still being recorded" in export.stderr
        assert not (tmp_path / "events.h5").exists()
        daq.send_signal(signal.SIGINT)  # Ctrl-C: the run ends cleanly
        out, err = daq.communicate(timeout=120)
        assert daq.returncode == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        done = sevens("replay", str(path), "--out", str(tmp_path / "replays"), "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        replayed = json.loads(done.stdout.strip().splitlines()[-1])
        assert replayed["exit_status"] == "ok" and replayed["triggers"] == summary["triggers"]["recorded"]
    finally:
        remove(ipc)


def test_a_crashed_run_replays_but_its_output_does_not_say_ok(tmp_path: Path) -> None:
    ipc = private_ipc_dir()
    try:
        cfg = reliability_config(ipc)
        proc = sevens("daq", "--simulate", "--config", cfg.path, "--run-dir", str(tmp_path / "a"), "--duration",
                      "1", "--speed", "5", "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        remove(ipc)
    crashed = tmp_path / "b" / "run_000001.h5"
    crashed.parent.mkdir()
    shutil.copyfile(tmp_path / "a" / "run_000001.h5", crashed)
    with h5py.File(crashed, "r+") as f:
        f.attrs["exit_status"] = "running"  # as a killed recorder leaves it, before any supervisor marks it
    out = sevens("replay", str(crashed), "--out", str(tmp_path / "replays"), "--json")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["exit_status"] == "input not ok: run_000001.h5 says 'running'", result["exit_status"]
    assert out.returncode != 0
    with h5py.File(result["file"], "r") as f:
        assert json.loads(f.attrs["lineage"])["input_exit_status"] == "running"
        assert f["triggers"].shape[0] > 0  # what was recorded is replayed
