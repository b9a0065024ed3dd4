"""Backend registry: config name -> device class, imported only when chosen.

To add a digitizer backend: implement daq.hardware.DigitizerBackend in a module that
imports its vendor library inside ``configure`` (raising BackendUnavailable with the
extra to install when it is missing), then add its name here and in
daq.config.BACKENDS_DIGITIZER. See docs/howto-add-backend.md.
"""

from __future__ import annotations

from daq.config import Config
from daq.hardware import BackendUnavailable, BeamBackend, DigitizerBackend


def digitizer(cfg: Config) -> DigitizerBackend:
    name = cfg.digitizer.backend
    if name == "simulated":
        from simulators.devices import SimulatedDigitizer

        return SimulatedDigitizer()
    raise BackendUnavailable(
        f"digitizer.backend = {name!r}: this build has no {name} backend yet "
        "(only 'simulated'); vendor backends are tracked in the real-world-interfaces issue"
    )


def beam(cfg: Config) -> BeamBackend:
    name = cfg.beam.backend
    if name == "simulated":
        from simulators.devices import SimulatedBeam

        return SimulatedBeam()
    raise BackendUnavailable(
        f"beam.backend = {name!r}: this build has no {name} backend yet (only 'simulated')"
    )
