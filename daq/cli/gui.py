"""``sevens gui``: the shift-crew GUI (wired into daq/cli/main.py through :func:`add_commands`)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from daq.cli.common import UsageError, use_curve_keys

if TYPE_CHECKING:
    import numpy as np

TAB_KEYS = ("dq", "physics", "waveform")  # the main window's tabs (no Qt import here: headless hosts)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text}")
    return value


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    g = subparsers.add_parser("gui", help="shift-crew GUI: live monitoring and run control, or a recorded run file",
                              description="Shift-crew GUI. Connects to the running DAQ's monitor stream "
                                          "(`sevens daemon` or `sevens daq`), or opens a run file.")
    g.add_argument("--config", help="hwconfig TOML file (default: hwconfig/csi-sns.toml)")
    g.add_argument("--connect", action="store_true",
                   help="connect to the running DAQ (the default without --file; with --file: the file, then live)")
    g.add_argument("--file", metavar="RUN.h5", help="open a recorded (or still recording) run file")
    g.add_argument("--control", action="store_true",
                   help="control role: may start and stop runs (reads the control token from --run-dir)")
    g.add_argument("--ipc", metavar="DIR", help="the DAQ's private ipc endpoints (`sevens daq/daemon --ipc DIR`)")
    g.add_argument("--run-dir", help="the supervisor's run directory, holding its control token "
                                     "(default: run.directory of the config)")
    g.add_argument("--screenshot", metavar="PNG", help="save the main window to PNG after --exit-after seconds")
    g.add_argument("--exit-after", type=_seconds, metavar="SECONDS", help="quit after this many seconds")
    g.add_argument("--tab", choices=TAB_KEYS, help="tab shown first (dq, physics, waveform)")
    g.add_argument("--size", metavar="WxH", help="window size in pixels, e.g. 1720x1000")
    g.add_argument("--check", action="store_true",
                   help="only check that Qt can open a window here (exit 0), else say what to install (exit 2)")
    g.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from daq import config as config_mod

    if args.check:
        _check_platform()
        return 0
    cfg = config_mod.load(args.config)
    if args.ipc:
        cfg = config_mod.with_ipc_endpoints(cfg, args.ipc)
    if args.screenshot and args.exit_after is None:
        args.exit_after = 5.0
    connect = args.connect or not args.file
    if args.control and not connect:
        raise UsageError("--control needs a live DAQ (drop --file or add --connect)")
    run_dir = (args.run_dir or cfg.run.directory) if args.control else None
    curve = use_curve_keys(cfg, "control" if args.control else "viewer")
    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
            if w <= 0 or h <= 0:
                raise ValueError(args.size)
            size = (w, h)
        except ValueError:
            raise UsageError(f"--size: expected WIDTHxHEIGHT, got {args.size!r}") from None
    if args.file:
        check_run_file(args.file)  # a clear error for a missing, damaged or foreign file, before any window
    _check_platform()
    try:
        from monitor import app
    except ImportError as exc:
        raise UsageError(f"the GUI needs PyQt5 and pyqtgraph (pip install -e '.[gui]'): {exc}") from None
    return app.run(cfg, file=args.file, connect=connect, run_dir=run_dir, screenshot=args.screenshot,
                   exit_after=args.exit_after, tab=args.tab, size=size, curve_control=curve and args.control)



def _check_platform() -> None:
    """UsageError naming what is missing when Qt cannot open a window (it would abort, exit 134)."""
    try:
        from monitor.qtplatform import platform_problem
    except ImportError as exc:
        raise UsageError(f"the GUI needs PyQt5 and pyqtgraph (pip install -e '.[gui]'): {exc}") from None
    problem = platform_problem()  # asked of a child process: an abort there is only an answer
    if problem:
        raise UsageError(problem)


REQUIRED_TABLES = ("triggers", "features")  # what the GUI reads of a run file, by position (same layout)
OPTIONAL_TABLES = ("beam", "losses", "dq", "peaks", "veto_hits")
KINDS = {"i": "iu", "u": "iu", "f": "fiu", "b": "biu"}


def check_run_file(path: str) -> None:
    """A run file the GUI can show: readable, with a run number, and every table it reads laid out
    as this version writes it (field names in order, numeric kinds); else a UsageError naming the
    file, the table and the field."""
    from daq.runfile import H5_ERRORS, RAW, TABLES, open_run

    with open_run(path) as f:  # RunFileError for a missing or unreadable file
        try:
            if "run_number" not in f.attrs:
                raise UsageError(f"{path}: not a sevens run file: no run_number attribute")
            int(f.attrs["run_number"])
            for name in (*REQUIRED_TABLES, *OPTIONAL_TABLES):
                if name not in f:
                    if name in REQUIRED_TABLES or (name in ("peaks", "veto_hits") and RAW["csi"] in f):
                        raise UsageError(f"{path}: not a sevens run file: no table '{name}'")
                    continue
                _check_table(path, name, f[name], TABLES[name])
            if RAW["csi"] in f and (f[RAW["csi"]].ndim != 2 or f[RAW["csi"]].dtype.kind not in "iu"):
                raise UsageError(f"{path}: '{RAW['csi']}': expected integer records (rows of samples), got "
                                 f"{f[RAW['csi']].dtype} {f[RAW['csi']].shape}")
        except H5_ERRORS as exc:
            raise UsageError(f"{path}: not a readable run file: {' '.join(str(exc).split())}") from None


def _check_table(path: str, name: str, ds: Any, expected: np.dtype) -> None:
    """``ds`` holds the fields of ``expected`` in its order, each of a kind that casts to it."""
    dtype = getattr(ds, "dtype", None)
    names = (dtype.names if dtype is not None else None) or ()
    if getattr(ds, "ndim", 0) != 1 or not names:
        raise UsageError(f"{path}: table '{name}': expected a table of rows with fields {list(expected.names)}")
    for k, field in enumerate(expected.names):
        if field not in names:
            raise UsageError(f"{path}: table '{name}': no field '{field}' (not a sevens run file?)")
        if names[k] != field:
            raise UsageError(f"{path}: table '{name}': field '{field}' is not where this version writes it "
                             f"(fields {list(names)}, expected {list(expected.names)})")
        have, want = dtype.fields[field][0], expected.fields[field][0]
        if have.kind not in KINDS.get(want.kind, want.kind) or have.shape != want.shape:
            raise UsageError(f"{path}: table '{name}', field '{field}': expected {want}, got {have}")
