"""Fit toys as pure functions of their seed, so a cluster gives what a serial loop gives.

Toy ``i`` of a study with seed ``S`` draws from ``np.random.default_rng(np.random.SeedSequence([S, i]))``
and is fitted with :func:`analysis.toys.draw_toy` / :func:`analysis.toys.fit_toy`; the result is
plain numbers (:func:`run_toy`). Nothing depends on which worker ran it, in which order, or
which other toys ran in the same process; the model (templates of the dataset) is built once
per process and reused, which changes no number. :func:`run_serial` is the serial loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_models: dict[tuple[str, str | None], Any] = {}


@dataclass(frozen=True)
class ToyJob:
    dataset: str  # dataset TOML (absolute path)
    data_dir: str | None
    seed: int
    index: int
    mu_true: float = 1.0


def model_of(dataset: str, data_dir: str | None) -> Any:
    """The fit model of a dataset, built once per process."""
    key = (dataset, data_dir)
    if key not in _models:
        from analysis.datafiles import load_observed
        from analysis.dataset import read_dataset
        from analysis.model import FitModel

        spec = read_dataset(dataset, data_dir)
        _models[key] = FitModel(spec, load_observed(spec))
    return _models[key]


def rng_of(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def run_toy(job: ToyJob) -> dict[str, Any]:
    """Draw and fit toy ``job.index``: fitted CEvNS count and signal strength, their errors and pulls
    (the count's also from its profile likelihood, ``analysis.toys.run_toy``'s)."""
    from analysis.diagnostics import count_signed_root
    from analysis.toys import draw_toy, fit_toy

    model = model_of(job.dataset, job.data_dir)
    truth = {**model.start(), "mu": job.mu_true}
    n_true = model.n_cevns(truth)
    fit = fit_toy(model, draw_toy(model, truth, rng_of(job.seed, job.index)), truth)
    n, err = fit.n_cevns()
    mu, mu_err = float(fit.values["mu"]), float(fit.errors["mu"])
    return {"index": job.index, "valid": bool(fit.valid), "n_cevns": float(n), "n_cevns_err": float(err),
            "n_true": float(n_true), "mu": mu, "mu_err": mu_err, "fval": float(fit.fval),
            "pull_n_cevns": float((n - n_true) / err) if err > 0 else float("nan"),
            "pull_n_cevns_profile": count_signed_root(fit, n_true) if fit.converged else float("nan"),
            "pull_mu": float((mu - job.mu_true) / mu_err) if mu_err > 0 else float("nan")}


def jobs(dataset: str, data_dir: str | None, n: int, seed: int, mu_true: float = 1.0) -> list[ToyJob]:
    return [ToyJob(dataset, data_dir, seed, i, mu_true) for i in range(n)]


def run_serial(todo: list[ToyJob]) -> list[dict[str, Any]]:
    return [run_toy(j) for j in todo]


def summarise(results: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pull means and widths over the valid toys."""
    ok = [r for r in results if r is not None and r["valid"]]
    out: dict[str, Any] = {"toys": len(results), "valid": len(ok)}
    for name in ("pull_n_cevns", "pull_n_cevns_profile", "pull_mu"):
        p = np.array([r[name] for r in ok], float)
        p = p[np.isfinite(p)]
        out[name] = {"mean": float(p.mean()) if p.size else None,
                     "mean_err": float(p.std() / np.sqrt(p.size)) if p.size > 1 else None,
                     "width": float(p.std(ddof=1)) if p.size > 1 else None}
    return out
