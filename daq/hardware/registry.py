"""Backend registry: config name -> device class, imported only when chosen.

To add a digitizer backend: implement daq.hardware.protocols.DigitizerBackend in a module that
imports its vendor library inside ``configure`` (raising BackendUnavailable with the
extra to install when it is missing), then add its name here and in
daq.config.BACKENDS_DIGITIZER. See docs/howto-add-backend.md.
"""

from __future__ import annotations

import importlib

from daq.config import Config
from daq.hardware.protocols import BackendUnavailable, BeamBackend, DigitizerBackend

DIGITIZERS = {
    "simulated": "simulators.devices:SimulatedDigitizer",
    "replay": "daq.replay.sources:ReplayDigitizer",
    "niscope": "daq.hardware.niscope:NiscopeDigitizer",
    "caen": "daq.hardware.caen:CaenDigitizer",
}
BEAMS = {
    "simulated": "simulators.devices:SimulatedBeam",
    "replay": "daq.replay.sources:ReplayBeam",
    "epics": "daq.hardware.epics_beam:EpicsBeam",
}


def _load(kind: str, name: str, table: dict[str, str]) -> object:
    if name not in table:
        raise BackendUnavailable(f"{kind}.backend = {name!r}: unknown backend (known: {', '.join(table)})")
    module, cls = table[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise BackendUnavailable(f"{kind}.backend = {name!r}: this build has no {module} module") from None
        raise


def digitizer(cfg: Config) -> DigitizerBackend:
    return _load("digitizer", cfg.digitizer.backend, DIGITIZERS)  # type: ignore[return-value]


def beam(cfg: Config) -> BeamBackend:
    return _load("beam", cfg.beam.backend, BEAMS)  # type: ignore[return-value]
