"""The preset table of docs/reconstruction.md: calibrate and measure every preset of the issue-13 matrix.

    .venv/bin/python benchmarks/reconstruction_table.py > table.jsonl   (about 3 minutes on one core)
"""
import json
import time

from daq import config
from daq.cli import acceptance as A
from simulators.presets import MATRIX, preset_config, preset_name

base = config.load()
rows = []
for spe, noise, slope in MATRIX:
    name = preset_name(spe, noise, slope)
    cfg = preset_config(base, name)
    t = time.perf_counter()
    cal = A.calibrate(cfg, 6000)
    fig = A.measure(cfg, cal, 2000)
    window = [cal.window.length, cal.window.pre, cal.window.post, cal.window.separation]
    rows.append({"preset": name, **fig.__dict__, "window": window, "spread": cal.spread})
    print(json.dumps(rows[-1]), flush=True)
