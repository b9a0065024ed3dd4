"""The configuration schema: one place that loads, validates and describes hwconfig TOML files.

Each TOML table maps to a frozen dataclass below; each field's type hint is the schema
and its ``metadata["doc"]`` the reference text (``docs/config.md`` is generated from it,
see :func:`reference_markdown`). :func:`load` returns a :class:`Config`; any problem
raises :class:`ConfigError` whose text names the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "hwconfig" / "csi-sns.toml"


class ConfigError(ValueError):
    """An invalid configuration; the message names the file, the key and what was expected."""


def _doc(text: str, default: Any = dataclasses.MISSING) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"doc": text})
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


Window = tuple[int, int]
Range = tuple[float, float]


@dataclass(frozen=True)
class RunConfig:
    directory: str = _doc("directory for run files and the run-number counter")
    flush_interval_s: float = _doc("longest time between recorder flushes [s]", 1.0)
    dq_interval_s: float = _doc("length of one data-quality interval [s]", 5.0)
    batch_max_triggers: int = _doc("most triggers per reader message", 64)
    batch_max_latency_s: float = _doc("longest a trigger waits in the reader for its batch [s]", 0.1)


@dataclass(frozen=True)
class NiscopeConfig:
    resource: str = _doc("NI-SCOPE resource name", "PXI1Slot2")
    vertical_range_v: float = _doc("vertical range [V]", 0.4)
    trigger_source: str = _doc("trigger source name", "TRIG")
    coupling: str = _doc("vertical coupling: DC | AC", "DC")
    channels: list[str] = _doc("device channel of each digitizer.channels entry, in that order", ["0", "1"])
    trigger_type: str = _doc("digital (TTL beam trigger) | edge (analog level on trigger_source)", "digital")
    trigger_level_v: float = _doc("edge trigger level [V] (trigger_type = edge)", 1.0)
    trigger_slope: str = _doc("trigger slope: positive | negative", "positive")


@dataclass(frozen=True)
class CaenConfig:
    url: str = _doc("CAEN FELib device URL", "dig2://caen.internal/usb/0")
    channels: list[int] = _doc("board channel of each digitizer.channels entry, in that order", [0, 1])
    trigger_source: str = _doc("value of the board's /par/AcqTriggerSource (e.g. TrgIn, SwTrg)", "TrgIn")
    dc_offset_percent: float = _doc("/ch/N/par/DCOffset of the used channels [% of range]", 50.0)
    timestamp_tick_ns: float = _doc("length of one TIMESTAMP count [ns] (check your board's manual)", 8.0)


@dataclass(frozen=True)
class DigitizerConfig:
    backend: str = _doc("simulated | replay | niscope | caen")
    sample_rate_hz: float = _doc("sampling rate [Hz]")
    bits: int = _doc("ADC resolution [bits]")
    record_length_ns: int = _doc("record length per trigger [ns]")
    channels: list[str] = _doc("channel names in record order; must hold 'csi' and 'veto'")
    polarity: int = _doc("+1 or -1: sign of PMT pulses")
    buffer_records: int = _doc("records the digitizer buffers before it loses triggers", 600)
    niscope: NiscopeConfig = _doc("NI-SCOPE backend settings", None)
    caen: CaenConfig = _doc("CAEN backend settings", None)

    @property
    def sample_ns(self) -> float:
        return 1e9 / self.sample_rate_hz

    @property
    def n_samples(self) -> int:
        return round(self.record_length_ns * self.sample_rate_hz / 1e9)


@dataclass(frozen=True)
class WindowsConfig:
    ac_pretrace: Window = _doc("AC pretrace [start, stop) [ns after record start]")
    ac_roi: Window = _doc("AC region of interest [ns]")
    c_pretrace: Window = _doc("C pretrace [ns]")
    c_roi: Window = _doc("C region of interest; starts at the beam (POT) time [ns]")


@dataclass(frozen=True)
class FeaturesConfig:
    spe_threshold_adc: float = _doc("peak threshold above baseline [ADC]")
    peak_min_separation_ns: int = _doc("peaks closer than this merge [ns]")
    peak_halfwidth_ns: int = _doc("peak charge sums samples within this of the maximum [ns]")
    integration_ns: int = _doc("charge integration window after the onset [ns]")
    spe_gain_initial: float = _doc("SPE mean charge before the first estimate [ADC*sample]")
    spe_gain_peaks: int = _doc("pretrace peaks in the running SPE-gain estimate")
    saturation_adc: float = _doc("excursion from baseline counted as PMT saturation [ADC]")


@dataclass(frozen=True)
class VetoConfig:
    threshold_adc: float = _doc("veto hit threshold above baseline [ADC]")
    deadtime_ns: int = _doc("minimum time between veto hits [ns]")
    baseline_samples: int = _doc("samples at the record start used for the veto baseline")


@dataclass(frozen=True)
class CutsConfig:
    veto_window_ns: Window = _doc("a veto hit in [onset+a, onset+b] fails the veto cut [ns]")
    linear_gate_ns: int = _doc("deadtime after a saturated sample [ns]")
    afterglow_max_pretrace_peaks: int = _doc("most pretrace peaks a passing window may hold")
    cherenkov_min_peaks: int = _doc("fewest peaks in the integration window of a passing window")
    rise_0_10_ns: Range = _doc("allowed 0-10 % rise time [ns]")
    rise_10_50_ns: Range = _doc("allowed 10-50 % rise time [ns]")
    rise_10_90_ns: Range = _doc("allowed 10-90 % rise time [ns]")
    analysis_pe: Range = _doc("analysis window in PE, inclusive")
    analysis_time_ns: Range = _doc("analysis window in onset time after ROI start, inclusive [ns]")


@dataclass(frozen=True)
class EpicsConfig:
    prefix: str = _doc("prefix of every beam PV name", "SNS:BEAM:")
    pulse_id_pv: str = _doc("PV (after prefix) of the pulse id", "PULSE_ID")
    pot_pv: str = _doc("PV of the protons on target of the pulse", "POT")
    power_pv: str = _doc("PV of the beam power [MW]", "POWER_MW")
    beam_on_pv: str = _doc("PV of the beam-on flag (non-zero = beam)", "BEAM_ON")
    good_pv: str = _doc("PV of the good-pulse flag; empty = beam on and POT > 0", "GOOD")
    connect_timeout_s: float = _doc("longest wait for every PV to connect and send a value [s]", 1.5)
    assembly_timeout_s: float = _doc("a pulse missing a PV update this long after its first is counted missed [s]",
                                     0.5)


@dataclass(frozen=True)
class BeamConfig:
    backend: str = _doc("simulated | replay | epics")
    rep_rate_hz: float = _doc("pulse repetition rate [Hz]")
    power_mw: float = _doc("nominal beam power [MW]")
    proton_energy_gev: float = _doc("proton kinetic energy [GeV]")
    pulse_fwhm_ns: float = _doc("proton pulse full width at half maximum [ns]")
    match_window_ns: int = _doc("largest |trigger time - pulse time| that matches [ns]")
    epics: EpicsConfig = _doc("EPICS (Channel Access) beam backend settings", None)


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = _doc("random seed of the simulated detector and beam")
    rate_boost: float = _doc("multiplies CEvNS and beam-neutron rates")
    speed: float = _doc("simulated time per wall-clock time; 1 = real time")
    start_time_ns: int = _doc("time of the first pulse; 0 = now [ns since epoch]")
    power_fluctuation: float = _doc("relative rms of pulse-to-pulse power")
    trip_rate_per_hour: float = _doc("beam trips per hour")
    trip_mean_s: float = _doc("mean trip length [s]")
    beam_off_period_s: float = _doc("if > 0, alternate beam-on and beam-off stretches of this length [s]")
    trigger_jitter_ns: float = _doc("rms of trigger time minus POT time [ns]")
    baseline_adc: float = _doc("CsI baseline [ADC]")
    noise_rms_adc: float = _doc("CsI electronic noise [ADC]")
    baseline_drift_adc: float = _doc("amplitude of the slow baseline drift [ADC]")
    baseline_drift_period_s: float = _doc("period of the baseline drift [s]")
    spe_gain: float = _doc("SPE mean charge [ADC*sample]")
    spe_gain_spread: float = _doc("relative rms of SPE charges")
    spe_gain_drift: float = _doc("relative amplitude of the slow gain drift")
    spe_gain_drift_period_s: float = _doc("period of the gain drift [s]")
    spe_sigma_ns: float = _doc("SPE pulse gaussian sigma [ns]")
    dark_rate_hz: float = _doc("PMT dark-count rate [Hz]")
    afterglow_pe_fraction: float = _doc("afterglow PE per scintillation PE")
    afterglow_tau_ns: float = _doc("afterglow decay time [ns]")
    light_yield_pe_per_kevee: float = _doc("light yield [PE/keVee]")
    quenching: float = _doc("quenching factor, keVee per keVnr")
    scint_rise_ns: float = _doc("scintillation rise time [ns]")
    scint_fast_ns: float = _doc("fast decay time [ns]")
    scint_slow_ns: float = _doc("slow decay time [ns]")
    scint_slow_fraction: float = _doc("fraction of light in the slow component")
    gamma_rate_hz: float = _doc("steady-state gamma rate [Hz]")
    gamma_slope_kevee: float = _doc("exponential slope of the gamma spectrum [keVee]")
    internal_line_rate_hz: float = _doc("internal-background line rate [Hz]")
    internal_line_kevee: float = _doc("internal-background line energy [keVee]")
    internal_line_sigma: float = _doc("relative width of the line")
    cherenkov_rate_hz: float = _doc("Cherenkov burst rate [Hz]")
    cherenkov_pe_mean: float = _doc("mean PE of a Cherenkov burst")
    cherenkov_spread_ns: float = _doc("time spread (gaussian sigma) of a Cherenkov burst's PEs [ns]")
    muon_rate_hz: float = _doc("muon rate in the veto [Hz]")
    muon_csi_fraction: float = _doc("fraction of muons that also cross the CsI")
    muon_kevee: float = _doc("energy a muon deposits in the CsI [keVee]")
    veto_baseline_adc: float = _doc("veto baseline [ADC]")
    veto_noise_rms_adc: float = _doc("veto noise [ADC]")
    veto_muon_amplitude_adc: float = _doc("veto muon pulse height [ADC]")
    veto_pulse_sigma_ns: float = _doc("veto pulse width (gaussian sigma) [ns]")
    veto_beam_rate_per_pulse: float = _doc("beam-related veto hits per beam-on pulse")
    veto_beam_delay_ns: float = _doc("delay of beam-related veto hits after POT [ns]")
    nu_per_flavor_per_proton: float = _doc("neutrinos per flavor per proton")
    distance_m: float = _doc("detector distance from the target [m]")
    mass_kg: float = _doc("CsI mass [kg]")
    beam_neutron_per_pulse: float = _doc("beam-related neutron recoils per pulse at nominal power")
    beam_neutron_delay_ns: float = _doc("beam-neutron arrival delay after POT [ns]")
    beam_neutron_kevnr: float = _doc("exponential slope of beam-neutron recoil energies [keVnr]")


@dataclass(frozen=True)
class DQConfig:
    baseline_adc: Range = _doc("alarm limits on the CsI baseline [ADC]")
    spe_mean_charge: Range = _doc("alarm limits on the SPE mean charge [ADC*sample]")
    afterglow_fraction: Range = _doc("alarm limits on the afterglow-cut removal fraction")
    veto_fraction: Range = _doc("alarm limits on the veto-cut fraction")
    linear_gate_fraction: Range = _doc("alarm limits on the linear-gate fraction")
    overflow_fraction: Range = _doc("alarm limits on the overflow fraction")
    trigger_rate_hz: Range = _doc("alarm limits on the trigger rate [Hz]")
    line_gain: Range = _doc("alarm limits on the internal-line gain ratio")


@dataclass(frozen=True)
class EndpointsConfig:
    control: str = _doc("run-control requests -> supervisor (REP)")
    status: str = _doc("process heartbeats -> supervisor (PULL)")
    command: str = _doc("supervisor commands -> processes (PUB)")
    records: str = _doc("digitizer reader -> event builder")
    beam: str = _doc("beam receiver -> event builder")
    events: str = _doc("event builder -> muon-veto trigger")
    vetoed: str = _doc("muon-veto trigger -> cut pipeline")
    selected: str = _doc("cut pipeline -> recorder")
    monitor: str = _doc("cut pipeline -> viewers (PUB)")
    lossless_hwm: int = _doc("messages queued per lossless link before the sender blocks")
    monitor_hwm: int = _doc("messages queued per viewer before dropping")


@dataclass(frozen=True)
class RecorderConfig:
    raw_csi: bool = _doc("record CsI waveforms")
    raw_veto: bool = _doc("record veto waveforms")
    compression: str = _doc("blosc-lz4 | blosc-zstd | gzip | lzf | none")
    chunk_records: int = _doc("records per HDF5 chunk of raw waveforms")
    min_free_mb: float = _doc("free space the run directory's file system must keep: below it the recorder closes "
                              "the file and the run stops with 'disk full' [MB]; 0 = only a failed write stops it",
                              200.0)


@dataclass(frozen=True)
class SupervisorConfig:
    heartbeat_interval_s: float = _doc("heartbeat period of every process [s]")
    heartbeat_timeout_s: float = _doc("a process silent this long is declared dead [s]")
    startup_timeout_s: float = _doc("longest wait for all processes to report ready [s]")
    stop_timeout_s: float = _doc("longest wait for the end of run to reach the recorder [s]")
    restart_policy: str = _doc("restart | stop: what a process death during a run leads to (sources always stop)",
                               "restart")
    max_restarts: int = _doc("restarts of one process within a run before the run stops instead", 3)
    remote: list[str] = _doc("processes started elsewhere (`sevens process NAME` on their host): "
                             "the supervisor does not launch them and watches them by heartbeat only", [])
    metrics_port: int = _doc("port of the Prometheus /metrics endpoint on metrics_host; 0 = off", 0)
    metrics_host: str = _doc("address the metrics endpoint binds (loopback unless opened on purpose)", "127.0.0.1")
    log_max_bytes: int = _doc("size at which a process log file rotates [bytes]", 10_000_000)
    log_backups: int = _doc("rotated log files kept per process", 5)


@dataclass(frozen=True)
class SecurityConfig:
    keys_dir: str = _doc("CURVE keys made by `sevens keys generate DIR`; empty = no CURVE, loopback only", "")


@dataclass(frozen=True)
class ReplayConfig:
    files: list[str] = _doc("run files the replay backends read, in order (a run and its sub-runs)", [])


@dataclass(frozen=True)
class Config:
    run: RunConfig = _doc("run files and batching")
    digitizer: DigitizerConfig = _doc("digitizer")
    windows: WindowsConfig = _doc("record windows")
    features: FeaturesConfig = _doc("feature extraction")
    veto: VetoConfig = _doc("muon-veto trigger")
    cuts: CutsConfig = _doc("cut thresholds")
    beam: BeamConfig = _doc("beam")
    simulation: SimulationConfig = _doc("simulated detector and beam")
    dq: DQConfig = _doc("data-quality alarm limits")
    endpoints: EndpointsConfig = _doc("ZeroMQ endpoints")
    recorder: RecorderConfig = _doc("run file")
    supervisor: SupervisorConfig = _doc("run control")
    security: SecurityConfig = _doc("ZeroMQ CURVE authentication", None)
    replay: ReplayConfig = _doc("replay of recorded runs (digitizer.backend = beam.backend = 'replay')", None)
    # not from the file:
    path: str = ""
    text: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


BACKENDS_DIGITIZER = ("simulated", "replay", "niscope", "caen")
BACKENDS_BEAM = ("simulated", "replay", "epics")
COMPRESSIONS = ("blosc-lz4", "blosc-zstd", "gzip", "lzf", "none")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)
        return f"a list of {len(inner)} {_type_name(inner[0])}s"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}s"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it converted (ints to floats)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, where)
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
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
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


def _build(cls: type, table: dict, where: str) -> Any:
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
                values[name] = _build(tp, {}, key)
        else:
            raise ConfigError(f"{key}: missing; expected {_type_name(hints[name])} ({f.metadata.get('doc', '')})")
    return cls(**values)


def _check(cfg: Config) -> None:
    """Cross-key checks; raise ConfigError naming the key."""
    d = cfg.digitizer
    if d.backend not in BACKENDS_DIGITIZER:
        raise ConfigError(f"digitizer.backend: expected one of {BACKENDS_DIGITIZER}, got {d.backend!r}")
    if cfg.beam.backend not in BACKENDS_BEAM:
        raise ConfigError(f"beam.backend: expected one of {BACKENDS_BEAM}, got {cfg.beam.backend!r}")
    _check_hardware_tables(cfg)
    if cfg.recorder.compression not in COMPRESSIONS:
        raise ConfigError(f"recorder.compression: expected one of {COMPRESSIONS}, got {cfg.recorder.compression!r}")
    if d.polarity not in (-1, 1):
        raise ConfigError(f"digitizer.polarity: expected +1 or -1, got {d.polarity}")
    if not 1 <= d.bits <= 16:
        raise ConfigError(f"digitizer.bits: expected 1 to 16, got {d.bits}")
    if d.sample_rate_hz <= 0 or d.record_length_ns <= 0:
        raise ConfigError("digitizer.sample_rate_hz and digitizer.record_length_ns: expected positive numbers")
    for name in ("csi", "veto"):
        if name not in d.channels:
            raise ConfigError(f"digitizer.channels: expected a channel named {name!r}, got {d.channels}")
    windows = {n: getattr(cfg.windows, n) for n in ("ac_pretrace", "ac_roi", "c_pretrace", "c_roi")}
    for name, (a, b) in windows.items():
        if not 0 <= a < b <= d.record_length_ns:
            raise ConfigError(
                f"windows.{name}: expected 0 <= start < stop <= record_length_ns ({d.record_length_ns}), got [{a}, {b}]"
            )
    order = sorted(windows.items(), key=lambda kv: kv[1][0])
    for (n1, w1), (n2, w2) in zip(order, order[1:], strict=False):
        if w1[1] > w2[0]:
            raise ConfigError(f"windows.{n2}: overlaps windows.{n1} ({list(w1)} and {list(w2)})")
    for name in ("ac", "c"):
        roi = windows[f"{name}_roi"]
        if roi[1] + cfg.features.integration_ns > d.record_length_ns:
            raise ConfigError(
                f"features.integration_ns: an onset at the end of windows.{name}_roi integrates past the record end"
            )
    if cfg.windows.ac_roi[1] - cfg.windows.ac_roi[0] != cfg.windows.c_roi[1] - cfg.windows.c_roi[0]:
        raise ConfigError("windows.ac_roi: expected the same length as windows.c_roi (identical processing)")
    if cfg.beam.rep_rate_hz <= 0 or cfg.beam.rep_rate_hz * d.record_length_ns * 1e-9 >= 1:
        raise ConfigError(
            f"beam.rep_rate_hz: expected a rate whose period exceeds the record length, got {cfg.beam.rep_rate_hz}"
        )
    for key in ("rise_0_10_ns", "rise_10_50_ns", "rise_10_90_ns", "analysis_pe", "analysis_time_ns"):
        lo, hi = getattr(cfg.cuts, key)
        if lo > hi:
            raise ConfigError(f"cuts.{key}: expected [low, high] with low <= high, got [{lo}, {hi}]")
    positive = {
        "run.flush_interval_s": cfg.run.flush_interval_s,
        "run.dq_interval_s": cfg.run.dq_interval_s,
        "run.batch_max_triggers": cfg.run.batch_max_triggers,
        "simulation.speed": cfg.simulation.speed,
        "simulation.rate_boost": cfg.simulation.rate_boost,
        "features.spe_gain_initial": cfg.features.spe_gain_initial,
        "features.spe_gain_peaks": cfg.features.spe_gain_peaks,
        "endpoints.lossless_hwm": cfg.endpoints.lossless_hwm,
        "endpoints.monitor_hwm": cfg.endpoints.monitor_hwm,
        "recorder.chunk_records": cfg.recorder.chunk_records,
        "supervisor.heartbeat_interval_s": cfg.supervisor.heartbeat_interval_s,
    }
    positive.update({
        "digitizer.buffer_records": d.buffer_records,
        "run.batch_max_latency_s": cfg.run.batch_max_latency_s,
        "supervisor.startup_timeout_s": cfg.supervisor.startup_timeout_s,
        "supervisor.stop_timeout_s": cfg.supervisor.stop_timeout_s,
        "beam.match_window_ns": cfg.beam.match_window_ns,
    })
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: expected a positive number, got {value}")
    sim = cfg.simulation
    for name in ("power_fluctuation", "trip_rate_per_hour", "trip_mean_s", "beam_off_period_s", "dark_rate_hz",
                 "afterglow_pe_fraction", "gamma_rate_hz", "internal_line_rate_hz", "cherenkov_rate_hz",
                 "muon_rate_hz", "veto_beam_rate_per_pulse", "beam_neutron_per_pulse", "noise_rms_adc",
                 "spe_gain_spread", "trigger_jitter_ns"):
        if getattr(sim, name) < 0:
            raise ConfigError(f"simulation.{name}: expected a number >= 0, got {getattr(sim, name)}")
    for name in ("muon_csi_fraction", "scint_slow_fraction"):
        if not 0 <= getattr(sim, name) <= 1:
            raise ConfigError(f"simulation.{name}: expected a fraction in [0, 1], got {getattr(sim, name)}")
    if cfg.recorder.min_free_mb < 0:
        raise ConfigError(f"recorder.min_free_mb: expected a number >= 0, got {cfg.recorder.min_free_mb}")
    if cfg.beam.power_mw < 0:
        raise ConfigError(f"beam.power_mw: expected a number >= 0, got {cfg.beam.power_mw}")
    half_period = 0.5e9 / cfg.beam.rep_rate_hz
    if cfg.beam.match_window_ns >= half_period:
        raise ConfigError(f"beam.match_window_ns: expected less than half the pulse period ({half_period:.0f} ns), "
                          f"got {cfg.beam.match_window_ns}")
    sup = cfg.supervisor
    if sup.heartbeat_timeout_s < 2 * sup.heartbeat_interval_s:
        raise ConfigError(f"supervisor.heartbeat_timeout_s: expected at least twice heartbeat_interval_s "
                          f"({2 * sup.heartbeat_interval_s} s), got {sup.heartbeat_timeout_s}")
    from daq.supervisor_names import PROCESS_NAMES

    if cfg.supervisor.restart_policy not in ("restart", "stop"):
        raise ConfigError(
            f"supervisor.restart_policy: expected 'restart' or 'stop', got {cfg.supervisor.restart_policy!r}")
    for name in cfg.supervisor.remote:
        if name not in PROCESS_NAMES:
            raise ConfigError(f"supervisor.remote: expected process names from {PROCESS_NAMES}, got {name!r}")
    if not 0 <= cfg.supervisor.metrics_port < 65536:
        raise ConfigError(
            f"supervisor.metrics_port: expected 0 (off) or a port number, got {cfg.supervisor.metrics_port}")
    seen: dict[str, str] = {}
    for key in ENDPOINT_KEYS:
        ep = getattr(cfg.endpoints, key)
        if ep in seen:
            raise ConfigError(f"endpoints.{key}: {ep!r} is already endpoints.{seen[ep]}; every endpoint needs its own")
        seen[ep] = key
        if not ep.startswith(("tcp://", "ipc://", "inproc://")):
            raise ConfigError(f"endpoints.{key}: expected tcp://host:port or ipc://path, got {ep!r}")


def _check_hardware_tables(cfg: Config) -> None:
    """Checks of digitizer.niscope, digitizer.caen and beam.epics (used or not: a typo fails early)."""
    n = cfg.digitizer.niscope
    choices = {"digitizer.niscope.coupling": (n.coupling, ("DC", "AC")),
               "digitizer.niscope.trigger_type": (n.trigger_type, ("digital", "edge")),
               "digitizer.niscope.trigger_slope": (n.trigger_slope, ("positive", "negative"))}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key}: expected one of {allowed}, got {value!r}")
    lists = {"digitizer.niscope.channels": n.channels, "digitizer.caen.channels": cfg.digitizer.caen.channels}
    for key, chans in lists.items():
        if len(chans) != len(cfg.digitizer.channels) or len(set(chans)) != len(chans):
            raise ConfigError(f"{key}: expected {len(cfg.digitizer.channels)} distinct channels, one per "
                              f"digitizer.channels entry {cfg.digitizer.channels}, got {chans}")
    if cfg.digitizer.caen.timestamp_tick_ns <= 0:
        raise ConfigError(f"digitizer.caen.timestamp_tick_ns: expected a positive number, got "
                          f"{cfg.digitizer.caen.timestamp_tick_ns}")
    e = cfg.beam.epics
    for key in ("connect_timeout_s", "assembly_timeout_s"):
        if getattr(e, key) <= 0:
            raise ConfigError(f"beam.epics.{key}: expected a positive number, got {getattr(e, key)}")
    for key in ("pulse_id_pv", "pot_pv", "power_pv", "beam_on_pv"):
        if not getattr(e, key):
            raise ConfigError(f"beam.epics.{key}: expected a PV name (only good_pv may be empty)")


def parse(text: str, path: str = "<string>") -> Config:
    """Validate TOML ``text``; errors name ``path``."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        cfg = _build(Config, table, "")
        cfg = dataclasses.replace(cfg, path=str(path), text=text)
        _check(cfg)
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


ENDPOINT_KEYS = ("control", "status", "command", "records", "beam", "events", "vetoed", "selected", "monitor")


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
            lines.append(f"| `{f.name}` | {_type_name(tp)} | {default} | {f.metadata.get('doc', '')} |")
        lines.append("")
        for sub in nested:
            table(*sub)

    hints = typing.get_type_hints(Config)
    for sec in dataclasses.fields(Config):
        if sec.name not in ("path", "text"):
            table(hints[sec.name], sec.name, sec.metadata["doc"])
    return "\n".join(lines)
