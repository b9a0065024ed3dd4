"""Writing a command's output without ever destroying its input.

Every command that writes a file (``export``, ``report``, ``replay``) goes through here:

- :func:`check_output` refuses an output that is one of the inputs (the same path, or the same
  file under another name: a hard or symbolic link), and an existing output unless ``force``;
- :func:`replacing` hands out temporary names in the output's own directory (:func:`staged`
  a temporary directory there, for a set of files); only when the writing ends without an
  error are they renamed to the final names (without ``force`` by a hard link, which fails
  rather than replace a file that appeared meanwhile). A failure leaves nothing under the
  final names and never touches the inputs;
- :func:`live_run_problem` says why a directory must not receive replay outputs: it is the
  run directory of live runs, whose run-number counter a replay would advance.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from daq.runfile.files import SUB_RUN, RunFileError, open_run
from daq.runfile.tables import H5_ERRORS

REPLAY_MARK = ".sevens-replays"  # in a directory that holds replay outputs (and no live runs)


class OutputError(RunFileError):
    """An output refused before anything was written: it is an input, or exists already."""


def same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name one file (same path after resolving links, or same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(out: Path, inputs: Iterable[Path], force: bool = False, option: str = "--out") -> None:
    """OutputError if ``out`` is one of ``inputs``, or exists and ``force`` is not given."""
    out = Path(out)
    for given in inputs:
        if same_file(out, Path(given)):
            raise OutputError(f"{option} {out}: that is the input {given}; an output never replaces its input")
    if out.is_dir():
        raise OutputError(f"{option} {out}: is a directory")
    if (out.exists() or out.is_symlink()) and not force:
        raise OutputError(f"{option} {out}: exists already; give --force to replace it")


def publish(tmp: Path, out: Path, force: bool = False) -> None:
    """Rename the finished file ``tmp`` to ``out`` (same directory); without ``force`` never over an existing file."""
    _sync(tmp)
    _publish(tmp, out, force)


def _publish(tmp: Path, out: Path, force: bool) -> None:
    if force:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)  # atomic, and never replaces a file
    except FileExistsError:
        raise OutputError(f"{out}: appeared while it was being written; give --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if out.exists():  # a file system without hard links: check, then rename
            raise OutputError(f"{out}: appeared while it was being written; give --force to replace it") from None
        os.replace(tmp, out)
        return
    tmp.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def replacing(outs: list[Path], force: bool = False) -> Iterator[list[Path]]:
    """Temporary paths beside each of ``outs`` (same directory, so the rename is atomic),
    renamed to ``outs`` once the ``with`` block ends without an error, removed if it raises."""
    tmps: list[Path] = []
    try:
        for out in outs:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
            os.close(fd)
            tmps.append(Path(name))
            os.chmod(name, 0o666 & ~_umask())  # the mode a file created under its final name would have
        yield tmps
        for tmp in tmps:
            _sync(tmp)
        for tmp, out in zip(tmps, outs, strict=True):
            _publish(tmp, out, force)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(directory: Path, names: list[str], force: bool = False) -> Iterator[Path]:
    """A temporary directory inside ``directory`` to write the files ``names`` into; once the
    ``with`` block ends without an error they are moved to ``directory``, and it is removed."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    try:
        yield tmp
        for name in names:
            _sync(tmp / name)
        for name in names:
            _publish(tmp / name, directory / name, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _is_replay(path: Path) -> bool:
    """True if the run file ``path`` is a replay's output (its lineage names its inputs)."""
    try:
        with open_run(path) as f:
            return "inputs" in json.loads(str(f.attrs["lineage"]))
    except (RunFileError, ValueError, *H5_ERRORS):
        return False


def live_run_problem(directory: Path, counter: str) -> str | None:
    """Why ``directory`` must not receive replay outputs (None: it may).

    A directory may: if it does not exist, is marked as a replay directory, or holds neither a
    run-number counter (``counter``) nor run files other than replays'."""
    if not directory.is_dir() or (directory / REPLAY_MARK).exists():
        return None
    live = next((p for p in sorted(directory.glob("run_*.h5")) if SUB_RUN.match(p.name) and not _is_replay(p)), None)
    if live is not None:
        return f"it holds live runs ({live.name}); a replay would take the next live run number"
    if (directory / counter).exists() and not any(directory.glob("run_*.h5")):
        return (f"it holds a run-number counter ({counter}) and no replay outputs: a live run directory whose files "
                "were moved away? a replay would take the next live run number")
    return None


def mark_replay_dir(directory: Path) -> None:
    """Mark ``directory`` as one that holds replay outputs (``sevens replay`` does, on first use)."""
    mark = directory / REPLAY_MARK
    if not mark.exists():
        mark.write_text("This directory holds `sevens replay` outputs, numbered by its own counter; "
                        "never point a live DAQ (--run-dir, run.directory) here.\n")
