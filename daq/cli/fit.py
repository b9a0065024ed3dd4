"""``sevens predict`` and ``sevens fit``: the standard-model prediction and the likelihood fit of :mod:`analysis`.

A malformed dataset gives a one-line message naming the file and key, exit 2; a fit that ran but is
not valid (no minimum, or no covariance from HESSE) prints what it could and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analysis.schema import DatasetError
from daq.cli.common import UsageError


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: Any) -> Any:
    """NaN and infinities become null: strict JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _write_json(data: dict[str, Any], path: str | None) -> None:
    data = json.loads(json.dumps(data, default=_json_default))  # numpy -> Python, then clean
    text = json.dumps(_finite(data), indent=2, allow_nan=False)
    if path:
        try:
            Path(path).write_text(text + "\n")
        except OSError as exc:
            raise UsageError(f"--json {path}: cannot write: {exc.strerror or exc}") from None


def _load(args: argparse.Namespace):
    from analysis.datafiles import load_observed
    from analysis.dataset import read_dataset, with_steady_state_model

    spec = read_dataset(args.dataset, args.data_dir)
    model = getattr(args, "steady_state", None)
    if model:
        spec = with_steady_state_model(spec, model)
    return spec, load_observed(spec)


@contextlib.contextmanager
def _scan_points_on(scheduler: str | None, workers: int, spec: Any, observed: Any) -> Iterator[Any]:
    """A point mapper on the chosen cluster (None: the points run here, one after the other)."""
    if scheduler in (None, "serial"):
        yield None
        return
    from daq.cluster import client as cluster_client
    from daq.cluster.scans import ClusterPoints

    stack = contextlib.ExitStack()
    try:
        c = stack.enter_context(cluster_client.open_client(scheduler, workers))
    except cluster_client.ClusterError as exc:  # the cluster only: the fit's own errors pass
        raise UsageError(f"--scheduler: {exc}") from None
    with stack:
        yield ClusterPoints(c, spec, observed)


def _num(value: Any, fmt: str) -> str:
    """``value`` formatted, or n/a when it is missing or not finite (an error HESSE could not give)."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return format(value, fmt)


def cmd_predict(args: argparse.Namespace) -> int:
    """Standard-model expected counts per component in the analysis window."""
    from analysis.results import predict_report

    try:
        spec, observed = _load(args)
        report = predict_report(spec, observed)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    _write_json(report, args.json)
    print(f"{spec.name}: POT {observed.pot:.4g}, PE {spec.analysis.pe_edges[0]:g}-{spec.analysis.pe_edges[-1]:g},"
          f" t {spec.analysis.time_edges_us[0]:g}-{spec.analysis.time_edges_us[-1]:g} us")
    for name, value in report["components"].items():
        print(f"  {name:18s} {value:9.2f}")
    print(f"  {'CEvNS total':18s} {report['cevns_total']:9.2f} +- {report['cevns_total_err']:.2f}")
    print(f"  <sigma>_SM = {report['sigma_sm_1e40_cm2']['all']:.1f} x 1e-40 cm^2 per nucleus")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Likelihood fit, significance, cross sections, sin^2 theta_W, NSI, counting.

    Exit status 0 for a valid fit; 1 when the fit ran but is not valid (MIGRAD found no minimum, or
    HESSE gave no covariance): what could be computed is printed and written, errors it could not
    give are n/a (null in the JSON), and one line on stderr says why; 2 for a bad dataset."""
    from analysis.results import analyse

    if args.toys is not None:
        from daq.cli.toys import cmd_toys

        return cmd_toys(args)
    if args.scheduler not in (None, "serial"):  # before the dataset is read: a typo fails at once
        from daq.cluster.client import check_scheduler

        try:
            check_scheduler(args.scheduler)
        except ValueError as exc:
            raise UsageError(f"--scheduler: {exc}") from None
    start = time.perf_counter()
    try:
        spec, observed = _load(args)
        with _scan_points_on(args.scheduler, args.workers, spec, observed) as points:
            result = analyse(spec, observed, with_nsi=not args.no_nsi, profile_points=args.scan_points,
                             with_impacts=not args.no_impacts, points=points)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    s = result.summary
    s["fit_seconds"] = time.perf_counter() - start
    if points is not None:
        s["scan_points_on"] = {"scheduler": args.scheduler, "tasks": points.tasks, "failed": points.failures}
        for name, why in points.failures.items():
            print(f"sevens fit: scan point {name}: failed twice: {why} (NaN in the scan)", file=sys.stderr)
    if args.plots:
        from analysis.plots import write_plots

        s["plots"] = [str(p) for p in write_plots(result, args.plots)]
    _write_json(s, args.json)
    c = s["counting"]
    print(f"{spec.name}: C {c['n_c']:.0f}, AC {c['n_ac']:.0f}, neutrons {c['neutrons']:.1f}")
    print(f"  CEvNS (fit)        {s['n_cevns']:.1f} +- {_num(s['n_cevns_err'], '.1f')}   SM {s['sm_prediction']:.1f}"
          f" +- {s['sm_prediction_err']:.1f}")
    print(f"    profile interval -{_num(s['n_cevns_err_lo'], '.1f')} +{_num(s['n_cevns_err_hi'], '.1f')}")
    print(f"  CEvNS (counting)   {c['signal']:.1f} +- {c['error']:.1f}")
    print(f"  significance       {_num(s['significance_sigma'], '.2f')} sigma (expected at SM "
          f"{_num(s['significance_expected_sigma'], '.2f')})   steady state: {s['steady_state']['model']}")
    for name, w in s["chi2_windows"].items():
        print(f"  chi2/ndof {name:9s}  {w['chi2']:.1f}/{w['ndof']:.1f} ({w['bins']} bins)")
    ss = s["steady_state"]
    if "sideband_chi2" in ss:
        print(f"  chi2/ndof sideband   {ss['sideband_chi2']:.1f}/{ss['sideband_ndof']} (smooth shape fit of "
              f"{'+'.join(ss['sideband_windows'])}; prior {ss['norm_prior']:.1f} +- {ss['norm_prior_err']:.1f})")
    print(f"  <sigma>            {s['sigma_flux_avg_1e40_cm2']:.1f} -{_num(s['sigma_flux_avg_err_lo_1e40_cm2'], '.1f')}"
          f" +{_num(s['sigma_flux_avg_err_hi_1e40_cm2'], '.1f')} (SM {s['sigma_sm_1e40_cm2']:.1f}) x 1e-40 cm^2")
    print(f"  sin^2 theta_W      {_num(s['sin2_theta_w'], '.3f')}")
    if s["impacts"]:
        print("  largest impacts on the CEvNS count (pull, +1/-1 sigma shift):")
        for row in s["impacts"][:5]:
            if row.get("group"):
                print(f"    {row['name']:14s} all fixed      {row['up']:+.1f} / {row['down']:+.1f} (in quadrature)")
                continue
            print(f"    {row['name']:14s} {row['pull']:+.2f} +- {row['pull_err']:.2f}  "
                  f"{row['up']:+.1f} / {row['down']:+.1f}{'  (free)' if row.get('free') else ''}")
    print(f"  ({s['fit_seconds']:.1f} s)", flush=True)
    if s["fit_note"]:
        print(f"sevens: error: {args.dataset}: {s['fit_note']}; the values above are not a measurement",
              file=sys.stderr)
        return 1
    return 0


def _scan_points(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 3:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 3, got {text!r}")
    return value


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``fit`` to the ``sevens`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("dataset", help="dataset description (TOML), e.g. analysis/datasets/coherent-2018.toml")
    common.add_argument("--data-dir", help="directory holding the data files named in the TOML "
                        "(default: the TOML's directory)")
    common.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p = subparsers.add_parser("predict", parents=[common], help="standard-model CEvNS and background prediction")
    p.set_defaults(func=cmd_predict)
    f = subparsers.add_parser("fit", parents=[common], help="binned likelihood fit of a dataset")
    f.add_argument("--plots", metavar="DIR", help="write PNG figures to DIR")
    f.add_argument("--no-nsi", action="store_true", help="skip the NSI scan")
    f.add_argument("--scan-points", type=_scan_points, default=50, metavar="N",
                   help="points of the profile-likelihood scan in mu, from 0 (default 50; at least 3)")
    f.add_argument("--no-impacts", action="store_true", help="skip the nuisance impact table")
    f.add_argument("--steady-state", choices=("factorized", "per_bin", "smooth"),
                   help="steady-state background model instead of the dataset's [steady_state] model")
    from daq.cli.toys import add_options

    add_options(f)
    f.set_defaults(func=cmd_fit)

