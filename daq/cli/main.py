"""The ``sevens`` command line: run the DAQ, control the daemon, start single processes, fit.

Also replay, report, export and the GUI. Every command reads a config (``--config``, default
hwconfig/csi-sns.toml); a bad config or bad input ends with one clear line on stderr and exit
status 2, no traceback.
Each command group is a module of this package with an ``add_commands(subparsers)``.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import sys

from daq.cli import fit, gui, interfaces, replay, run, tools
from daq.cli.common import UsageError
from daq.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sevens", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for group in (run, tools, fit, replay, interfaces, gui):
        group.add_commands(sub)
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
        from daq.control.client import NoAnswer
        from daq.hardware.protocols import BackendUnavailable
        from daq.runfile import RunFileError
        from daq.wire.transport import EndpointError

        if isinstance(exc, BackendUnavailable | RunFileError | EndpointError | NoAnswer):
            print(f"sevens: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
