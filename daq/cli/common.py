"""What every command shares: the user-facing error, logging setup, loading the config."""

from __future__ import annotations

import argparse
import logging
import math
import sys

from daq import config as config_mod
from daq.config import Config


class UsageError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def setup_logging(verbose: bool, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)


def load_config(args: argparse.Namespace, role: str | None = None) -> Config:
    """Load the config; with ``role``, also this process's CURVE keys (if configured)."""
    cfg = config_mod.load(args.config)
    if role is not None:
        use_curve_keys(cfg, role)
    return cfg


def use_curve_keys(cfg: Config, role: str) -> bool:
    """With ``security.keys_dir`` set, use this role's CURVE keys on every socket; True if so."""
    if not cfg.security.keys_dir:
        return False
    from daq.wire import security

    try:
        security.configure(cfg.security.keys_dir, role)
    except security.SecurityError as exc:
        raise UsageError(str(exc)) from None
    return True


def say(args: argparse.Namespace, text: str) -> None:
    """Progress for a person: on stdout, or on stderr when stdout carries JSON."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--config", help="hwconfig TOML file (default: hwconfig/csi-sns.toml)")
    return sp


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (a duration, a speed, a rate multiplier)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer from 0 to 2**63 - 1 (a seed, a time: what the run files store as int64)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**63 - 1, got {text!r}")
    return value
