"""How a ``sevens`` command ends when something goes wrong: one line on stderr, the traceback in a log.

- a usage error (argparse), a bad config, a bad input file, a missing driver, no answer from a DAQ:
  ``sevens: error: <what was wrong>``, exit status 2;
- anything unforeseen: ``sevens: error: <command> <its input>: <exception>``, exit status 2, and
  the full traceback in the CLI log (:func:`log_path`; on stderr too with ``sevens -v``);
- stdout closed by its reader (``sevens config --reference | head``): quiet, exit status 141
  (128 + SIGPIPE, what the shell reports for other Unix tools);
- Ctrl-C: ``sevens: interrupted``, exit status 130.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import NoReturn

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
EXIT_INTERRUPTED = 128 + signal.SIGINT
# what a command reads or writes, in order of interest: named in the line of an unforeseen error
INPUT_ARGS = ("run_file", "run_files", "file", "dataset", "directory", "config")
log = logging.getLogger("sevens.cli.failures")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (sub-command parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("sevens").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"sevens: error: {where}{one_line(message)} (`{self.prog} --help` lists the "
                              f"options)\n")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def say_error(text: str) -> int:
    """Print ``sevens: error: <text>`` as one line; the usage exit status."""
    print(f"sevens: error: {one_line(text)}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def log_path() -> Path:
    """The CLI's error log: ``$SEVENS_LOG_DIR/cli.log``, else ``$XDG_STATE_HOME/sevens/cli.log``
    (``~/.local/state/sevens/cli.log``)."""
    base = os.environ.get("SEVENS_LOG_DIR")
    if base:
        return Path(base) / "cli.log"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sevens" / "cli.log"


def _log_traceback(exc: BaseException, command: str) -> Path | None:
    """Append the traceback of ``exc`` to the CLI log; the log's path, None if it cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s pid %(process)d: %(message)s"))
    log.propagate = False  # never to the stderr handlers a command may have set up
    log.addHandler(handler)
    try:
        log.error("sevens %s failed: %s", command, " ".join(sys.argv), exc_info=exc)
    finally:
        log.removeHandler(handler)
        handler.close()
    return path


def _inputs(args: argparse.Namespace) -> str:
    for name in INPUT_ARGS:
        value = getattr(args, name, None)
        if value:
            return " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return ""


def describe(exc: BaseException) -> str:
    """The exception as ``Type: text`` on one line (a KeyError's text without its quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else exc
    text = one_line(str(text))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unexpected(args: argparse.Namespace, exc: BaseException) -> int:
    """The last resort: one line naming the command, its input and the exception; the traceback to the log."""
    command = " ".join(filter(None, (getattr(args, "cmd", None) or "", _inputs(args))))
    path = _log_traceback(exc, command)
    if getattr(args, "verbose", False):
        traceback.print_exception(exc, file=sys.stderr)
    where = f"; the traceback is in {path}" if path is not None else ""
    return say_error(f"{command}: {describe(exc)}{where}")


def broken_pipe() -> int:
    """stdout's reader went away: stop quietly, and keep Python's exit-time flush from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def interrupted() -> int:
    print("sevens: interrupted", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED
