"""Profile-scan and NSI points of a fit, one task each, on Dask.

``sevens fit DATASET --scheduler ...`` (without ``--toys``) hands :func:`analysis.results.analyse`
a point mapper (:data:`analysis.scanpoints.PointMapper`) that sends every point of the mu profile
scan and of the nu_e-strength profile (the NSI region) to the cluster. A point is a pure function
(:func:`analysis.scanpoints.point_value`) of the model and the best fit, so the numbers are the
serial ones. The dataset (its spec and observed counts) travels with each task; a worker builds the
model once per dataset and reuses it. A point whose task fails twice is NaN in the scan and is
named in :attr:`ClusterPoints.failures`.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daq.cluster.fanout import fan_out

_models: dict[tuple[str, str | None], Any] = {}


@dataclass(frozen=True)
class PointJob:
    key: str  # the dataset's identity (a hash of its spec and observed counts): one model per worker
    spec: Any  # analysis.dataset.DatasetSpec
    observed: Any  # analysis.datafiles.ObservedData
    hypothesis: str | None
    name: str
    value: float
    start: dict[str, float]
    fval: float
    pull_centres: dict[str, float]


def model_of(job: PointJob) -> Any:
    from analysis.model import FitModel
    from analysis.scanpoints import hypothesis_model

    if (job.key, None) not in _models:
        _models[(job.key, None)] = FitModel(job.spec, job.observed)
    if (job.key, job.hypothesis) not in _models:
        _models[(job.key, job.hypothesis)] = hypothesis_model(_models[(job.key, None)], job.hypothesis)
    return _models[(job.key, job.hypothesis)]


def run_point(job: PointJob) -> float:
    """2 Delta NLL at one point (the task)."""
    from analysis.scanpoints import point_value

    return point_value(model_of(job), job.name, job.value, job.start, job.fval, job.pull_centres)


class ClusterPoints:
    """A point mapper over ``client``: every call fans its points out and waits for them."""

    def __init__(self, client: Any, spec: Any, observed: Any) -> None:
        self.client, self.spec, self.observed = client, spec, observed
        self.key = hashlib.sha256(pickle.dumps((spec, observed))).hexdigest()[:16]
        self.failures: dict[str, str] = {}
        self.tasks = 0

    def __call__(self, hypothesis: str | None, name: str, values: Sequence[float], start: dict[str, float],
                 fval: float, pull_centres: dict[str, float]) -> list[float]:
        jobs = [PointJob(self.key, self.spec, self.observed, hypothesis, name, float(v), dict(start), float(fval),
                         dict(pull_centres)) for v in values]
        names = [f"{name} = {v:g}" for v in values]
        outcome = fan_out(self.client, run_point, jobs, names, f"scan {name}")
        self.tasks += len(jobs)
        self.failures.update(outcome.failures)
        return [float("nan") if r is None else float(r) for r in outcome.results]
