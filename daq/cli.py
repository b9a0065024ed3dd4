"""The ``sevens`` command line: run the DAQ, control the daemon, start single processes, fit.

Every command reads a config (``--config``, default hwconfig/csi-sns.toml); a bad
config or bad input ends with one clear line on stderr and exit status 2, no traceback.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from typing import Any

import zmq

from daq import config as config_mod
from daq import envelope, transport
from daq.config import Config, ConfigError
from daq.envelope import Message

log = logging.getLogger("sevens")

NODE_CLASSES = {
    "reader": ("daq.reader", "DigitizerReader"),
    "beam": ("daq.beam_receiver", "BeamReceiver"),
    "builder": ("daq.builder", "EventBuilder"),
    "veto": ("daq.veto", "VetoTrigger"),
    "cuts": ("daq.cut_pipeline", "CutPipeline"),
    "recorder": ("daq.recorder", "Recorder"),
}


class UsageError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _logging(verbose: bool, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)


def _config(args: argparse.Namespace, role: str | None = None) -> Config:
    """Load the config; with ``role``, also this process's CURVE keys (if configured)."""
    cfg = config_mod.load(args.config)
    if role is not None:
        from daq import security

        try:
            security.configure(cfg.security.keys_dir, role)
        except security.SecurityError as exc:
            raise UsageError(str(exc)) from None
    return cfg


# -- sevens daq ----------------------------------------------------------------------------
def cmd_daq(args: argparse.Namespace) -> int:
    from daq.summary import human, run_summary, to_json
    from daq.supervisor import Supervisor, SupervisorError

    cfg = _config(args, "daq")
    if args.simulate and (cfg.digitizer.backend != "simulated" or cfg.beam.backend != "simulated"):
        cfg = config_mod.with_overrides(cfg, {"digitizer": {"backend": "simulated"},
                                              "beam": {"backend": "simulated"}})
        cfg = _persist(cfg, args.run_dir)
    _logging(args.verbose, "%(asctime)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        sup = Supervisor(cfg, args.run_dir)
    except OSError as exc:
        raise UsageError(f"run directory {args.run_dir or cfg.run.directory}: {exc.strerror or exc}") from None
    interrupted = {"n": 0}

    def on_sigint(*_: Any) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 2:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)
    try:
        sup.launch()
        _say(args, f"starting DAQ processes (logs in {sup.log_dir}) ...")
        sup.wait_ready()
        run = sup.start_run(seed=args.seed, rate_boost=args.rate_boost, speed=args.speed)
        _say(args, f"run {run.run_number} running for {args.duration} s "
                   f"(seed {run.seed}, rate boost {run.rate_boost}, speed {run.speed}); Ctrl-C stops")
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline and not interrupted["n"] and sup.state.value == "running":
            sup.poll(0.1)
        if sup.state.value == "running":
            sup.stop_run()
        sup.wait_stopped()  # also when the run was stopped from outside (sevens stop, the GUI)
    except SupervisorError as exc:
        raise UsageError(str(exc)) from None
    finally:
        sup.shutdown()
        sup.close()
        signal.signal(signal.SIGINT, old)
    if sup.run_file is None:
        raise UsageError(f"the run produced no file: {sup.error}")
    summary = run_summary(sup.run_file)
    print(human(summary))
    if sup.error:
        summary["error"] = sup.error
        print(f"sevens: run ended with an error: {sup.error}", file=sys.stderr)
    if args.json:
        print(to_json(summary))
    return 0 if summary["exit_status"] == "ok" and not sup.error else 1


def _persist(cfg: Config, run_dir: str | None) -> Config:
    """Write an overridden config where the child processes can read it."""
    from pathlib import Path

    d = Path(run_dir or cfg.run.directory) / "config"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"effective-{cfg.sha256[:12]}.toml"
    path.write_text(cfg.text)
    return config_mod.load(path)


def _say(args: argparse.Namespace, text: str) -> None:
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


# -- sevens daemon and its clients -----------------------------------------------------------
def cmd_daemon(args: argparse.Namespace) -> int:
    from daq.supervisor import Supervisor

    cfg = _config(args, "daq")
    _logging(args.verbose)
    try:
        sup = Supervisor(cfg, args.run_dir)
    except OSError as exc:
        raise UsageError(f"run directory {args.run_dir or cfg.run.directory}: {exc.strerror or exc}") from None
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    try:
        sup.launch()
        sup.wait_ready()
        log.info("daemon ready; control at %s", cfg.endpoints.control)
        while not stop["flag"] and not sup.shutdown_requested:
            sup.poll(0.1)
            if sup.state.value == "idle":  # after a reset: relaunch the processes
                sup.launch()
                sup.wait_ready()
        if sup.state.value == "running":
            sup.stop_run()
            sup.wait_stopped()
    finally:
        sup.shutdown()
        sup.close()
    return 0


def request(cfg: Config, meta: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """One run-control request to the supervisor at ``endpoints.control``."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    transport.connect(sock, cfg.endpoints.control)
    try:
        transport.send(sock, Message(stream="control", kind="command", source="cli", meta=meta))
        if not sock.poll(int(timeout_s * 1000)):
            raise UsageError(f"no DAQ answers at {cfg.endpoints.control} (is `sevens daemon` or `sevens daq` running?)")
        return envelope.unpack(sock.recv_multipart()).meta
    finally:
        sock.close(0)


def cmd_control(args: argparse.Namespace) -> int:
    from daq.supervisor import CONTROL_COMMANDS, read_control_token

    cfg = _config(args, args.role)
    meta: dict[str, Any] = {"cmd": args.command}
    if args.command in CONTROL_COMMANDS:
        token = read_control_token(args.run_dir or cfg.run.directory)
        if token is None and not (cfg.security.keys_dir and args.role == "control"):
            raise UsageError(f"no control token in {args.run_dir or cfg.run.directory} (give the daemon's "
                             "--run-dir, or use CURVE keys with the control role)")
        if token is not None:
            meta["token"] = token
    if args.command == "start":
        meta.update(seed=args.seed, rate_boost=args.rate_boost, speed=args.speed)
    reply = request(cfg, meta, args.timeout)
    if args.command == "status" and not getattr(args, "json", False):
        print(f"state {reply.get('state')}  run {reply.get('run_number')}  file {reply.get('run_file')}")
        if reply.get("error"):
            print(f"error: {reply['error']}")
        print(f"{'process':10s} {'pid':>7s} {'alive':>5s} {'state':>9s} {'msgs in':>8s} {'msgs out':>8s} "
              f"{'queue':>6s} {'losses':>6s}")
        for p in reply.get("processes", []):
            print(f"{p['name']:10s} {p['pid'] or '-':>7} {'yes' if p['alive'] else 'NO':>5s} {p['state']:>9s} "
                  f"{p['msgs_in']:>8d} {p['msgs_out']:>8d} {p['queue_depth']:>6d} {p['losses']:>6d}")
    else:
        print(json.dumps(reply))
    return 0 if reply.get("ok") else 1


# -- sevens process ------------------------------------------------------------------------
def cmd_process(args: argparse.Namespace) -> int:
    import importlib

    from daq import logs

    cfg = _config(args, "daq")
    module, cls = NODE_CLASSES[args.name]
    node = getattr(importlib.import_module(module), cls)(cfg)
    logs.setup(args.name, args.log_dir, lambda: node.params.run_number if node.params else None,
               cfg.supervisor.log_max_bytes, cfg.supervisor.log_backups, args.verbose)
    code = node.run_forever()
    from daq.runfile import UNCLOSED

    if UNCLOSED:  # HDF5's own teardown would retry the failed writes and crash; everything is said already
        logging.getLogger(__name__).error("%s: exiting without HDF5 teardown; files left open after a failed "
                                          "write: %s", args.name, ", ".join(map(str, sorted(UNCLOSED))))
        logging.shutdown()
        os._exit(code)
    return code


def cmd_keys(args: argparse.Namespace) -> int:
    from daq import security

    made = security.generate(args.directory)
    for name, path in made.items():
        print(f"{name:8s} {path}")
    print(f"set security.keys_dir = {str(args.directory)!r} in the config of every host; copy {args.directory} "
          "to each host (control.key_secret only where the shift crew may change the run)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.reference:
        print(config_mod.reference_markdown())
    else:
        print(f"{cfg.path}: valid (sha256 {cfg.sha256[:16]})")
    return 0


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sevens", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", help="hwconfig TOML file (default: hwconfig/csi-sns.toml)")
        return sp

    def run_params(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--seed", type=int, help="simulation seed (default: simulation.seed)")
        sp.add_argument("--rate-boost", type=float, help="CEvNS/neutron rate multiplier (simulation.rate_boost)")
        sp.add_argument("--speed", type=float, help="simulated time per wall time; 1 = real time")

    d = with_config(sub.add_parser("daq", help="run one headless DAQ run and print its summary"))
    d.add_argument("--simulate", action="store_true", help="use the simulated digitizer and beam")
    d.add_argument("--duration", type=float, default=20.0, help="run length in wall-clock seconds (20)")
    d.add_argument("--run-dir", help="directory for the run file (default: run.directory)")
    d.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    run_params(d)
    d.set_defaults(func=cmd_daq)

    dm = with_config(sub.add_parser("daemon", help="long-running supervisor that takes run-control commands"))
    dm.add_argument("--run-dir", help="directory for run files")
    dm.set_defaults(func=cmd_daemon)

    for name, text in (("start", "start a run"), ("stop", "stop the run"), ("status", "DAQ state and processes"),
                       ("shutdown", "stop the daemon"), ("reset", "leave the error state")):
        c = with_config(sub.add_parser(name, help=text))
        c.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
        c.add_argument("--run-dir", help="the supervisor's run directory (holds its control token)")
        c.add_argument("--role", choices=("control", "viewer"), default="control",
                       help="CURVE identity to use when security.keys_dir is set (default: control)")
        if name == "status":
            c.add_argument("--json", action="store_true")
        if name == "start":
            run_params(c)
        c.set_defaults(func=cmd_control, command=name)

    pr = with_config(sub.add_parser("process", help="run one DAQ process (the supervisor starts these)"))
    pr.add_argument("name", choices=sorted(NODE_CLASSES))
    pr.add_argument("--log-dir", help="write a rotating NAME.log there (default: stderr)")
    pr.set_defaults(func=cmd_process)

    kg = sub.add_parser("keys", help="CURVE keys: `sevens keys generate DIR`")
    kg.add_argument("action", choices=["generate"])
    kg.add_argument("directory")
    kg.set_defaults(func=cmd_keys)

    cc = with_config(sub.add_parser("config", help="validate a config; --reference prints every key"))
    cc.add_argument("--reference", action="store_true")
    cc.set_defaults(func=cmd_config)

    from analysis.cli import add_commands as add_analysis
    from daq.interfaces_cli import add_commands as add_interfaces
    from daq.replay_cli import add_commands as add_replay
    from monitor.cli import add_commands as add_gui

    add_analysis(sub)
    add_replay(sub)
    add_interfaces(sub)
    add_gui(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UsageError) as exc:
        print(f"sevens: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # named errors of our modules carry their own text
        from daq.hardware import BackendUnavailable
        from daq.runfile import RunFileError
        from daq.transport import EndpointError

        if isinstance(exc, BackendUnavailable | RunFileError | EndpointError):
            print(f"sevens: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
