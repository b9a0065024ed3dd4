"""``sevens keys`` and ``sevens config``: CURVE keys and config checking."""

from __future__ import annotations

import argparse

from daq import config as config_mod
from daq.cli.common import UsageError, load_config, with_config


def cmd_keys(args: argparse.Namespace) -> int:
    from daq.wire import security

    try:
        made = security.generate(args.directory)
    except OSError as exc:
        raise UsageError(f"{args.directory}: cannot write CURVE keys: {exc.strerror or exc}") from None
    for name, path in made.items():
        print(f"{name:8s} {path}")
    print(f"set security.keys_dir = {str(args.directory)!r} in the config of every host; copy {args.directory} "
          "to each host (control.key_secret only where the shift crew may change the run)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.reference:
        print(config_mod.reference_markdown())
    else:
        print(f"{cfg.path}: valid (sha256 {cfg.sha256[:16]})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    kg = sub.add_parser("keys", help="CURVE keys: `sevens keys generate DIR`")
    kg.add_argument("action", choices=["generate"])
    kg.add_argument("directory")
    kg.set_defaults(func=cmd_keys)

    cc = with_config(sub.add_parser("config", help="validate a config; --reference prints every key"))
    cc.add_argument("--reference", action="store_true")
    cc.set_defaults(func=cmd_config)
