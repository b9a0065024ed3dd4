"""A run recorded with the old raw settings (Blosc-LZ4 through HDF5's filter pipeline, 64-record chunks)
still opens, verifies, replays (raw linked, copied, left out) and reports; a copy keeps its chunks as stored.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from daq import config
from daq.runfile import open_run
from daq.runfile.raw_codecs import filters
from tests.replay.replay_helpers import last_json, sevens

BLOSC = 32001  # hdf5plugin's Blosc filter
OLD = {"compression": "blosc-lz4", "chunk_records": 64}


@pytest.fixture(scope="module")
def old_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    ipc = Path(tempfile.mkdtemp(prefix="svr"))
    try:
        cfg = config.with_ipc_endpoints(config.load(), ipc, recorder=OLD, supervisor={"heartbeat_timeout_s": 10.0})
        run_dir = tmp_path_factory.mktemp("old-codec")
        proc = sevens("daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir), "--duration", "1.5",
                      "--speed", "8", "--seed", "3", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield Path(last_json(proc)["file"])
    finally:
        shutil.rmtree(ipc, ignore_errors=True)


def test_the_old_settings_write_blosc_through_hdf5(old_run: Path) -> None:
    with h5py.File(old_run, "r") as f:
        for name in ("raw/csi", "raw/veto"):
            assert f[name].chunks[0] == 64 and f[name].attrs["compression"] == "blosc-lz4"
            assert [fid for fid, _ in filters(f[name])] == [BLOSC, h5py.h5z.FILTER_FLETCHER32]
    assert sevens("verify", str(old_run)).returncode == 0


@pytest.mark.parametrize("raw", ["copy", "link", "none"])
def test_an_old_codec_run_replays(old_run: Path, tmp_path: Path, raw: str) -> None:
    proc = sevens("replay", str(old_run), "--out", str(tmp_path / raw), "--raw", raw, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = last_json(proc)
    assert result["exit_status"] == "ok" and result["triggers"] == result["input_triggers"]
    with open_run(result["file"]) as out, open_run(old_run) as src:
        assert out["features"][:].tobytes() == src["features"][:].tobytes()
        if raw == "none":
            assert "raw/csi" not in out
            return
        for name in ("raw/csi", "raw/veto"):
            assert np.array_equal(out[name][:], src[name][:])
        if raw == "copy":  # the old chunks, as stored: Blosc, 64 records, their checksums
            n_chunks = src["raw/csi"].id.get_num_chunks()
            assert result["raw_copied_chunks"] == {"csi": {"copied": n_chunks, "encoded": 0},
                                                   "veto": {"copied": n_chunks, "encoded": 0}}
            assert filters(out["raw/csi"]) == filters(src["raw/csi"])
            assert out["raw/csi"].id.read_direct_chunk((64, 0)) == src["raw/csi"].id.read_direct_chunk((64, 0))


def test_an_old_codec_run_reports(old_run: Path, tmp_path: Path) -> None:
    proc = sevens("report", str(old_run), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any((tmp_path / "report").glob("*.html"))
