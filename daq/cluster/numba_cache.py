"""The numba cache on a cluster: warmed by one worker at a time, or one cache directory per worker.

The kernels (:mod:`daq.kernels`) are module-level functions of the installed package, compiled with
``cache=True`` into ``__pycache__`` beside their source. Two processes compiling the same kernel into
one cache at once have crashed workers in other projects (a half-written index read by the other),
so a task warms the kernels before its first record, once per worker process, holding a
cluster-wide :class:`distributed.Lock`: the first worker compiles and writes the cache, the others
wait and then only load it (a worker on a CPU of another kind compiles its own entry, still one at a
time). Before the fan-out, :func:`warm_workers` warms the workers there are, one after the other,
so that a worker killed mid-job never holds the lock. Outside a worker there is nothing to race with.

For clusters whose workers cannot share the package's cache directory (read-only installs, job
nodes with a local scratch disk), :class:`PerWorkerCache` gives every worker its own
``NUMBA_CACHE_DIR`` under a base directory before any kernel is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from daq.config import Config

LOCK_NAME = "sevens-numba-cache"
LOCK_TIMEOUT_S = 900.0  # a cold cache compiles in ~20 s here; a loaded node may take much longer
_warm: set[str] = set()


def warm(cfg: Config) -> None:
    """Compile (or load) every kernel a reprocessing task calls."""
    from daq.stages.building import FeatureExtraction
    from daq.stages.veto import VetoHits

    FeatureExtraction(cfg).warm()
    VetoHits(cfg).warm()


def current_worker() -> Any | None:
    """The Dask worker running this task, or None outside one."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:  # not inside a task
        return None


def warm_once(cfg: Config) -> None:
    """:func:`warm` once per process (per kernel-relevant config), one worker of the cluster at a time."""
    key = f"{cfg.digitizer.n_samples}"  # the kernels' signatures depend only on the record length
    if key in _warm:
        return
    if current_worker() is None:
        warm(cfg)
    else:
        from distributed import Lock

        with Lock(LOCK_NAME):
            warm(cfg)
    _warm.add(key)


def _warm_text(text: str, name: str) -> bool:
    from daq import config as config_mod

    warm_once(config_mod.parse(text, name))
    return True


def warm_workers(client: Any, cfg: Config) -> None:
    """Warm the workers there are now, one after the other, before the fan-out (a worker that joins
    later warms in its first task, under the lock)."""
    for address in list(client.scheduler_info()["workers"]):
        client.run(_warm_text, cfg.text, str(cfg.path), workers=[address])


class PerWorkerCache(WorkerPlugin):
    """A worker plugin: ``NUMBA_CACHE_DIR = base/<worker name>`` for every worker, set at its start."""

    name = "sevens-numba-cache-dir"

    def __init__(self, base: str) -> None:
        self.base = base

    def setup(self, worker: Any) -> None:
        path = Path(os.path.expandvars(self.base)) / str(worker.name).replace("/", "_")
        path.mkdir(parents=True, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(path)
        try:  # numba imported already (by the worker's own imports): let it see the new directory
            from numba.core import config as numba_config

            numba_config.reload_config()
        except ImportError:
            pass

    def teardown(self, worker: Any) -> None:
        return None
