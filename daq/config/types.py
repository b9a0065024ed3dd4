"""Checking TOML values against the schema's type hints."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from daq.config.errors import ConfigError

INT64 = (-(2**63), 2**63 - 1)


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)
        return f"a list of {len(inner)} {type_name(inner[0])}s"
    if origin is list:
        return f"a list of {type_name(typing.get_args(tp)[0])}s"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it converted (ints to floats)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: expected {type_name(tp)}, got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return build(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list) or len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, list):
            raise bad
        (arg,) = typing.get_args(tp)
        return [_coerce(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise TypeError("unions are not used in the schema")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if not (isinstance(value, float) and value.is_integer()):
                raise bad
            value = int(value)
        if not INT64[0] <= value <= INT64[1]:  # TOML integers are 64-bit; tomllib does not check
            raise ConfigError(f"{where}: expected a 64-bit integer (TOML's range), got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"schema type {tp!r} not handled")


def build(cls: type, table: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("path", "text")}
    for key in table:
        if key not in fields:
            raise ConfigError(f"{where}.{key}: unknown key (known keys: {', '.join(fields)})".lstrip("."))
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}".lstrip(".")
        if name in table:
            values[name] = _coerce(table[name], hints[name], key)
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            tp = hints[name]
            if f.default is None and isinstance(tp, type) and dataclasses.is_dataclass(tp):
                values[name] = build(tp, {}, key)
        else:
            raise ConfigError(f"{key}: missing; expected {type_name(hints[name])} ({f.metadata.get('doc', '')})")
    return cls(**values)
