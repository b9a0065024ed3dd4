"""``sevens daq``, ``daemon``, ``start``/``stop``/``status``/``shutdown``/``reset`` and ``process``:
running the DAQ and talking to its supervisor."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from daq import config as config_mod
from daq.cli.common import (
    UsageError,
    load_config,
    non_negative_int,
    positive_float,
    say,
    setup_logging,
    with_config,
)
from daq.config import Config
from daq.control.client import CONTROL_COMMANDS, NoAnswer, read_control_token, request

log = logging.getLogger("sevens")

NODE_CLASSES = {
    "reader": ("daq.processes.reader", "DigitizerReader"),
    "beam": ("daq.processes.beam_receiver", "BeamReceiver"),
    "builder": ("daq.processes.builder", "EventBuilder"),
    "veto": ("daq.processes.veto_trigger", "VetoTrigger"),
    "cuts": ("daq.processes.cut_pipeline", "CutPipeline"),
    "recorder": ("daq.processes.recorder", "Recorder"),
}


def _daq_config(args: argparse.Namespace, role: str) -> Config:
    """The config, with every endpoint in ``--ipc DIR`` when given (a private DAQ on a shared host)."""
    cfg = load_config(args, role)
    if getattr(args, "ipc", None):
        try:
            cfg = config_mod.with_ipc_endpoints(cfg, args.ipc)
        except OSError as exc:
            raise UsageError(f"--ipc {args.ipc}: {exc.strerror or exc}") from None
    return cfg


def is_simulated(cfg: Config) -> bool:
    return cfg.digitizer.backend == "simulated" and cfg.beam.backend == "simulated"


def simulated(cfg: Config) -> Config:
    """``cfg`` with the simulated digitizer and beam (``--simulate``)."""
    return cfg if is_simulated(cfg) else config_mod.with_overrides(
        cfg, {"digitizer": {"backend": "simulated"}, "beam": {"backend": "simulated"}})


def _supervisor(cfg: Config, run_dir: str | None) -> Any:
    from daq.control.supervisor import Supervisor, SupervisorError

    try:
        return Supervisor(cfg, run_dir)
    except OSError as exc:
        raise UsageError(f"run directory {run_dir or cfg.run.directory}: {exc.strerror or exc}") from None
    except SupervisorError as exc:
        raise UsageError(str(exc)) from None


def cmd_daq(args: argparse.Namespace) -> int:
    from daq.control.summary import human, run_summary, to_json
    from daq.control.supervisor import SupervisorError

    cfg = _daq_config(args, "daq")
    if args.simulate and not is_simulated(cfg):
        cfg = _persist(simulated(cfg), args.run_dir)
    setup_logging(args.verbose, "%(asctime)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    sup = _supervisor(cfg, args.run_dir)
    interrupted = {"n": 0}

    def on_sigint(*_: Any) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 2:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)  # a kill or a closed terminal ends the run cleanly
    signal.signal(signal.SIGHUP, on_sigint)
    try:
        sup.launch()
        say(args, f"starting DAQ processes (logs in {sup.log_dir}) ...")
        sup.wait_ready()
        run = sup.start_run(seed=args.seed, rate_boost=args.rate_boost, speed=args.speed)
        say(args, f"run {run.run_number} running for {args.duration} s "
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
    if interrupted["n"]:
        say(args, "interrupted: the run was stopped and closed")
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


def cmd_daemon(args: argparse.Namespace) -> int:
    from daq.control.supervisor import SupervisorError

    cfg = _daq_config(args, "daq")
    setup_logging(args.verbose)
    sup = _supervisor(cfg, args.run_dir)
    stop = {"flag": False}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # each ends a run cleanly, then the daemon
        signal.signal(sig, lambda *_: stop.update(flag=True))
    try:
        try:
            sup.launch()
            sup.wait_ready()
        except SupervisorError as exc:
            raise UsageError(f"the daemon could not start its processes: {exc}") from None
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


LAUNCH_WAIT_S = 60.0  # how long `sevens start` waits for a daemon that is still launching


def _ask(cfg: Config, meta: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    try:
        return request(cfg, meta, timeout_s)
    except NoAnswer:
        raise UsageError(f"no daemon answers at {cfg.endpoints.control}: start one with `sevens daemon` "
                         "(same --config / --ipc), or run `sevens daq`") from None


def cmd_control(args: argparse.Namespace) -> int:
    cfg = _daq_config(args, args.role)
    meta: dict[str, Any] = {"cmd": args.command}
    if args.command in CONTROL_COMMANDS:
        run_dir = args.run_dir or cfg.run.directory
        token = read_control_token(run_dir)
        if token is None and not (cfg.security.keys_dir and args.role == "control"):
            _ask(cfg, {"cmd": "status"}, args.timeout)  # "no daemon" is said as such
            raise UsageError(f"no control token in {run_dir}: give the daemon's --run-dir, or use CURVE keys "
                             "with the control role")
        if token is not None:
            meta["token"] = token
    if args.command == "start":
        meta.update(seed=args.seed, rate_boost=args.rate_boost, speed=args.speed)
    reply = _ask(cfg, meta, args.timeout)
    deadline = time.monotonic() + LAUNCH_WAIT_S
    while (args.command == "start" and not reply.get("ok") and reply.get("state") == "launching"
           and time.monotonic() < deadline):  # the daemon is still starting its processes
        time.sleep(0.5)
        reply = _ask(cfg, meta, args.timeout)
    if getattr(args, "json", False):
        print(json.dumps(reply))
    elif args.command == "status":
        print(status_text(reply))
    else:
        print(reply_text(args.command, reply))
    return 0 if reply.get("ok") else 1


def reply_text(command: str, reply: dict[str, Any]) -> str:
    """One line for a person: what the supervisor did, or why it refused."""
    if not reply.get("ok"):
        return f"{command} refused: {reply.get('error', 'no reason given')}"
    done = {"start": "started", "stop": "stopping", "shutdown": "shutting down", "reset": "reset"}[command]
    run = reply.get("run_number")
    return f"run {run} {done}" if run is not None and command in ("start", "stop") else f"daemon {done}"


def status_text(reply: dict[str, Any]) -> str:
    lines = [f"state {reply.get('state')}  run {reply.get('run_number')}  file {reply.get('run_file')}"]
    if reply.get("error"):
        lines.append(f"error: {reply['error']}")
    if reply.get("refused"):
        lines.append(f"last start refused: {reply['refused']}")
    cat = reply.get("catalogue") or {}
    if cat.get("queued") or cat.get("error"):
        lines.append(f"CATALOGUE: {cat.get('queued', 0)} entries queued, not yet written: {cat.get('error')}")
    lines.append(f"{'process':10s} {'pid':>7s} {'alive':>5s} {'state':>9s} {'msgs in':>8s} {'msgs out':>8s} "
                 f"{'queue':>6s} {'losses':>6s}")
    for p in reply.get("processes", []):
        lines.append(f"{p['name']:10s} {p['pid'] or '-':>7} {'yes' if p['alive'] else 'NO':>5s} {p['state']:>9s} "
                     f"{p['msgs_in']:>8d} {p['msgs_out']:>8d} {p['queue_depth']:>6d} {p['losses']:>6d}")
    return "\n".join(lines)


def cmd_process(args: argparse.Namespace) -> int:
    import importlib

    from daq.ops import logs

    cfg = load_config(args, "daq")
    from daq.kernels import jit_cache

    jit_cache.skip_extensions()  # a DAQ process runs only our kernels: no awkward import at its first load
    module, cls = NODE_CLASSES[args.name]
    node = getattr(importlib.import_module(module), cls)(cfg)
    logs.setup(args.name, args.log_dir, lambda: node.params.run_number if node.params else None,
               cfg.supervisor.log_max_bytes, cfg.supervisor.log_backups, args.verbose)
    code = node.run_forever()
    from daq.runfile import UNCLOSED

    if UNCLOSED:  # HDF5's own teardown would retry the failed writes and crash; everything is said already
        logging.getLogger(__name__).error("%s: exiting without HDF5 teardown; files left open after a failed "
                                          "write: %s", args.name, ", ".join(map(str, sorted(UNCLOSED))))
    # the node has closed its run file and its sockets: the interpreter's teardown of numba's and HDF5's
    # objects (1.5 s after run_forever returned, measured) would only hold up the supervisor's shutdown
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def add_commands(sub: argparse._SubParsersAction) -> None:
    def run_params(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--seed", type=non_negative_int, help="simulation seed (default: simulation.seed)")
        sp.add_argument("--rate-boost", type=positive_float,
                        help="CEvNS/neutron rate multiplier (simulation.rate_boost)")
        sp.add_argument("--speed", type=positive_float, help="simulated time per wall time; 1 = real time")

    def private_endpoints(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--ipc", metavar="DIR", help="every endpoint an ipc socket in DIR: a DAQ of your own on a "
                                                     "shared host (give the same DIR to start/stop/status/gui)")

    d = with_config(sub.add_parser("daq", help="run one headless DAQ run and print its summary"))
    d.add_argument("--simulate", action="store_true", help="use the simulated digitizer and beam")
    d.add_argument("--duration", type=positive_float, default=20.0,
                   help="run length in wall-clock seconds (20)")
    d.add_argument("--run-dir", help="directory for the run file (default: run.directory)")
    d.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    private_endpoints(d)
    run_params(d)
    d.set_defaults(func=cmd_daq)

    dm = with_config(sub.add_parser("daemon", help="long-running supervisor that takes run-control commands"))
    dm.add_argument("--run-dir", help="directory for run files")
    private_endpoints(dm)
    dm.set_defaults(func=cmd_daemon)

    for name, text in (("start", "start a run"), ("stop", "stop the run"), ("status", "DAQ state and processes"),
                       ("shutdown", "stop the daemon"), ("reset", "leave the error state")):
        c = with_config(sub.add_parser(name, help=text))
        c.add_argument("--timeout", type=positive_float, default=5.0, help="seconds to wait for an answer")
        c.add_argument("--run-dir", help="the supervisor's run directory (holds its control token)")
        c.add_argument("--role", choices=("control", "viewer"), default="control",
                       help="CURVE identity to use when security.keys_dir is set (default: control)")
        c.add_argument("--json", action="store_true", help="print the reply as JSON")
        private_endpoints(c)
        if name == "start":
            run_params(c)
        c.set_defaults(func=cmd_control, command=name)

    pr = with_config(sub.add_parser("process", help="run one DAQ process (the supervisor starts these)"))
    pr.add_argument("name", choices=sorted(NODE_CLASSES))
    pr.add_argument("--log-dir", help="write a rotating NAME.log there (default: stderr)")
    pr.set_defaults(func=cmd_process)
