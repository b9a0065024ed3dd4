"""A cold numba cache (the first start after an install) on a loaded host: compiling the kernels may
take longer than ``startup_timeout_s``. A process says it is ``warming`` first, so the supervisor
waits for it up to ``warmup_timeout_s``, and names it when even that is exceeded.

Each test compiles into a ``NUMBA_CACHE_DIR`` of its own, holding the cache entries of every kernel but the
veto trigger's (a few seconds of compiling) or the event builder's (~30 s of CPU), so that one process
compiles while the others load (a cold cache of every process is the same wait, longer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, seeded_numba_cache

BUILDER_KERNELS = ("features.", "peaks.", "baseline.", "spe_shape.", "spe_gain.")  # daq.kernels modules

pytestmark = [pytest.mark.timeout(300), pytest.mark.serial]


def sevens_daq(cfg_path: str, run_dir: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "daq.cli", "daq", "--simulate", "--duration", "1", "--config",
                           cfg_path, "--run-dir", str(run_dir), "--json"], capture_output=True, text=True,
                          timeout=280, cwd=REPO, env=env)


def test_a_process_past_its_warmup_timeout_is_named(tmp_path: Path, make_config) -> None:
    cfg = make_config(supervisor={"startup_timeout_s": 30.0, "warmup_timeout_s": 0.5})
    cache = seeded_numba_cache(tmp_path / "cache", ("veto_hits.",))  # the veto compiles for seconds
    proc = sevens_daq(cfg.path, tmp_path / "runs", cache)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sevens: error: processes still compiling their kernels after 0.5 s "
                           "(supervisor.warmup_timeout_s): ["), last  # the ones warming then
    named = last.rsplit("[", 1)[1].rstrip("]").replace("'", "").split(", ")
    assert set(named) <= {"reader", "beam", "builder", "veto", "cuts", "recorder"} and named, last
    assert not list((tmp_path / "runs").glob("run_*.h5"))  # no run was started


def test_compiling_longer_than_the_startup_timeout_is_waited_for(tmp_path: Path, make_config) -> None:
    # every process says it is alive within 12 s; the builder's cold compile alone takes ~30-45 s of CPU here
    cfg = make_config(supervisor={"startup_timeout_s": 12.0})
    cache = seeded_numba_cache(tmp_path / "cache", BUILDER_KERNELS)
    proc = sevens_daq(cfg.path, tmp_path / "runs", cache)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["exit_status"] == "ok" and summary["triggers"]["lost"] == 0
    assert summary["triggers"]["recorded"] == summary["triggers"]["generated"] > 0
    compiled = {p.name.split("-")[0] for p in cache.rglob("*.nbi") if p.name.startswith(BUILDER_KERNELS)}
    assert "features._extract_kernel" in compiled, compiled  # it really compiled the builder's kernels there
    assert "compiling kernels (a cold numba cache)" in proc.stderr
