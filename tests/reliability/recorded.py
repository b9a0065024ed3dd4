"""A short recorded run for the tests that damage or reuse run files (raw waveforms on)."""

from __future__ import annotations

from pathlib import Path

import h5py

from tests.reliability.daqrun import private_ipc_dir, reliability_config, remove
from tests.replay.replay_helpers import last_json, sevens


def record_short_run(run_dir: Path, seconds: float = 1.5, speed: float = 8.0, seed: int = 11) -> Path:
    """`sevens daq --simulate` for ``seconds`` at ``speed`` into ``run_dir`` (~600 triggers at the
    defaults, raw waveforms in 64-record chunks); returns the run file."""
    ipc = private_ipc_dir()
    try:
        cfg = reliability_config(ipc)
        proc = sevens("daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir), "--duration",
                      str(seconds), "--speed", str(speed), "--seed", str(seed), "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        path = Path(last_json(proc)["file"])
        with h5py.File(path, "r") as f:
            assert f["raw/csi"].id.get_num_chunks() >= 4, "too short a run to damage a middle chunk"
        return path
    finally:
        remove(ipc)
