"""The config reference (docs/config.md), generated from the schema."""

from __future__ import annotations

import dataclasses
import typing

from daq.config.schema import Config
from daq.config.types import type_name


def reference_markdown() -> str:
    """Markdown reference of every key, from the schema (docs/config.md is this output)."""
    lines: list[str] = []

    def table(cls: type, name: str, doc: str) -> None:
        hints = typing.get_type_hints(cls)
        nested = []
        lines.extend([f"### `[{name}]` — {doc}", "", "| key | type | default | meaning |", "|---|---|---|---|"])
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if isinstance(tp, type) and dataclasses.is_dataclass(tp):
                nested.append((tp, f"{name}.{f.name}", f.metadata.get("doc", "")))
                continue
            if f.default is not dataclasses.MISSING:
                default = f"`{f.default!r}`"
            elif f.default_factory is not dataclasses.MISSING:
                default = f"`{f.default_factory()!r}`"
            else:
                default = "required"
            lines.append(f"| `{f.name}` | {type_name(tp)} | {default} | {f.metadata.get('doc', '')} |")
        lines.append("")
        for sub in nested:
            table(*sub)

    hints = typing.get_type_hints(Config)
    for sec in dataclasses.fields(Config):
        if sec.name not in ("path", "text"):
            table(hints[sec.name], sec.name, sec.metadata["doc"])
    return "\n".join(lines)
