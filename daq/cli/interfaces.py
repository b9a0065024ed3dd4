"""``sevens sim-ioc``: the simulated accelerator IOC (beam PVs over Channel Access).

Added to the ``sevens`` parser by :func:`add_commands`. caproto (``pip install
'sevens[epics]'``) is imported only when the command runs. See docs/interfaces.md.
"""

from __future__ import annotations

import argparse
import os

from daq import config as config_mod
from daq.cli.common import non_negative_int, positive_float
from daq.hardware.protocols import BackendUnavailable


def _count(text: str) -> int:
    value = int(text)
    if value < 0 or value == 1:
        raise argparse.ArgumentTypeError(f"expected 0 (off) or an integer >= 2, got {text}")
    return value


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sim-ioc`` to the ``sevens`` sub-commands."""
    s = subparsers.add_parser(
        "sim-ioc", help="simulated accelerator IOC: the beam.epics PVs at the beam rate (Channel Access)",
        description="Serve the simulated SNS beam timeline on the beam.epics PVs. Interfaces, ports and beacons "
                    "come from EPICS_CAS_INTF_ADDR_LIST, EPICS_CA_SERVER_PORT, EPICS_CAS_BEACON_ADDR_LIST, "
                    "EPICS_CAS_AUTO_BEACON_ADDR_LIST...; unset interface/beacon variables mean loopback only.")
    s.add_argument("--config", help="hwconfig TOML file (default: hwconfig/csi-sns.toml)")
    s.add_argument("--seed", type=non_negative_int, help="beam seed (default: simulation.seed)")
    s.add_argument("--prefix", help="PV prefix (default: beam.epics.prefix)")
    s.add_argument("--speed", type=positive_float, help="pulse rate / rep rate (default: simulation.speed)")
    s.add_argument("--start-time", type=non_negative_int, help="time of pulse 0 [ns since epoch] (default: "
                                                  "simulation.start_time_ns; 0 = now)")
    s.add_argument("--free-running", action="store_true",
                   help="start the timeline with the IOC; default: restart at pulse 0 on each pulse-id subscription")
    s.add_argument("--drop-every", type=_count, default=0, metavar="N", help="fault injection: skip every N-th pulse")
    s.add_argument("--partial-every", type=_count, default=0, metavar="M",
                   help="fault injection: leave out the POT update of every M-th pulse")
    s.set_defaults(func=cmd_sim_ioc)


def cmd_sim_ioc(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    # caproto's server batches subscription updates that come faster than 10 ms apart and lets
    # the batching delay grow to 1 s: at speed > 1 the fields of one pulse would reach the
    # client up to 1 s apart. Cap it (read when caproto.server is imported; a set value wins).
    os.environ.setdefault("CAPROTO_SERVER_MAX_LATENCY_SEC", "0.05")
    try:
        from simulators import sim_ioc
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] == "caproto":
            raise BackendUnavailable("sevens sim-ioc needs the caproto package: pip install 'sevens[epics]'") from None
        raise
    sim = cfg.simulation
    options = sim_ioc.IocOptions(
        seed=sim.seed if args.seed is None else args.seed,
        start_time_ns=sim.start_time_ns if args.start_time is None else args.start_time,
        speed=sim.speed if args.speed is None else args.speed,
        drop_every=args.drop_every,
        partial_every=args.partial_every,
        free_running=args.free_running,
    )
    sim_ioc.serve(cfg, options, prefix=args.prefix)
    return 0
