"""The configuration: one place that loads, validates and describes hwconfig TOML files.

Each TOML table maps to a frozen dataclass of :mod:`daq.config.schema`; :func:`load` returns
a checked :class:`Config`, and any problem raises :class:`ConfigError` whose text names the
file, the key and what was expected.

Modules: ``schema`` (the tables and their keys), ``types`` (values against type hints),
``checks`` (cross-key checks: windows in order, positive widths, levels inside the ADC range),
``limits`` (what the system can do: ports, transports, socket options, memory, seeds),
``loading`` (files, overrides, private ipc endpoints), ``reference`` (docs/config.md from the
schema), ``errors``.

May import: the standard library and ``tomli_w`` only; every other package imports this one.
"""

from daq.config.errors import ConfigError
from daq.config.loading import DEFAULT_CONFIG, load, parse, with_ipc_endpoints, with_overrides
from daq.config.reference import reference_markdown
from daq.config.schema import (
    BACKENDS_BEAM,
    BACKENDS_DIGITIZER,
    COMPRESSIONS,
    ENDPOINT_KEYS,
    PROCESS_NAMES,
    SOURCES,
    Config,
)

__all__ = [
    "BACKENDS_BEAM", "BACKENDS_DIGITIZER", "COMPRESSIONS", "DEFAULT_CONFIG", "ENDPOINT_KEYS", "PROCESS_NAMES",
    "SOURCES", "Config", "ConfigError", "load", "parse", "reference_markdown", "with_ipc_endpoints",
    "with_overrides",
]
