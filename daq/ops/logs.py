"""Process logs: one rotating file per process, every line stamped with the run number."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Callable
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s run=%(run)s %(process_name)s[%(process)d]: %(message)s"


class RunNumberFilter(logging.Filter):
    """Adds ``run`` (the current run number, or ``-``) and ``process_name`` to every record."""

    def __init__(self, process_name: str, run_number: Callable[[], int | None]) -> None:
        super().__init__()
        self.process_name = process_name
        self.run_number = run_number

    def filter(self, record: logging.LogRecord) -> bool:
        number = self.run_number()
        record.run = "-" if number is None else str(number)
        record.process_name = self.process_name
        return True


def setup(process_name: str, log_dir: str | Path | None, run_number: Callable[[], int | None],
          max_bytes: int, backups: int, verbose: bool = False) -> None:
    """Log to ``log_dir/NAME.log`` (rotating) if given, else to stderr; stamp the run number."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler: logging.Handler
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(Path(log_dir) / f"{process_name}.log", maxBytes=max_bytes,
                                                       backupCount=backups)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunNumberFilter(process_name, run_number))
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
