"""``sevens warm``: compile the numba kernels of every DAQ process into the cache before the first run.

A cold cache (a new install, or a change to any module of ``daq.kernels``: :mod:`daq.kernels.jit_cache`)
costs the event builder ~35 s and the recorder's raw-chunk coder ~20 s of CPU at the start of the next run,
which the supervisor waits for (``supervisor.warmup_timeout_s``) while the run has not started. ``make venv``
runs this once per install, as a deployment does before its first run; a warm cache makes it a load of ~1 s.
Each process's kernels compile in a process of their own (their cache entries are disjoint), as many at
once as ``--jobs``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from daq import config as config_mod
from daq.cli.common import load_config, non_negative_int, with_config
from daq.cli.run import NODE_CLASSES, simulated

LONGEST_FIRST = ("recorder", "builder", "veto", "reader", "cuts", "beam")  # cold-compile times, here


def _warm_one(name: str, text: str, path: str) -> tuple[str, float]:
    """Warm the kernels of process ``name`` for the config ``text``; (name, seconds)."""
    from daq.kernels import jit_cache

    jit_cache.skip_extensions()  # as in `sevens process`
    cfg = config_mod.parse(text, path)
    module, cls = NODE_CLASSES[name]
    t0 = time.perf_counter()
    getattr(importlib.import_module(module), cls).warm_kernels(cfg)
    return name, time.perf_counter() - t0


def cmd_warm(args: argparse.Namespace) -> int:
    cfg = simulated(load_config(args)) if args.simulate else load_config(args)
    names = [n for n in LONGEST_FIRST if n in NODE_CLASSES]
    jobs = args.jobs or min(len(names), os.cpu_count() or 1)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        done = pool.map(_warm_one, names, [cfg.text] * len(names), [str(cfg.path)] * len(names))
        for name, seconds in done:
            print(f"{name:9s} kernels ready in {seconds:6.1f} s", flush=True)
    print(f"numba cache warm for {cfg.path} ({time.perf_counter() - t0:.1f} s, {jobs} at once)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    w = with_config(sub.add_parser("warm", help="compile every DAQ process's numba kernels into the cache now "
                                                "(after an install or a kernel change; make venv runs it)"))
    w.add_argument("--simulate", action="store_true", help="the simulated digitizer's kernels (as sevens daq "
                                                           "--simulate)")
    w.add_argument("--jobs", type=non_negative_int, default=0,
                   help="processes compiling at once (default: one per core, at most one per DAQ process)")
    w.set_defaults(func=cmd_warm)
