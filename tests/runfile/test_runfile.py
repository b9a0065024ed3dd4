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
from daq.config import COMPRESSIONS
from daq.runfile import DiskFullError, RunFileError, RunFileWriter, check_free_space, free_bytes, open_run


def writer(path: Path, compression: str = "blosc-lz4") -> RunFileWriter:
    return RunFileWriter(path, run_number=3, config_text="[run]\n", config_sha256="abc", software_version="9.9",
                         n_samples=100, raw_channels=("csi", "veto"), compression=compression, chunk_records=8,
                         attrs={"seed": 5})


@pytest.mark.parametrize("compression", COMPRESSIONS)
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
                      n_samples=35000, raw_channels=("csi",), compression=sys.argv[2], chunk_records=16)
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


@pytest.mark.parametrize("compression", ["huffman-zstd", "blosc-lz4"])  # raw chunks written directly, or by HDF5
@pytest.mark.parametrize("flushes_before_kill", [1, 4, 9])
def test_sigkilled_writer_leaves_a_file_readable_to_its_last_flush(tmp_path: Path, flushes_before_kill: int,
                                                                  compression: str) -> None:
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), compression], stdout=subprocess.PIPE,
                            text=True)
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


WRITE_PAST_LIMIT = textwrap.dedent("""
    import json, os, resource, signal, sys
    import numpy as np
    from pathlib import Path
    from daq import dtypes
    from daq.runfile import RunFileError, RunFileWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
    w = RunFileWriter(Path(sys.argv[1]), run_number=1, config_text="", config_sha256="", software_version="0",
                      n_samples=1000, raw_channels=("csi",), compression="none", chunk_records=16)
    rng = np.random.default_rng(2)
    out = {"flushed": 0}
    try:
        for i in range(10_000):
            trig = np.zeros(16, dtypes.TRIGGER)
            trig["trigger_id"] = np.arange(16 * i, 16 * i + 16)
            w.append("triggers", trig)
            w.append_raw("csi", rng.integers(-128, 128, (16, 1000)).astype(np.int8))
            w.flush()
            out["flushed"] = 16 * i + 16
    except RunFileError as exc:
        out["error"] = str(exc)
    try:
        w.close("ok", {})
    except RunFileError as exc:
        out["close"] = str(exc)
    from daq.runfile import UNCLOSED
    out["unclosed"] = [str(p) for p in UNCLOSED]
    print(json.dumps(out), flush=True)
    if UNCLOSED:  # what `sevens process` does: HDF5's teardown would retry the failed writes and crash
        os._exit(0)
""")


def test_a_failed_write_is_a_run_file_error_naming_the_reason_and_the_file_keeps_its_flushed_part(
        tmp_path: Path) -> None:
    """Writes past a file-size limit fail (EFBIG) like writes on a full disk: append or flush raises a
    RunFileError naming the file and the system's reason, close raises it again (no stop record can be
    written), and the file reads like one whose writer was killed: up to the last good flush."""
    path = tmp_path / "run.h5"
    proc = subprocess.run([sys.executable, "-c", WRITE_PAST_LIMIT, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert str(path) in out["error"] and "File too large" in out["error"], out
    assert out["error"].endswith(f"its last good flush holds {out['flushed']} triggers"), out
    assert out["close"] == out["error"]
    assert out["unclosed"] == [str(path)]
    assert out["flushed"] > 0
    with open_run(path) as f:
        assert f.attrs["exit_status"] == "running"
        ids = f["triggers"]["trigger_id"][: out["flushed"]]
        np.testing.assert_array_equal(ids, np.arange(out["flushed"]))
        assert len(f["raw/csi"][: out["flushed"]]) == out["flushed"]


def test_free_space_below_the_reserve_is_a_disk_full_error_naming_the_directory(tmp_path: Path) -> None:
    free = free_bytes(tmp_path)
    check_free_space(tmp_path, free // 2)
    check_free_space(tmp_path, 0)
    with pytest.raises(DiskFullError, match=rf"{tmp_path}: disk full: .* MB free, below the reserve"):
        check_free_space(tmp_path, free * 2 + (1 << 30))
