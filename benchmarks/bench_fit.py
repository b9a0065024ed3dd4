"""Timing of the offline fit on the COHERENT 2018 release (a script, not a test).

    python benchmarks/bench_fit.py --data-dir ../shared/data/coherent-2018-csi [--repeat 5] [--toys 300]
        [--steady-state factorized|per_bin|smooth] [--smearing gamma] [--dataset OTHER.toml]

Prints the wall time of each step (model build, MIGRAD + HESSE, significance,
MINOS, the full ``sevens fit`` analysis) and the ratio to a plain
scipy.optimize (L-BFGS-B) minimisation of the same likelihood: best fit plus
the no-CEvNS fit that the significance needs.  Then the budget of issue 14:
best fit + significance + impacts + a 50-point profile scan, in wall and in CPU
time of this process (the machine may be shared; CPU time is what one core
spends).  ``--toys N`` also runs N toy experiments (``toys.run_toy``, seeds
0..N-1) at full binning and prints the pull mean and width.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.datafiles import load_observed  # noqa: E402
from analysis.dataset import read_dataset, with_steady_state_model  # noqa: E402
from analysis.datasets import builtin  # noqa: E402
from analysis.diagnostics import impacts, profile_scan, scan_grid  # noqa: E402
from analysis.fit import build_cost, minimise, minos_interval, significance  # noqa: E402
from analysis.model import FitModel  # noqa: E402
from analysis.results import analyse  # noqa: E402
from analysis.toys import run_toy  # noqa: E402


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


def toys(model: FitModel, n_toys: int) -> None:
    """Pulls of n_toys toys at the SM rate (seeds 0..n_toys-1)."""
    if not n_toys:
        return
    truth = {**model.start(), "mu": 1.0}
    start = time.process_time()
    rows = [run_toy(model, truth, seed) for seed in range(n_toys)]
    elapsed = time.process_time() - start
    ok = [r for r in rows if r["valid"]]
    for name in ("n_cevns", "n_cevns_profile", "mu"):
        p = np.array([r[f"pull_{name}"] for r in ok])
        p = p[np.isfinite(p)]
        print(f"toys ({model.spec.steady_state.model}): {name:15s} pull mean {p.mean():+.3f} +- "
              f"{p.std() / np.sqrt(p.size):.3f}, width {p.std(ddof=1):.3f} +- {p.std() / np.sqrt(2 * p.size):.3f}, "
              f"|pull| < 1 in {np.mean(np.abs(p) < 1):.3f}, < 2 in {np.mean(np.abs(p) < 2):.3f} "
              f"({len(ok)}/{len(rows)} valid, {elapsed / len(rows):.2f} s CPU/toy)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(builtin("coherent-2018")))
    parser.add_argument("--data-dir", help="the dataset's data directory (default: the TOML's own)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--toys", type=int, default=0)
    parser.add_argument("--steady-state", choices=("factorized", "per_bin", "smooth"))
    parser.add_argument("--smearing", choices=("poisson", "gamma"), help="override the dataset's PE smearing")
    parser.add_argument("--budget-only", action="store_true", help="only the issue-14 budget (and toys)")
    args = parser.parse_args()

    spec = read_dataset(args.dataset, args.data_dir)
    if args.steady_state:
        spec = with_steady_state_model(spec, args.steady_state)
    if args.smearing:
        spec = replace(spec, response=replace(spec.response, smearing=args.smearing))
    observed = load_observed(spec)
    model = FitModel(spec, observed)
    wall, cpu = time.perf_counter(), time.process_time()
    best = minimise(model)
    z, _ = significance(best)
    table = impacts(best)
    _, mu_hi = minos_interval(best, "mu")
    grid = scan_grid(best, "mu", mu_hi, 50)
    scan = profile_scan(best, "mu", grid)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"budget ({spec.steady_state.model}): fit + significance + {len(table)} impacts + MINOS + "
          f"{grid.size}-point scan: {wall:.1f} s wall, {cpu:.1f} s CPU  (Z = {z:.2f}, "
          f"2DNLL(mu=0) = {scan[0]:.1f}, {len(model.parameters)} parameters)")
    if args.budget_only:
        toys(model, args.toys)
        return 0

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

    toys(model, args.toys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
