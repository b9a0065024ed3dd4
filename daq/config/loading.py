"""Loading a config: TOML text -> checked :class:`~daq.config.schema.Config`, and derived configs."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from daq.config.checks import check
from daq.config.errors import ConfigError
from daq.config.schema import ENDPOINT_KEYS, Config
from daq.config.types import build

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "hwconfig" / "csi-sns.toml"


def parse(text: str, path: str = "<string>") -> Config:
    """Validate TOML ``text``; errors name ``path``."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
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
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    return parse(text, str(p))


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
