"""The preset table of docs/reconstruction.md: calibrate and measure every preset of the issue-13 matrix.

    .venv/bin/python benchmarks/reconstruction_table.py [--seeds 4] > table.jsonl      (minutes on one core)
    .venv/bin/python benchmarks/reconstruction_table.py --markdown table.jsonl   (the table of the docs)
"""
import argparse
import json
import time

import numpy as np

COLUMNS = ("SPE gain / truth", "gain / truth over seeds: mean, rms", "gain / truth after the signal records",
           "PE / (N f), N >= 10",
           "onset on deposit, N >= 8", "false afterglow rejection", "afterglow turn-on [true PE]", "SPE efficiency",
           "linear gate fired", "calibrated (L, pre, post, sep) [samples]")


# the statistics of a run's first minutes (``acceptance.run_statistics``): ~120000 spectrum peaks and the
# configured response (features.spe_response_injections, 32000 found injections) in the calibration; enough
# signal records for the running gain to be fitted again on them (their response as large as the calibration's)
CALIBRATION_RECORDS = 24000
SIGNAL_RECORDS = 8000


def measure(seeds: int) -> None:
    from daq import config
    from daq.cli import acceptance as A
    from simulators.presets import MATRIX, preset_config, preset_name

    base = config.load()
    for spe, noise, slope in MATRIX:
        name = preset_name(spe, noise, slope)
        cfg = preset_config(base, name)
        t = time.process_time()
        cal = A.calibrate(cfg, CALIBRATION_RECORDS)
        fig = A.measure(cfg, cal, SIGNAL_RECORDS)
        # the calibration's statistical scatter: the same preset calibrated on other records
        others = [A.calibrate(cfg, CALIBRATION_RECORDS, seed=s).gain / cfg.simulation.spe_gain
                  for s in range(2, seeds + 1)]
        window = [cal.window.length, cal.window.pre, cal.window.post, cal.window.separation]
        row = {"preset": name, **fig.__dict__, "gain_seeds": [fig.gain_ratio, *others], "window": window,
               "spread": cal.spread,
               "cpu_s": round(time.process_time() - t, 1)}
        print(json.dumps(row), flush=True)


def markdown(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.startswith("{")]
    print("| preset (SPE / noise ADC / slope ADC) | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for r in rows:
        seeds = np.array(r.get("gain_seeds", [r["gain_ratio"]]))
        cells = [f"{r['gain_ratio']:.3f}", f"{seeds.mean():.3f}, {seeds.std():.3f} ({seeds.size})",
                 f"{r.get('gain_ratio_end', float('nan')):.3f}",
                 f"{r['pe_ratio']:.3f} +- {r['pe_ratio_err']:.3f}", f"{r['onset_purity']:.3f}",
                 f"{r['false_afterglow']:.4f}", f"{r['afterglow_turn_on']:.2f}", f"{r['spe_efficiency']:.3f}",
                 f"{r.get('linear_gate_fired', float('nan')):.4f}", "(" + ", ".join(str(v) for v in r["window"]) + ")"]
        print(f"| {r['preset']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", metavar="TABLE.jsonl", help="print the docs table from a saved measurement")
    ap.add_argument("--seeds", type=int, default=4, help="calibrations per preset for the gain's scatter (default 4)")
    args = ap.parse_args()
    if args.markdown:
        markdown(args.markdown)
    else:
        measure(args.seeds)
