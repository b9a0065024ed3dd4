"""Outputs never destroy inputs: ``export``, ``report`` and ``replay`` refuse an output that is an input,
refuse to replace an existing output without ``--force``, write under a temporary name and rename at the
end, and a replay never takes a live run number.

Before: ``sevens export a.h5 --out a.h5`` turned a 14 MB run file into an 8 KB export (exit 0), every
``--out`` overwrote what was there, and ``replay --out <data dir>`` took the next live run number.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import h5py
import pytest

from daq.runfile.outputs import REPLAY_MARK
from tests.reliability.recorded import record_short_run
from tests.replay.replay_helpers import SEVENS, last_json, sevens


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live run directory: a recorded run, its run-number counter."""
    d = tmp_path_factory.mktemp("live")
    record_short_run(d, seconds=1.0)
    return d


@pytest.fixture
def run(live_dir: Path, tmp_path: Path) -> Path:
    """A copy of the live run, for a test to (try to) destroy."""
    copy = tmp_path / "run_000001.h5"
    shutil.copyfile(live_dir / "run_000001.h5", copy)
    return copy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part") or p.name.startswith(".staging-"))


def test_export_over_its_input_is_refused_and_the_input_is_unchanged(run: Path, tmp_path: Path) -> None:
    before = digest(run)
    one_line_error(sevens("export", str(run), "--out", str(run)), "is the input", str(run))
    one_line_error(sevens("export", str(run), "--out", str(run), "--force"), "is the input")
    os.link(run, tmp_path / "same.h5")  # the same file under another name
    one_line_error(sevens("export", str(run), "--out", str(tmp_path / "same.h5"), "--force"), "is the input")
    (tmp_path / "sym.h5").symlink_to(run)
    one_line_error(sevens("export", str(run), "--out", str(tmp_path / "sym.h5"), "--force"), "is the input")
    sub = tmp_path / "run_000001_sub001.h5"  # a sub-run file of the input's run is an input too
    shutil.copyfile(run, sub)
    one_line_error(sevens("export", str(run), "--out", str(sub), "--force"), "is the input")
    assert digest(run) == before and digest(sub) == before
    assert leftovers(tmp_path) == []


def test_an_existing_output_is_refused_without_force_and_replaced_with_it(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "selected.h5"
    out.write_bytes(b"an earlier export\n")
    one_line_error(sevens("export", str(run), "--out", str(out)), "exists already", "--force")
    assert out.read_bytes() == b"an earlier export\n"
    proc = sevens("export", str(run), "--out", str(out), "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["layout"] == "sevens-selected-events-1" and f["selected"].fletcher32
        assert len(f["selected"]) == last_json(proc)["events"]
    assert leftovers(tmp_path) == []


def _file_size_limit(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_failed_export_leaves_no_output_and_the_input_intact(run: Path, tmp_path: Path) -> None:
    """The write fails midway (a file-size limit, as a full disk would): no file under the output's name,
    no temporary file left, the input unchanged; with --force the earlier output stays as it was."""
    before = digest(run)
    out, earlier = tmp_path / "selected.h5", tmp_path / "earlier.h5"
    for args in ([], ["--force"]):
        if args:
            earlier.write_bytes(b"an earlier export\n")
            shutil.copyfile(earlier, out)
        proc = subprocess.run([*SEVENS, "export", str(run), "--out", str(out), *args], capture_output=True,
                              text=True, timeout=120, preexec_fn=lambda: _file_size_limit(4096))
        one_line_error(proc, str(out), "File too large", "nothing was written")
        assert (out.read_bytes() == earlier.read_bytes()) if args else not out.exists()
        assert digest(run) == before and leftovers(tmp_path) == []


def test_report_refuses_its_input_and_existing_files_and_replaces_them_with_force(run: Path, tmp_path: Path) -> None:
    before = digest(run)
    one_line_error(sevens("report", str(run), "--out", str(run)), "is the input")
    out = tmp_path / "report"
    assert sevens("report", str(run), "--out", str(out)).returncode == 0
    page = (out / "index.html").read_bytes()
    (out / "index.html").write_text("kept")
    one_line_error(sevens("report", str(run), "--out", str(out)), "exists already", "--force")
    assert (out / "index.html").read_text() == "kept"
    assert sevens("report", str(run), "--out", str(out), "--force").returncode == 0
    assert (out / "index.html").read_bytes()[:200] == page[:200]
    assert digest(run) == before and leftovers(out) == []


def test_a_failed_report_leaves_none_of_its_files(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import report

    def broken(data: object, out: Path) -> Path:
        (out / "spectra.png").write_bytes(b"half a png")
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report, "plot_spectra", broken)
    out = tmp_path / "report"
    with pytest.raises(RuntimeError, match="plotting failed"):
        report.write_report(run, out)
    assert list(out.iterdir()) == []


def test_replay_into_a_live_run_directory_does_not_take_the_live_run_number(live_dir: Path, tmp_path: Path) -> None:
    """``replay --out <live data dir>`` is refused, the live counter unchanged; replays are numbered by
    their own directory's counter, and an output appears only under a new name."""
    counter = (live_dir / "last_run_number").read_text()
    files = sorted(p.name for p in live_dir.iterdir())
    one_line_error(sevens("replay", str(live_dir / "run_000001.h5"), "--out", str(live_dir)),
                   "not a directory for replays", "live run")
    moved = tmp_path / "archived-live"  # a live directory whose run files were moved away: its counter
    moved.mkdir()
    shutil.copyfile(live_dir / "last_run_number", moved / "last_run_number")
    one_line_error(sevens("replay", str(live_dir / "run_000001.h5"), "--out", str(moved)), "run-number counter")
    assert (live_dir / "last_run_number").read_text() == counter and sorted(p.name for p in live_dir.iterdir()) == files
    replays = tmp_path / "replays"
    numbers = []
    for _ in range(2):
        proc = sevens("replay", str(live_dir / "run_000001.h5"), "--out", str(replays), "--no-raw", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        numbers.append(last_json(proc)["run_number"])
    assert numbers == [1, 2] and (replays / REPLAY_MARK).exists()
    assert sorted(p.name for p in replays.glob("run_*.h5")) == ["run_000001.h5", "run_000002.h5"]
    assert not list(replays.glob(".replay-*")), "a replay left its working directory"
    assert (live_dir / "last_run_number").read_text() == counter
