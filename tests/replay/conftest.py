"""Fixtures of the replay tests: one short simulated run, recorded once, and its replay with its own config.

The run uses private ipc endpoints (no clash with another DAQ or test on the host), beam-off
stretches and a large CEvNS rate boost, so that every window class has selected events.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daq import config
from tests.replay.replay_helpers import last_json, sevens

RUN_SECONDS, RUN_SPEED = 2.5, 10.0

@pytest.fixture(scope="session")
def ipc_root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="svr"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def recorded_run(tmp_path_factory: pytest.TempPathFactory, ipc_root: Path) -> Path:
    """A recorded simulated run (~1500 triggers, raw waveforms, truth, beam-off stretches)."""
    cfg = config.with_ipc_endpoints(config.load(), ipc_root / "daq",
                                    simulation={"beam_off_period_s": 4.0, "gamma_rate_hz": 2000.0},
                                    # the whole run fits the (simulated) buffer: a loaded test host then
                                    # delays the run's records but loses none, so what the tests compare is
                                    # the same on every host (runs with losses: test_replay_of_a_lossy_run)
                                    digitizer={"buffer_records": 4000},
                                    supervisor={"heartbeat_timeout_s": 10.0})  # a busy test host is not a hang
    run_dir = tmp_path_factory.mktemp("recorded")
    proc = sevens("daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir), "--duration",
                  str(RUN_SECONDS), "--speed", str(RUN_SPEED), "--rate-boost", "20000", "--seed", "5", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(last_json(proc)["file"])


@pytest.fixture(scope="session")
def replayed(recorded_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``sevens replay`` of the recorded run with its own config, as fast as possible."""
    proc = sevens("replay", str(recorded_run), "--out", str(tmp_path_factory.mktemp("replay")), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return last_json(proc)
