"""A simulated accelerator IOC: the SNS-like beam timeline served over Channel Access (caproto).

Pulse ``k`` of :class:`simulators.beam.SNSBeamTimeline` (same config and seed as the
simulated beam, so the same POT, power and trips) updates the ``beam.epics`` PVs
(``prefix`` + ``pulse_id_pv``, ``pot_pv``, ``power_pv``, ``beam_on_pv``, ``good_pv``),
every update stamped with the pulse time as its EPICS timestamp. Values are written
fields first, pulse id last.

Time and pacing — how the IOC lines up with a simulated digitizer:

- **timestamps**: pulse ``k`` carries ``start_time_ns + k / rep_rate_hz``, where
  ``start_time_ns`` is ``--start-time`` or ``simulation.start_time_ns`` (0 = the wall
  time at which the timeline starts). The simulated digitizer of a run stamps trigger
  ``i`` with ``RunParameters.start_time_ns + i / rep_rate_hz``, and the supervisor takes
  ``RunParameters.start_time_ns`` from ``simulation.start_time_ns`` when it is non-zero,
  so with one fixed, non-zero ``simulation.start_time_ns`` in the config both sides give
  pulse ``k`` and trigger ``k`` the same time (to within the trigger jitter).
- **pacing**: pulse ``k`` is published ``k / (rep_rate_hz * speed)`` after the timeline
  starts. By default (``sync_on_subscribe``) the timeline (re)starts at pulse 0 whenever a
  client subscribes to the pulse-id PV: the DAQ's beam receiver subscribes to it last, as
  the run starts, which is when the simulated digitizer starts pacing its trigger 0. Both
  then run from their own clocks, a few ms apart (the event builder waits up to 3 s for a
  pulse). One simulated DAQ per IOC: another client subscribing restarts the timeline.
  With ``free_running`` the timeline starts with the IOC and never restarts.

Fault injection: ``drop_every = N`` publishes nothing for every N-th pulse (the receiver
sees a gap in pulse id); ``partial_every = M`` leaves out the POT update of every M-th
pulse (the receiver times it out as incomplete). Neither ever touches pulse 0.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

from caproto.server import PVGroup, pvproperty, run

from daq.hardware.epics_beam import ns_to_epics_stamp
from daq.hardware.protocols import RunParameters
from simulators.beam import SNSBeamTimeline

SERVER_ENV = ("EPICS_CAS_INTF_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CAS_BEACON_ADDR_LIST",
              "EPICS_CAS_AUTO_BEACON_ADDR_LIST", "EPICS_CAS_BEACON_PORT", "EPICS_CAS_BEACON_PERIOD",
              "EPICS_CAS_IGNORE_ADDR_LIST")
DEFAULT_NAMES = {"pulse_id": "PULSE_ID", "pot": "POT", "power_mw": "POWER_MW", "beam_on": "BEAM_ON", "good": "GOOD"}
LOOPBACK_DEFAULTS = {"EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
                     "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1"}
MAX_SLEEP_S = 0.05
DUE_TOLERANCE = 1e-9  # [pulses]


@dataclass(frozen=True)
class IocOptions:
    seed: int
    start_time_ns: int  # time of pulse 0 [ns since epoch]; 0 = wall time when the timeline starts
    speed: float = 1.0
    drop_every: int = 0
    partial_every: int = 0
    free_running: bool = False


def pulses_due(elapsed_s: float, rate_hz: float) -> int:
    """Pulses due ``elapsed_s`` after the timeline started (pulse 0 is due at once)."""
    return int(math.floor(elapsed_s * rate_hz + DUE_TOLERANCE)) + 1


def published_fields(pulse_id: int, drop_every: int, partial_every: int) -> tuple[str, ...]:
    """The fields pulse ``pulse_id`` updates, in write order (pulse id last); () if dropped."""
    if drop_every > 0 and (pulse_id + 1) % drop_every == 0:
        return ()
    fields = ("pot", "power_mw", "beam_on", "good", "pulse_id")
    if partial_every > 0 and (pulse_id + 1) % partial_every == 0:
        return tuple(f for f in fields if f != "pot")
    return fields


class SNSBeamIOC(PVGroup):
    """The beam PVs; names come from the macros (``beam.epics`` names)."""

    pulse_id = pvproperty(name="{pulse_id}", value=0, dtype=int, read_only=True, doc="pulse id [count]")
    pot = pvproperty(name="{pot}", value=0.0, read_only=True, doc="protons on target in the pulse")
    power_mw = pvproperty(name="{power_mw}", value=0.0, read_only=True, doc="beam power [MW]")
    beam_on = pvproperty(name="{beam_on}", value=0, dtype=int, read_only=True, doc="beam present (0/1)")
    good = pvproperty(name="{good}", value=0, dtype=int, read_only=True, doc="pulse flagged good (0/1)")

    def __init__(self, *args: Any, cfg: Any, options: IocOptions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cfg = cfg
        self.options = options
        self.rate_hz = cfg.beam.rep_rate_hz
        self.anchor: float | None = None  # monotonic time of pulse 0 of the current timeline
        self.generation = 0  # restarts so far
        self.next_pulse = 0
        self.timeline: SNSBeamTimeline | None = None
        self.published = 0
        if options.free_running:
            self.restart()
        else:
            self._hook_subscriptions()

    def restart(self) -> None:
        """Start the timeline again at pulse 0, now."""
        t0 = self.options.start_time_ns or time.time_ns()
        params = RunParameters(run_number=0, seed=self.options.seed, rate_boost=1.0, speed=self.options.speed,
                               start_time_ns=t0)
        self.timeline = SNSBeamTimeline(self.cfg, params)
        self.anchor = time.monotonic()
        self.next_pulse = 0
        self.generation += 1

    def _hook_subscriptions(self) -> None:
        """Restart the timeline whenever a client subscribes to the pulse-id PV."""
        channel = self.pulse_id
        original = channel.subscribe

        async def subscribe(queue: Any, sub_spec: Any, sub: Any) -> None:
            await original(queue, sub_spec, sub)  # sends the current (old) value first
            self.restart()

        channel.subscribe = subscribe

    async def publish(self, k: int) -> None:
        """Write pulse ``k`` to the PVs it updates."""
        assert self.timeline is not None
        row = self.timeline.pulses(k, 1)[0]
        stamp = ns_to_epics_stamp(int(row["time"]))
        values = {"pot": float(row["pot"]), "power_mw": float(row["power_mw"]), "beam_on": int(row["beam_on"]),
                  "good": int(row["good"]), "pulse_id": int(row["pulse_id"])}
        for name in published_fields(k, self.options.drop_every, self.options.partial_every):
            await getattr(self, name).write(values[name], timestamp=stamp)
        self.published += 1

    @pulse_id.startup
    async def pulse_id(self, instance: Any, async_lib: Any) -> None:
        """The pacing loop: publish every pulse that has fallen due."""
        names = ", ".join(ch.pvname for ch in (self.pulse_id, self.pot, self.power_mw, self.beam_on, self.good))
        mode = "free-running" if self.options.free_running else "restarts on each pulse-id subscription"
        print(f"sim-ioc: serving {names} at {self.rate_hz * self.options.speed:g} Hz ({mode})", flush=True)
        rate = self.rate_hz * self.options.speed
        while True:
            if self.anchor is None:
                await asyncio.sleep(0.005)
                continue
            anchor, generation = self.anchor, self.generation
            due = pulses_due(time.monotonic() - anchor, rate)
            while self.next_pulse < due and self.generation == generation:
                k = self.next_pulse
                self.next_pulse += 1
                await self.publish(k)
            next_at = anchor + self.next_pulse / rate
            await asyncio.sleep(min(max(next_at - time.monotonic(), 0.0005), MAX_SLEEP_S))


def serve(cfg: Any, options: IocOptions, prefix: str | None = None) -> None:
    """Run the IOC until interrupted.

    Interfaces, ports and beacons come from the EPICS_CA_* / EPICS_CAS_* environment
    variables, which caproto reads; a variable that is set is never overridden. Unset
    interface and beacon variables default to loopback (LOOPBACK_DEFAULTS), not to every
    interface as in EPICS: a simulated IOC must not answer for beam PVs on a real network.
    """
    import os

    for key, value in LOOPBACK_DEFAULTS.items():
        os.environ.setdefault(key, value)
    e = cfg.beam.epics
    names = {"pulse_id": e.pulse_id_pv, "pot": e.pot_pv, "power_mw": e.power_pv, "beam_on": e.beam_on_pv,
             "good": e.good_pv}
    macros = {f: n or DEFAULT_NAMES[f] for f, n in names.items()}
    ioc = SNSBeamIOC(prefix=e.prefix if prefix is None else prefix, macros=macros, cfg=cfg, options=options)
    print("sim-ioc: " + ", ".join(f"{k}={v}" for k, v in environment().items()), file=sys.stderr, flush=True)
    run(ioc.pvdb, log_pv_names=False)


def environment() -> dict[str, str]:
    """The server-side EPICS variables as caproto will read them ('unset' where not set)."""
    import os

    return {k: os.environ.get(k, "unset") for k in SERVER_ENV}
