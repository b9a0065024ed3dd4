"""Fan a pure function out over items on a Dask client: retried once, failures named, a progress bar.

Each item becomes one task (:meth:`distributed.Client.submit` with ``retries``): a task that raises
is run once more (on any worker); an item whose task fails twice is reported by its name with the
error, and every other item still finishes. A worker that dies mid-task (killed, out of memory) is
not a task failure: the scheduler runs the task again elsewhere (up to
``distributed.scheduler.allowed-failures`` deaths, then it fails with ``KilledWorker``).
Results come back in the order of the items, whatever the order they finish in.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

RETRIES = 1  # a failed task runs once more; a second failure is reported


@dataclass
class Outcome:
    """Results (None where the item failed), in item order, and the failures by item name."""

    results: list[Any]
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class ProgressBar:
    """One line on a terminal (stderr by default): items done of total, failures, elapsed time."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        self.on = force or self.stream.isatty()
        self.t0 = time.monotonic()
        self.drawn = False

    def update(self, done: int, failed: int) -> None:
        if not self.on:
            return
        frac = min(done / self.total, 1.0)
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        fail = f", {failed} failed" if failed else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}{fail} {time.monotonic() - self.t0:6.1f} s ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.on and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def fan_out(client: Any, fn: Callable[[Any], Any], items: Sequence[Any], names: Sequence[str], label: str,
            retries: int = RETRIES, progress: ProgressBar | None = None,
            on_result: Callable[[int, Any], None] | None = None) -> Outcome:
    """``fn(item)`` for every item on ``client``'s workers; ``on_result(i, result)`` as each finishes."""
    from distributed import as_completed

    t0 = time.monotonic()
    bar = progress or ProgressBar(len(items), label)
    tag = uuid.uuid4().hex[:8]
    futures = [client.submit(fn, item, key=f"{label.replace(' ', '-')}-{i}-{tag}", retries=retries, pure=False)
               for i, item in enumerate(items)]
    index = {f.key: i for i, f in enumerate(futures)}
    out = Outcome([None] * len(items))
    done = 0
    bar.update(0, 0)
    try:
        for fut in as_completed(futures):
            i = index[fut.key]
            if fut.status == "finished":
                out.results[i] = fut.result()
                if on_result is not None:
                    on_result(i, out.results[i])
            else:
                exc = fut.exception() if fut.status == "error" else None
                out.failures[names[i]] = describe_error(exc) if exc is not None else f"task {fut.status}"
            done += 1
            bar.update(done, len(out.failures))
    finally:
        bar.close()
        for fut in futures:
            fut.release()
    out.seconds = time.monotonic() - t0
    return out
