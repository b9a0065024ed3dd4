"""Loading a config: TOML text -> checked :class:`~daq.config.schema.Config`, and derived configs."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from daq.config.checks import check
from daq.config.errors import ConfigError
from daq.config.schema import ENDPOINT_KEYS, Config
from daq.config.types import build

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "hwconfig" / "csi-sns.toml"
SURROGATE = re.compile("[\ud800-\udfff]")


def _where(text: str, index: int) -> str:
    """``line L, column C`` of the character at ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def decode(data: bytes, path: str) -> str:
    """The text of a config file: UTF-8, as TOML requires; anything else is a ConfigError naming
    the first byte that is not (a binary file, a file saved as latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        raise ConfigError(f"{path}: not UTF-8 text (a TOML file must be UTF-8): byte 0x{data[exc.start]:02x} at "
                          f"{_where(good, len(good))}") from None


def parse(text: str, path: str = "<string>") -> Config:
    """Validate TOML ``text``; errors name ``path``."""
    bad = SURROGATE.search(text)
    if bad is not None:  # undecodable bytes carried as surrogates (h5py reads a damaged attribute so)
        raise ConfigError(f"{path}: not UTF-8 text: an undecodable byte at {_where(text, bad.start())}")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML for sevens: arrays or tables nested too deeply "
                          "(a config needs at most a few levels)") from None
    try:
        cfg = build(Config, table, "")
        cfg = dataclasses.replace(cfg, path=str(path), text=text)
        check(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def load(path: str | Path | None = None) -> Config:
    """Load and validate a config file (the default hwconfig/csi-sns.toml if ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    return parse(decode(data, str(p)), str(p))


def with_overrides(cfg: Config, overrides: dict[str, dict[str, Any]]) -> Config:
    """A new Config with ``{section: {key: value}}`` replaced, validated again, text updated."""
    import tomli_w

    table = tomllib.loads(cfg.text)
    for section, values in overrides.items():
        table.setdefault(section, {}).update(values)
    text = tomli_w.dumps(table)
    return parse(text, cfg.path or "<overrides>")




def with_ipc_endpoints(cfg: Config, directory: str | Path, **overrides: dict[str, Any]) -> Config:
    """``cfg`` with every endpoint an ipc socket in ``directory``, written to ``directory/config.toml``.

    For a second DAQ on one host (a test, a replay beside the live run): nothing collides.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    endpoints = {key: f"ipc://{d.resolve()}/{key}" for key in ENDPOINT_KEYS}
    new = with_overrides(cfg, {"endpoints": endpoints, **overrides})
    path = d / "config.toml"
    path.write_text(new.text)
    return load(path)
