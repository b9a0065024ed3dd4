"""A run with a handful of selected events: the fit answers, and claims no absurd significance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from daq import dtypes

REPO = Path(__file__).resolve().parents[2]


def test_four_events_give_no_absurd_significance(tmp_path: Path) -> None:
    sel = np.zeros(4, dtypes.plain(dtypes.SELECTED))
    sel["window"] = [1, 1, 1, 0]
    sel["pe"] = [8, 12, 20, 9]
    sel["time_ns"] = [500, 800, 3000, 2000]
    sel["beam_on"] = True
    with h5py.File(tmp_path / "run_000001.h5", "w") as f:
        f.create_dataset("selected", data=sel)
        f.attrs["pot_total"] = 1e17
        f.attrs["gwhr_total"] = 1e-5
    dataset = tmp_path / "ds.toml"
    dataset.write_text((REPO / "analysis" / "datasets" / "sevens-sim.toml").read_text())
    out = tmp_path / "fit.json"
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "fit", str(dataset), "--data-dir", str(tmp_path),
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    # three C events over one AC event cannot reject anything at 3 sigma
    z = r["significance_sigma"]
    assert z is None or not np.isfinite(z) or z < 3
