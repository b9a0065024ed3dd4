"""Resources: an unusable run directory and a full disk end the run with a clear error, never a hang,
and what was flushed before a disk filled up stays readable.

The free-space reserve (``recorder.min_free_mb``) is tested on the test's own file system, with
the reserve set 40 MB below what is free when the run starts: the run's own writing crosses it
within seconds, and the recorder must close the file whole with its stop record. A write that
really fails with ENOSPC needs a full file system: a 24 MiB tmpfs mounted by the test (root or
CAP_SYS_ADMIN only; file permissions do not stop root, a full file system does). The same
failed-write path is also driven without any privilege: the recorder is started by the test
under RLIMIT_FSIZE (writes beyond the limit fail with EFBIG, SIGXFSZ ignored), with
``supervisor.remote = ["recorder"]`` so that the supervisor watches it by heartbeat instead of
launching it.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daq.config import Config
from daq.runfile import RunFileError, free_bytes, open_run, run_files
from tests.reliability.daqrun import SEVENS, DaqRun, status

RUN_END_LIMIT_S = 60.0  # from the start of the run to the end of `sevens daq`, disk full included


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sevens: error: "), proc.stderr[-2000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["daq", "daemon"])
def test_run_dir_below_a_regular_file_is_one_clear_error_and_launches_nothing(
        tmp_path: Path, rel_config: Callable[..., Config], command: str) -> None:
    cfg = rel_config()
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    run_dir = plain / "runs"
    extra = ["--simulate", "--duration", "5"] if command == "daq" else []
    t0 = time.monotonic()
    proc = subprocess.run([*SEVENS, command, "--config", cfg.path, "--run-dir", str(run_dir), *extra],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 30, "took too long to refuse"
    assert_one_line_error(proc, str(run_dir))
    assert plain.read_text() == "not a directory\n"


def _copy_out(files: list[Path], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in files:
        shutil.copyfile(path, dest / path.name)
        out.append(dest / path.name)
    return out


def _check_disk_error_outcome(run: DaqRun, started: float, words: tuple[str, ...], run_file: Path,
                              keep: Path) -> dict:
    """`sevens daq` ended by itself, soon, with one clear error naming the disk problem; the data
    flushed before stays readable."""
    while run.proc.poll() is None and time.monotonic() - started < RUN_END_LIMIT_S:
        time.sleep(0.5)
    if run.proc.poll() is None:  # still running: say what the DAQ thinks, then stop it (Ctrl-C)
        st = status(run.cfg)
        seen = f"state {st['state']!r}, error {st['error']!r}" if st else "the supervisor does not answer"
        try:
            code = run.stop(90)
            after = f"after Ctrl-C: exit status {code}"
        except AssertionError:
            after = "Ctrl-C did not end it within 90 s either (hang)"
        raise AssertionError(f"the run was still going {RUN_END_LIMIT_S:.0f} s after it started on a full disk "
                             f"({seen}): the write failure went unnoticed; {after}\n{run.err[-3000:]}")
    code = run.communicate(30)
    output = run.out + run.err
    assert code != 0, output[-3000:]
    assert "Traceback" not in output, output[-4000:]
    assert any(w in run.err for w in words), f"no error naming the disk problem ({words}):\n{run.err[-3000:]}"
    copies = _copy_out(run_files(run_file) or [run_file], keep)
    try:
        with open_run(copies[0]) as f:
            n = len(f["triggers"])
            ids = f["triggers"]["trigger_id"]
            assert len(f["raw/csi"]) >= min(n, 1)
            attrs = dict(f.attrs)
    except RunFileError as exc:
        raise AssertionError(f"what was flushed before the disk filled is not readable: {exc}") from None
    assert n > 0, "nothing was kept of the run before the disk filled"
    assert (ids == range(ids[0], ids[0] + n)).all(), "the kept triggers are not one unbroken sequence"
    return attrs


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:  # the file-size-limit test below drives the same path without privileges
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); needs root or CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_stops_the_run_at_the_reserve_and_closes_the_file_whole(
        tmp_path: Path, rel_config: Callable[..., Config]) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    cfg = rel_config(recorder={"min_free_mb": free_bytes(runs) / 1e6 - 40.0})
    run = DaqRun(cfg, runs, 300.0, 2.0)  # ~9 MB/s of waveforms: 40 MB are written in seconds
    try:
        st = run.wait_running()
        attrs = _check_disk_error_outcome(run, time.monotonic(), ("disk full",), Path(st["run_file"]),
                                          tmp_path / "kept")
    finally:
        if run.proc.poll() is None:
            run.kill()
    assert str(attrs["exit_status"]).startswith("error:") and "disk full" in attrs["exit_status"], attrs
    assert attrs["triggers_recorded"] > 0


def test_full_disk_without_a_reserve_stops_the_run_on_the_failed_write(
        tmp_path: Path, rel_config: Callable[..., Config], small_tmpfs: Path) -> None:
    cfg = rel_config(recorder={"min_free_mb": 0.0})
    run = DaqRun(cfg, small_tmpfs / "runs", 300.0, 2.0)
    try:
        st = run.wait_running()
        _check_disk_error_outcome(run, time.monotonic(), ("No space left on device",), Path(st["run_file"]),
                                  tmp_path / "kept")
    finally:
        if run.proc.poll() is None:
            run.kill()


def _limited_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_file_size_limit_on_the_recorder_stops_the_run_with_a_clear_error(
        tmp_path: Path, rel_config: Callable[..., Config]) -> None:
    cfg = rel_config(supervisor={"remote": ["recorder"]}, recorder={"min_free_mb": 0.0})
    logs = tmp_path / "recorder-logs"
    logs.mkdir()
    with open(logs / "recorder.stderr", "wb") as stderr:  # a file: a pipe nobody reads would block it
        recorder = subprocess.Popen([*SEVENS, "process", "recorder", "--config", cfg.path, "--log-dir", str(logs)],
                                    stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=_limited_file_size(16 << 20))
    run = DaqRun(cfg, tmp_path / "runs", 300.0, 2.0)
    try:
        st = run.wait_running()
        try:
            _check_disk_error_outcome(run, time.monotonic(), ("File too large", "file size limit"),
                                      Path(st["run_file"]), tmp_path / "kept")
        except AssertionError as exc:
            tail = (logs / "recorder.stderr").read_text(errors="replace")[-1500:]
            raise AssertionError(f"{exc}\n--- recorder stderr (end) ---\n{tail}") from None
        assert recorder.poll() is None, "the recorder died instead of reporting the write error"
        recorder.send_signal(signal.SIGTERM)
        code = recorder.wait(30)
        tail = (logs / "recorder.stderr").read_text(errors="replace")[-1500:]
        assert code == 0, f"the recorder did not exit cleanly after the write error (exit code {code}):\n{tail}"
    finally:
        if run.proc.poll() is None:
            run.kill()
        recorder.send_signal(signal.SIGTERM)
        try:
            recorder.wait(10)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(10)


def test_limits_are_real(tmp_path: Path) -> None:
    """The harness: under the limit used above, a plain write past it fails with EFBIG."""
    script = "import sys; open(sys.argv[1], 'wb').write(b'x' * (2 << 20))"
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big")], capture_output=True, text=True,
                          preexec_fn=_limited_file_size(1 << 20))
    assert proc.returncode != 0 and "File too large" in proc.stderr
    assert os.path.getsize(tmp_path / "big") <= 1 << 20
