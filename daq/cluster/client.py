"""Which cluster: a LocalCluster, an existing scheduler, or SLURM / HTCondor jobs through dask-jobqueue.

``local`` (the default) starts a :class:`distributed.LocalCluster` of ``workers`` processes with one
thread each (the kernels hold the GIL only briefly, but h5py serialises reads per process and a
process per core keeps them apart). An address (``tcp://host:8786``) joins a running scheduler and
its workers. ``slurm`` and ``htcondor`` start a :class:`dask_jobqueue.SLURMCluster` /
:class:`dask_jobqueue.HTCondorCluster` from the ``jobqueue.slurm`` / ``jobqueue.htcondor`` section of
the Dask configuration (``~/.config/dask/jobqueue.yaml``, see docs/reprocessing.md) and scales it to
``workers`` jobs; dask-jobqueue is imported only then (the ``cluster`` extra).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

SCHEDULERS = ("local", "slurm", "htcondor")


class ClusterError(Exception):
    """The cluster could not be started or reached (the message says which and why)."""


def describe(scheduler: str) -> str:
    return scheduler if scheduler in SCHEDULERS else f"scheduler at {scheduler}"


def check_scheduler(scheduler: str) -> str:
    """``scheduler`` if it names a cluster kind or looks like an address; ValueError otherwise."""
    if scheduler in SCHEDULERS or "://" in scheduler or ":" in scheduler:
        return scheduler
    raise ValueError(f"expected local, slurm, htcondor or a scheduler address (tcp://host:8786), got {scheduler!r}")


def jobqueue_class(kind: str) -> Any:
    """The dask-jobqueue cluster class of ``kind`` (slurm, htcondor); its ``job_cls`` renders the job script."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(f"--scheduler {kind}: needs dask-jobqueue (pip install 'sevens[cluster]')") from None
    return dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.HTCondorCluster


def jobqueue_cluster(kind: str) -> Any:
    """A dask-jobqueue cluster of ``kind`` from the Dask config; no job submitted yet."""
    cls = jobqueue_class(kind)
    try:
        return cls()  # every setting from the jobqueue.<kind> section of the Dask config
    except (ValueError, TypeError, KeyError) as exc:
        raise ClusterError(f"--scheduler {kind}: the jobqueue.{kind} Dask config is incomplete: {exc} "
                           "(docs/reprocessing.md has a worked example)") from None


@contextlib.contextmanager
def open_client(scheduler: str = "local", workers: int = 2, per_worker_cache: str | None = None,
                timeout_s: float = 30.0) -> Iterator[Any]:
    """A :class:`distributed.Client` of the chosen cluster, closed (with a cluster it started) on exit.

    ``per_worker_cache``: a base directory for one numba cache directory per worker
    (:class:`daq.cluster.numba_cache.PerWorkerCache`); default: the package's shared cache, warmed
    by one worker at a time."""
    import dask
    from distributed import Client, LocalCluster

    from daq.cluster.numba_cache import PerWorkerCache

    cluster: Any = None
    try:
        if scheduler == "local":
            # worker processes inherit this process's environment (PYTHONPATH: a checkout first on the path);
            # no statistical profiler in them (it samples every thread's stack every 10 ms)
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
            client = Client(cluster, timeout=timeout_s)
        elif scheduler in ("slurm", "htcondor"):
            cluster = jobqueue_cluster(scheduler)
            cluster.scale(jobs=workers)
            client = Client(cluster, timeout=timeout_s)
        else:
            client = Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"--scheduler {scheduler}: cannot reach the {describe(scheduler)}: {exc}") from None
    try:
        if per_worker_cache:
            client.register_plugin(PerWorkerCache(per_worker_cache))
        if scheduler in ("slurm", "htcondor"):
            client.wait_for_workers(1, timeout=600)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
