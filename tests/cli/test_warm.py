"""``sevens warm`` compiles the kernels of every DAQ process into the numba cache (``make venv`` runs it).

The cache here holds every entry but the veto trigger's (``veto_hits``), so that the veto's kernels are the
ones compiled, into a ``NUMBA_CACHE_DIR`` of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daq.cli.run import NODE_CLASSES
from tests.conftest import REPO, seeded_numba_cache

pytestmark = pytest.mark.timeout(300)


def test_warm_compiles_what_the_cache_lacks_and_names_every_process(tmp_path: Path) -> None:
    cache = seeded_numba_cache(tmp_path / "cache", ("veto_hits.",))
    assert not list(cache.rglob("veto_hits.*"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "warm", "--simulate", "--jobs", "1"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert {line.split()[0] for line in lines[:-1]} == set(NODE_CLASSES)
    assert lines[-1].startswith("numba cache warm for ") and "1 at once" in lines[-1]
    compiled = {p.name.split("-")[0] for p in cache.rglob("veto_hits.*.nbi")}
    assert "veto_hits._veto_kernel" in compiled, compiled


def test_warm_with_a_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[digitizer]\nn_samples = -3\n")
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "warm", "--config", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("sevens: error: ") and str(bad) in proc.stderr, proc.stderr
