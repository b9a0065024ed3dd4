"""``sevens gui``: the shift-crew GUI (wired into daq/cli/main.py through :func:`add_commands`)."""

from __future__ import annotations

import argparse

from daq.cli.common import UsageError, use_curve_keys

TAB_KEYS = ("dq", "physics", "waveform")  # the main window's tabs (no Qt import here: headless hosts)


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
    g.add_argument("--run-dir", help="the supervisor's run directory, holding its control token "
                                     "(default: run.directory of the config)")
    g.add_argument("--screenshot", metavar="PNG", help="save the main window to PNG after --exit-after seconds")
    g.add_argument("--exit-after", type=float, metavar="SECONDS", help="quit after this many seconds")
    g.add_argument("--tab", choices=TAB_KEYS, help="tab shown first (dq, physics, waveform)")
    g.add_argument("--size", metavar="WxH", help="window size in pixels, e.g. 1720x1000")
    g.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from daq import config as config_mod

    cfg = config_mod.load(args.config)
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
            size = (w, h)
        except ValueError:
            raise UsageError(f"--size: expected WIDTHxHEIGHT, got {args.size!r}") from None
    if args.file:
        from daq.runfile import open_run

        open_run(args.file).close()  # a clear error for a missing or unreadable file, before any window
    try:
        from monitor import app
    except ImportError as exc:
        raise UsageError(f"the GUI needs PyQt5 and pyqtgraph (pip install -e '.[gui]'): {exc}") from None
    return app.run(cfg, file=args.file, connect=connect, run_dir=run_dir, screenshot=args.screenshot,
                   exit_after=args.exit_after, tab=args.tab, size=size, curve_control=curve and args.control)

