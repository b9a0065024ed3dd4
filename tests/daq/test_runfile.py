"""The run file: layout, units, and a killed writer leaves a file readable up to its last flush."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from daq import dtypes
from daq.runfile import RunFileError, RunFileWriter, open_run


def writer(path: Path, compression: str = "blosc-lz4") -> RunFileWriter:
    return RunFileWriter(path, run_number=3, config_text="[run]\n", config_sha256="abc", software_version="9.9",
                         n_samples=100, raw_channels=("csi", "veto"), compression=compression, chunk_records=8,
                         attrs={"seed": 5})


@pytest.mark.parametrize("compression", ["blosc-lz4", "blosc-zstd", "gzip", "lzf", "none"])
def test_tables_raw_and_attributes_round_trip(tmp_path: Path, compression: str) -> None:
    w = writer(tmp_path / "run.h5", compression)
    trig = np.zeros(10, dtypes.TRIGGER)
    trig["trigger_id"] = np.arange(10)
    raw = np.random.default_rng(1).integers(-128, 128, (10, 100)).astype(np.int8)
    w.append("triggers", trig[:4])
    w.append("triggers", trig[4:])
    w.append_raw("csi", raw)
    w.close("ok", {"triggers_generated": np.int64(10)})
    with open_run(tmp_path / "run.h5") as f:
        assert f.attrs["run_number"] == 3 and f.attrs["exit_status"] == "ok" and f.attrs["seed"] == 5
        assert f.attrs["stop_time_ns"] >= f.attrs["start_time_ns"] > 0
        assert f.attrs["triggers_generated"] == 10
        np.testing.assert_array_equal(f["triggers"]["trigger_id"], np.arange(10))
        np.testing.assert_array_equal(f["raw/csi"][:], raw)
        assert f["raw/veto"].shape == (0, 100)
        assert json.loads(f["features"].attrs["units"])["pe"] == "PE"
        assert json.loads(f["triggers"].attrs["units"])["time"] == "ns since Unix epoch"
        assert f["raw/csi"].attrs["units"] == "ADC"
        for name in ("beam", "features", "peaks", "veto_hits", "dq", "losses", "truth/events", "truth/windows"):
            assert name in f


def test_refuses_to_overwrite_a_run_file(tmp_path: Path) -> None:
    writer(tmp_path / "run.h5").close("ok", {})
    with pytest.raises(RunFileError, match="exists already"):
        writer(tmp_path / "run.h5")


def test_unreadable_paths_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="no such run file"):
        open_run(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(RunFileError, match="not a readable run file"):
        open_run(junk)


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from daq import dtypes
    from daq.runfile import RunFileWriter
    w = RunFileWriter(sys.argv[1], run_number=1, config_text="", config_sha256="", software_version="",
                      n_samples=35000, raw_channels=("csi",), compression="blosc-lz4", chunk_records=16)
    rng = np.random.default_rng(0)
    n = 0
    while True:
        k = int(rng.integers(1, 20))
        trig = np.zeros(k, dtypes.TRIGGER); trig["trigger_id"] = np.arange(n, n + k)
        w.append("triggers", trig)
        w.append_raw("csi", rng.integers(90, 110, (k, 35000)).astype(np.int8))
        n += k
        if rng.random() < 0.3:
            w.flush()
            print(n, flush=True)
    """
)


@pytest.mark.parametrize("flushes_before_kill", [1, 4, 9])
def test_sigkilled_writer_leaves_a_file_readable_to_its_last_flush(tmp_path: Path, flushes_before_kill: int) -> None:
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    flushed = [int(proc.stdout.readline()) for _ in range(flushes_before_kill)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with open_run(path) as f:
        assert f.attrs["exit_status"] == "running"  # the stop record was never written
        n = len(f["triggers"])
        assert n >= flushed[-1]
        np.testing.assert_array_equal(f["triggers"]["trigger_id"], np.arange(n))
        assert f["raw/csi"].shape[0] >= flushed[-1]
        assert np.all(f["raw/csi"][: flushed[-1]] >= 90)  # data up to the flush is intact
