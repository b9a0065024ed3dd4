"""The ``sevens`` command line: run the DAQ, control the daemon, start single processes, fit.

Also replay, report, export and the GUI. Every command reads a config (``--config``, default
hwconfig/csi-sns.toml); a bad config, bad input or any other error ends with one clear line on
stderr and exit status 2, no traceback (that goes to the CLI log: :mod:`daq.cli.failures`).
Each command group is a module of this package with an ``add_commands(subparsers)``.
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import sys

from analysis.schema import DatasetError
from daq.cli import catalogue, efficiency, fit, gui, interfaces, replay, reprocess, run, tools, verify, warm
from daq.cli.common import UsageError
from daq.cli.failures import Parser, broken_pipe, interrupted, say_error, unexpected
from daq.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="sevens", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for group in (run, warm, tools, fit, efficiency, replay, reprocess, interfaces, gui, verify, catalogue):
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error ends as one line on stderr (see :mod:`daq.cli.failures`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit-time flush
        return status
    except BrokenPipeError:
        return broken_pipe()
    except KeyboardInterrupt:
        return interrupted()
    except (ConfigError, UsageError, DatasetError) as exc:
        return say_error(str(exc))
    except Exception as exc:  # named errors of our modules carry their own text
        from daq.control.client import NoAnswer
        from daq.hardware.protocols import BackendUnavailable
        from daq.runfile import RunFileError
        from daq.wire.transport import EndpointError

        if isinstance(exc, BackendUnavailable | RunFileError | EndpointError | NoAnswer):
            return say_error(str(exc))
        return unexpected(args, exc)


if __name__ == "__main__":
    sys.exit(main())
