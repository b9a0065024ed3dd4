"""Typed, path-aware access to a parsed TOML document.

Every accessor knows the file and the dotted key it reads, so a bad value gives a
message such as::

    coherent-2018.toml: [response.quenching] value: expected a number in [0, 1], got 'x'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


class DatasetError(ValueError):
    """A dataset description or one of its data files is missing or malformed."""


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a dataset or data file; a missing, unreadable or binary file is a DatasetError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
                           f"(is it the right file?)") from None


#: Sentinel default meaning "the key must be present".
REQUIRED: object = object()


class Section:
    """One TOML table, remembering its file and dotted name."""

    def __init__(self, source: Path, name: str, raw: dict[str, Any]) -> None:
        self.source = source
        self.name = name
        self.raw = raw

    def _where(self, key: str) -> str:
        section = f"[{self.name}] " if self.name else ""
        return f"{self.source.name}: {section}{key}"

    def error(self, key: str, expected: str, got: Any = REQUIRED) -> DatasetError:
        tail = "" if got is REQUIRED else f", got {got!r}"
        return DatasetError(f"{self._where(key)}: expected {expected}{tail}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject unknown keys (usually typos)."""
        allowed = set(allowed)
        for key in self.raw:
            if key not in allowed:
                raise DatasetError(
                    f"{self._where(key)}: unknown key; expected one of {', '.join(sorted(allowed))}"
                )

    def _absent(self, key: str, default: Any, expected: str) -> bool:
        """True if ``key`` is absent and has a default; raise if absent and required."""
        if key in self.raw:
            return False
        if default is REQUIRED:
            raise DatasetError(f"{self._where(key)}: missing; expected {expected}")
        return True

    def number(
        self, key: str, default: Any = REQUIRED, lo: float | None = None, hi: float | None = None,
        lo_open: bool = False,
    ) -> float:
        lo_txt = "" if lo is None else (f" > {lo}" if lo_open else f" >= {lo}")
        hi_txt = "" if hi is None else f" <= {hi}"
        expected = f"a number{lo_txt}{' and' if lo_txt and hi_txt else ''}{hi_txt}"
        if self._absent(key, default, expected):
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, expected, value)
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise self.error(key, expected, value)
        if hi is not None and value > hi:
            raise self.error(key, expected, value)
        return float(value)

    def integer(self, key: str, default: Any = REQUIRED, lo: int | None = None) -> int:
        expected = "an integer" + ("" if lo is None else f" >= {lo}")
        if self._absent(key, default, expected):
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or (lo is not None and value < lo):
            raise self.error(key, expected, value)
        return value

    def boolean(self, key: str, default: Any = REQUIRED) -> bool:
        if self._absent(key, default, "true or false"):
            return default
        value = self.raw[key]
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def string(self, key: str, default: Any = REQUIRED, choices: Iterable[str] | None = None) -> str:
        choices = tuple(choices) if choices is not None else None
        expected = "a string" if choices is None else "one of " + ", ".join(repr(c) for c in choices)
        if self._absent(key, default, expected):
            return default
        value = self.raw[key]
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise self.error(key, expected, value)
        return value

    def numbers(self, key: str, default: Any = REQUIRED, min_len: int = 1) -> list[float]:
        expected = f"a list of at least {min_len} number(s)"
        if self._absent(key, default, expected):
            return default
        value = self.raw[key]
        if (
            not isinstance(value, list)
            or len(value) < min_len
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.error(key, expected, value)
        return [float(v) for v in value]

    def strings(self, key: str, default: Any = REQUIRED) -> list[str]:
        if self._absent(key, default, "a list of strings"):
            return default
        value = self.raw[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "a list of strings", value)
        return list(value)

    def section(self, key: str, required: bool = True) -> Section | None:
        name = f"{self.name}.{key}" if self.name else key
        if key not in self.raw:
            if required:
                raise DatasetError(f"{self.source.name}: [{name}]: missing table")
            return None
        value = self.raw[key]
        if not isinstance(value, dict):
            raise self.error(key, "a table", value)
        return Section(self.source, name, value)

    def sections(self, key: str) -> list[Section]:
        """An array of tables ([[name]])."""
        self._absent(key, REQUIRED, "an array of tables")
        value = self.raw[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or not value:
            raise self.error(key, "a non-empty array of tables", value)
        name = f"{self.name}.{key}" if self.name else key
        return [Section(self.source, f"{name}[{i}]", v) for i, v in enumerate(value)]
