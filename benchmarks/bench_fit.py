"""Timing of the offline fit on the COHERENT 2018 release (a script, not a test).

    python benchmarks/bench_fit.py --data-dir ../shared/data/coherent-2018-csi [--repeat 5] [--toys 300]

Prints the wall time of each step (model build, MIGRAD + HESSE, significance,
MINOS, the full ``sevens fit`` analysis) and the ratio to a plain
scipy.optimize (L-BFGS-B) minimisation of the same likelihood: best fit plus
the no-CEvNS fit that the significance needs.  ``--toys N`` also runs N toy
experiments at full binning and prints the pull mean and width.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.datafiles import load_observed  # noqa: E402
from analysis.dataset import read_dataset  # noqa: E402
from analysis.datasets import builtin  # noqa: E402
from analysis.fit import build_cost, minimise, minos_interval, significance  # noqa: E402
from analysis.model import FitModel  # noqa: E402
from analysis.results import analyse  # noqa: E402
from analysis.toys import draw_toy, fit_toy  # noqa: E402


def timed(func, repeat):
    """Median wall time [s] of ``repeat`` calls and the last return value."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def scipy_fit(model: FitModel, fixed: dict[str, float] | None = None):
    """Minimise the same cost with scipy.optimize.minimize (L-BFGS-B, numerical gradient)."""
    cost = build_cost(model)
    names = list(cost.parameters)
    p0 = model.start()
    fixed = fixed or {}
    free = [n for n in names if n not in fixed]
    bounds = [(0.0, None) if n == "mu" or n.startswith("ss_") else (None, None) for n in free]

    def f(x):
        p = {**p0, **fixed, **dict(zip(free, x, strict=True))}
        return cost([p[n] for n in names])

    return minimize(f, [p0[n] for n in free], method="L-BFGS-B", bounds=bounds,
                    options={"maxfun": 200000, "maxiter": 20000, "ftol": 1e-12, "gtol": 1e-8})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(builtin("coherent-2018")))
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--toys", type=int, default=0)
    args = parser.parse_args()

    spec = read_dataset(args.dataset, args.data_dir)
    observed = load_observed(spec)
    t_build, model = timed(lambda: FitModel(spec, observed), args.repeat)
    t_fit, best = timed(lambda: minimise(model), args.repeat)
    t_sig, (z, _) = timed(lambda: significance(best), args.repeat)
    t_minos, _ = timed(lambda: minos_interval(minimise(model), "mu"), 1)
    t_full, result = timed(lambda: analyse(spec, observed), 1)

    def scipy_pair():
        return scipy_fit(model), scipy_fit(model, {"mu": 0.0})

    t_scipy, (s_best, s_null) = timed(scipy_pair, max(1, args.repeat // 2))
    z_scipy = float(np.sqrt(max(2.0 * (s_null.fun - s_best.fun), 0.0)))

    print(f"dataset {spec.name}: {len(model.parameters)} parameters, "
          f"{observed.counts['c_beam_on'].size} bins per window")
    print(f"{'step':38s} {'time [s]':>9s}")
    for label, t in (("model build (templates)", t_build), ("MIGRAD + HESSE", t_fit),
                     ("significance (fit with mu = 0)", t_sig), ("MINOS on mu (incl. refit)", t_minos),
                     ("full analysis (sevens fit, no plots)", t_full)):
        print(f"{label:38s} {t:9.3f}")
    print(f"iminuit fit + significance: {t_fit + t_sig:.3f} s  (Z = {z:.3f}, NLL {best.fval:.4f}, "
          f"{best.minuit.nfcn} calls)")
    print(f"scipy L-BFGS-B fit + significance: {t_scipy:.3f} s  (Z = {z_scipy:.3f}, NLL {s_best.fun:.4f}, "
          f"{s_best.nfev + s_null.nfev} calls, converged {s_best.success and s_null.success})")
    print(f"ratio scipy / iminuit: {t_scipy / (t_fit + t_sig):.2f}")
    print(f"n_cevns {result.summary['n_cevns']:.1f} +- {result.summary['n_cevns_err']:.1f}")

    if args.toys:
        truth = {**model.start(), "mu": 1.0}
        n_true = model.n_cevns(truth)
        rng = np.random.default_rng(12345)
        pulls = []
        start = time.perf_counter()
        for _ in range(args.toys):
            fit = fit_toy(model, draw_toy(model, truth, rng), truth)
            n, err = fit.n_cevns()
            pulls.append(((n - n_true) / err, (fit.values["mu"] - 1.0) / fit.errors["mu"], fit.valid))
        pulls = np.array(pulls)
        ok = pulls[:, 2] > 0
        elapsed = time.perf_counter() - start
        for k, name in enumerate(("n_cevns", "mu")):
            p = pulls[ok, k]
            print(f"toys: {name:8s} pull mean {p.mean():+.3f} +- {p.std() / np.sqrt(p.size):.3f}, "
                  f"width {p.std(ddof=1):.3f}  ({ok.sum()}/{len(pulls)} valid, {elapsed / len(pulls):.2f} s/toy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
