"""``sevens efficiency``: the measured acceptance of the reconstruction and cuts, for the fit.

Pulses of known N and time are injected into simulated noise of a preset (``--preset``) or into records of a
recorded run (``--noise-from``), and go through the DAQ's own stages (:mod:`daq.cli.acceptance`). The result
is printed, written as JSON (``--json``), and, with ``--dataset IN --out OUT``, written into a copy of a fit
dataset: its ``[response.pe_efficiency]`` (a logistic in reconstructed PE, with errors) and
``[response.time_efficiency]`` (a table beside OUT) become the measured ones.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daq.cli.common import UsageError, load_config, non_negative_int, say, with_config
from daq.config import Config

if TYPE_CHECKING:
    import numpy as np


def _positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def recorded_records(path: str, cfg: Config, limit: int) -> np.ndarray:
    """Up to ``limit`` CsI records of a run file (int8, the config's record length)."""
    import numpy as np

    from daq.runfile import RunFileError
    from daq.runfile.files import open_run

    try:
        with open_run(path) as f:
            if "raw/csi" not in f:
                raise UsageError(f"--noise-from {path}: the run file has no raw CsI waveforms (raw/csi)")
            ds = f["raw/csi"]
            if ds.ndim != 2 or ds.shape[1] != cfg.digitizer.n_samples or ds.dtype != np.int8:
                raise UsageError(f"--noise-from {path}: raw/csi is {ds.dtype} {ds.shape}; the config expects int8 "
                                 f"records of {cfg.digitizer.n_samples} samples")
            if ds.shape[0] == 0:
                raise UsageError(f"--noise-from {path}: raw/csi holds no records")
            return np.asarray(ds[: min(limit, ds.shape[0])])
    except (RunFileError, OSError) as exc:
        raise UsageError(f"--noise-from {path}: {exc}") from None


def measure(args: argparse.Namespace) -> tuple[dict[str, Any], Config]:
    from daq.cli import acceptance as A

    cfg = load_config(args)
    if args.preset:
        from simulators.presets import preset_config

        try:
            cfg = preset_config(cfg, args.preset)
        except ValueError as exc:
            raise UsageError(f"--preset: {exc}") from None
    recorded = recorded_records(args.noise_from, cfg, args.calibration_records) if args.noise_from else None
    if recorded is None:
        calibration = A.calibrate(cfg, args.calibration_records, seed=args.seed)
        dark = float(cfg.simulation.dark_rate_hz)
    else:  # the recorded records hold their own dark counts and SPEs: no simulated ones on top
        from simulators.injection import Injector

        batch = Injector(cfg).records(len(recorded), args.seed, n_pe=0, dark_rate_hz=0.0, recorded=recorded)
        extraction = A.FeatureExtraction(cfg)
        A.run_extraction(extraction, batch)
        calibration = extraction.calibration
        dark = 0.0
    result = A.acceptance(cfg, calibration, args.per_point, seed=args.seed + 1, recorded=recorded, dark_hz=dark)
    result["calibration"] = calibration.to_dict()
    result["source"] = {"preset": args.preset, "noise_from": args.noise_from, "config": str(cfg.path),
                        "config_sha256": cfg.sha256, "seed": args.seed, "per_point": args.per_point,
                        "calibration_records": args.calibration_records}
    return result, cfg


def report(result: dict[str, Any]) -> str:
    cal = result["calibration"]
    lines = [f"calibration  SPE gain {cal['gain']:.2f} ADC*sample, spread {cal['spread']:.2f}, "
             f"window (L, pre, post, sep) {tuple(cal['window'])} samples",
             f"PE response  mean {result['pe_scale']:.4f} x N, variance {result['pe_variance']:.3f} x mean "
             "(windows with N >= 10 passing every cut)",
             "   N (PE)   passing every cut"]
    for n_pe, eff, err in zip(result["pe"], result["eff"], result["err"], strict=True):
        lines.append(f"   {n_pe:6d}   {eff:.3f} +- {err:.3f}")
    lines.append(f"logistic     a {result['a']:.3f} +- {result['a_err']:.3f}, k {result['k']:.3f} +- "
                 f"{result['k_err']:.3f}, x0 {result['x0']:.3f} +- {result['x0_err']:.3f} PE (reconstructed), "
                 f"chi2 {result['chi2']:.1f} / {result['ndof']}")
    times = ", ".join(f"{t:.1f}: {e:.3f}" for t, e in zip(result["time_us"], result["time_eff"], strict=True))
    lines.append(f"time (us after the ROI start: relative acceptance, N >= 10)  {times}")
    return "\n".join(lines)


def write_dataset(result: dict[str, Any], dataset: Path, out: Path) -> Path:
    """Write ``out``: the dataset ``dataset`` with the measured PE and time acceptance; return the table's path."""
    import tomli_w

    try:
        raw = tomllib.loads(dataset.read_text())
    except OSError as exc:
        raise UsageError(f"--dataset {dataset}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--dataset {dataset}: not valid TOML: {exc}") from None
    if not all(math.isfinite(result[k]) for k in ("a", "k", "x0", "a_err", "k_err", "x0_err")):
        raise UsageError("the logistic fit of the acceptance failed: no dataset written (more --per-point?)")
    response = raw.setdefault("response", {})
    response["pe_efficiency"] = {
        "model": "logistic",
        **{name: {"value": round(result[name], 5), "error": round(result[f"{name}_err"], 5)}
           for name in ("a", "k", "x0")},
        "steps": [],
    }
    table = out.with_name(out.stem + "-time-efficiency.csv").resolve()
    rows = "\n".join(f"{t:.4f},{e:.5f}" for t, e in zip(result["time_us"], result["time_eff"], strict=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(f"# time after the ROI start [us], relative acceptance (sevens efficiency)\n{rows}\n")
    response["time_efficiency"] = {"model": "table", "table": str(table)}
    src = result["source"]
    header = (f"# Written by `sevens efficiency` from {dataset}: [response.pe_efficiency] and\n"
              f"# [response.time_efficiency] are the measured acceptance (preset {src['preset']}, noise from "
              f"{src['noise_from']},\n# config {src['config']} sha256 {src['config_sha256'][:16]}, seed {src['seed']}, "
              f"{src['per_point']} windows per N).\n# Relative file names resolve against this file's directory or "
              "--data-dir.\n")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(header + tomli_w.dumps(raw))
    tmp.replace(out)
    return table


def cmd_efficiency(args: argparse.Namespace) -> int:
    if (args.dataset is None) != (args.out is None):
        raise UsageError("--dataset and --out go together: the dataset to copy and where to write it")
    if args.out is not None and Path(args.out).resolve() == Path(args.dataset).resolve():
        raise UsageError(f"--out {args.out}: the same file as --dataset; write the measured dataset elsewhere")
    result, _ = measure(args)
    print(report(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        say(args, f"wrote {args.json}")
    if args.dataset:
        table = write_dataset(result, Path(args.dataset), Path(args.out))
        say(args, f"wrote {args.out} (and {table})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = with_config(sub.add_parser(
        "efficiency", help="measure the acceptance (efficiency vs PE and time) by injecting pulses; write it "
                           "into a fit dataset"))
    p.add_argument("--preset", help="simulated noise and SPE shape of a preset (SPE[/NOISE[/SLOPE]], e.g. "
                                    "typical/0.8; simulators/presets.py)")
    p.add_argument("--noise-from", metavar="RUN.h5", help="inject into the CsI records of this run file instead "
                                                          "of simulated noise")
    p.add_argument("--per-point", type=_positive_int, default=400, help="windows per N (default 400)")
    p.add_argument("--calibration-records", type=_positive_int, default=4000,
                   help="records for the SPE calibration first (default 4000)")
    p.add_argument("--seed", type=non_negative_int, default=1)
    p.add_argument("--json", metavar="FILE", help="write the measurement as JSON")
    p.add_argument("--dataset", metavar="IN.toml", help="fit dataset to copy with the measured acceptance")
    p.add_argument("--out", metavar="OUT.toml", help="where to write that copy")
    p.set_defaults(func=cmd_efficiency)
