"""``sevens verify RUN.h5 [RUN.h5 ...] [--json]``: read every chunk of every dataset against its checksum.

Per file one line ``PATH: ok``, or one line per damaged dataset with the rows it cannot read
(:mod:`daq.runfile.integrity`); a file whose raw waveforms were written without checksums says
so instead of calling them verified. Exit status 0 when every file is intact and checksummed,
1 when damage was found or something could not be verified, 2 for a usage error (a path that is
not a file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daq.cli.common import UsageError


def cmd_verify(args: argparse.Namespace) -> int:
    from daq.runfile.integrity import check_file

    paths = [Path(p) for p in args.files]
    for p in paths:
        if not p.is_file():
            raise UsageError(f"{p}: {'is a directory' if p.is_dir() else 'no such file'}")
    checks = []
    for p in paths:
        check = check_file(p)
        checks.append(check)
        if not args.json:
            print("\n".join(check.lines()), flush=True)
    ok = all(c.status == "ok" for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "files": [c.as_dict() for c in checks]}, separators=(",", ":")))
    return 0 if ok else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verify", help="read every chunk of run files against their checksums; name damaged rows")
    v.add_argument("files", nargs="+", metavar="RUN.h5", help="run files (or exports, replays) to check")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=cmd_verify)
