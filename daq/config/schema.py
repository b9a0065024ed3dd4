"""The configuration schema: one frozen dataclass per TOML table.

Each field's type hint is the schema and its ``metadata["doc"]`` the reference text
(``docs/config.md`` is generated from it by :func:`daq.config.reference.reference_markdown`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any


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
    bits: int = _doc("ADC resolution, 1 to 16 (1 to 8 for the simulated and replay digitizers: the kernels take int8) "
                     "[bits]")
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
    ac_pretrace: Window = _doc("AC pretrace [start, stop) [ns after record start]; every window holds at least one "
                               "sample, inside the record, overlapping no other")
    ac_roi: Window = _doc("AC region of interest [ns]")
    c_pretrace: Window = _doc("C pretrace [ns]")
    c_roi: Window = _doc("C region of interest; starts at the beam (POT) time [ns]")


@dataclass(frozen=True)
class FeaturesConfig:
    spe_threshold_adc: float = _doc("not used since the peak threshold follows the noise (peak_threshold_rms); "
                                    "kept so that older configs load; 0 < level <= 2**bits - 1 [ADC]")
    peak_min_separation_ns: int = _doc("lower bound of the calibrated separation of two peaks; > 0 [ns]")
    peak_halfwidth_ns: int = _doc("not used since the SPE charge window comes from the shape calibration; kept so "
                                  "that older configs load; > 0 [ns]")
    integration_ns: int = _doc("charge integration window after the onset; > 0 (the rise times need it) [ns]")
    spe_gain_initial: float = _doc("SPE mean charge before the first estimate [ADC*sample]")
    spe_gain_peaks: int = _doc("pretrace peaks in the running SPE-gain estimate")
    saturation_adc: float = _doc("excursion of a clipped (flat-topped) pulse counted as PMT saturation; a sample at "
                                 "the ADC rail always counts; above spe_threshold_adc and at most 2**bits - 1 [ADC]")
    peak_threshold_rms: float = _doc("peak threshold on the SPE-filtered signal, in units of its noise rms (the "
                                     "window's baseline rms x sqrt(filter length)); > 0", 4.5)
    peak_split_rms: float = _doc("a second maximum within the peak separation is its own peak if the filtered "
                                 "signal rose this many filtered-noise rms from the valley between; > 0", 4.0)
    spe_filter_ns: int = _doc("SPE filter (boxcar) length before the shape calibration has measured one [ns]", 16)
    spe_window_ns: Window = _doc("SPE charge window [before, after] a peak's maximum sample before the shape "
                                 "calibration has measured one [ns]", [4, 96])
    spe_shape_peaks: int = _doc("isolated pretrace SPEs averaged for the SPE shape calibration", 2000)
    spe_injections: int = _doc("SPE pulses of the calibrated shape injected per quiet pretrace (a copy) to "
                               "measure the peak finder's SPE response for the gain calibration; 0 = no "
                               "correction", 4)
    spe_injection_windows: int = _doc("quiet pretraces per gain block (64 triggers) that get the injected pulses; "
                                      "each costs the features of one record again; > 0", 8)
    spe_response_injections: int = _doc("found injections kept for the SPE response (over as many blocks as it "
                                        "takes: the response changes slowly; its statistics set the gain's "
                                        "precision: 8000 left 1-8 % of bias on the threshold-limited presets); "
                                        "> 0", 32000)
    onset_gap_ns: int = _doc("an onset peak needs the next peak within this [ns]", 250)
    onset_train_ns: int = _doc("... and onset_train_peaks peaks within this after it [ns]", 1500)
    onset_train_peaks: int = _doc("peaks (the onset included) of a scintillation-like train", 3)
    onset_single_pe: float = _doc("a peak of at least this charge is an onset on its own [PE]", 3.0)
    onset_lookback_ns: int = _doc("the onset search starts this long before the ROI: a train that starts there "
                                  "means no onset [ns]", 1000)
    clip_samples: int = _doc("equal consecutive codes at saturation_adc or beyond that make a clipped top", 3)
    calibration_max_pretrace_peaks: int = _doc("a pretrace with at most this many peaks is quiet: the SPE shape, "
                                               "window and gain are calibrated on quiet pretraces (its own key, not "
                                               "cuts.afterglow_max_pretrace_peaks, so a replay with another afterglow "
                                               "cut reconstructs the same features)", 4)
    baseline_min_quiet: float = _doc("a pretrace with fewer quiet samples than this fraction is clipped and takes "
                                     "the other pretrace's baseline", 0.2)


@dataclass(frozen=True)
class VetoConfig:
    threshold_adc: float = _doc("veto hit threshold above baseline, 0 < level <= 2**bits - 1 [ADC]")
    deadtime_ns: int = _doc("minimum time between veto hits [ns]")
    baseline_samples: int = _doc("samples at the record start used for the veto baseline (1 to the record's samples)")


@dataclass(frozen=True)
class CutsConfig:
    veto_window_ns: Window = _doc("a veto hit in [onset+a, onset+b] fails the veto cut; a < b [ns]")
    linear_gate_ns: int = _doc("deadtime after a saturated sample [ns]")
    afterglow_max_pretrace_peaks: int = _doc("most pretrace peaks a passing window may hold")
    cherenkov_min_peaks: int = _doc("fewest peaks in the integration window of a passing window")
    rise_0_10_ns: Range = _doc("allowed 0-10 % rise time, [low, high] with low < high and high > 0 (so for every rise "
                               "range) [ns]")
    rise_10_50_ns: Range = _doc("allowed 10-50 % rise time [ns]")
    rise_10_90_ns: Range = _doc("allowed 10-90 % rise time [ns]")
    analysis_pe: Range = _doc("analysis window in PE, inclusive; low < high")
    analysis_time_ns: Range = _doc("analysis window in onset time after ROI start, inclusive; inside the ROI: 0 <= "
                                   "low < high <= ROI length [ns]")


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
    seed: int = _doc("random seed of the simulated detector and beam, 0 to 2**63 - 1")
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
    spe_decay_ns: float = _doc("SPE pulse exponential tail (decay time); 0 = a plain gaussian of spe_sigma_ns "
                               "[ns]", 0.0)
    spe_rise_ns: float = _doc("SPE pulse rise time (with spe_decay_ns > 0) [ns]", 1.0)
    spe_tail2_fraction: float = _doc("fraction of the SPE charge in a second, slower tail (with spe_decay_ns > 0)",
                                     0.0)
    spe_tail2_ns: float = _doc("decay time of the second SPE tail [ns]", 50.0)
    baseline_slope_adc: float = _doc("baseline change from the first to the last sample of every record (a "
                                     "linear slope across the record) [ADC]", 0.0)


@dataclass(frozen=True)
class DQConfig:
    baseline_adc: Range = _doc("alarm limits on the CsI baseline; every [low, high] of [dq] has low <= high [ADC]")
    spe_mean_charge: Range = _doc("alarm limits on the SPE mean charge [ADC*sample]")
    afterglow_fraction: Range = _doc("alarm limits on the afterglow-cut removal fraction")
    veto_fraction: Range = _doc("alarm limits on the veto-cut fraction")
    linear_gate_fraction: Range = _doc("alarm limits on the linear-gate fraction")
    overflow_fraction: Range = _doc("alarm limits on the overflow fraction")
    trigger_rate_hz: Range = _doc("alarm limits on the trigger rate [Hz]")
    line_gain: Range = _doc("alarm limits on the internal-line gain ratio")
    baseline_rms_adc: Range = _doc("alarm limits on the CsI baseline rms [ADC]", [0.3, 1.3])
    noise_peak_rate_hz: Range = _doc("alarm limits on the noise-peak rate (inverted pretrace peaks per pretrace "
                                     "time) [Hz]", [0.0, 5000.0])


@dataclass(frozen=True)
class EndpointsConfig:
    control: str = _doc("run-control requests -> supervisor (REP)")
    status: str = _doc("process heartbeats -> supervisor (PULL)")
    command: str = _doc("supervisor commands -> processes (PUB)")
    alarms: str = _doc("supervisor's alarm log -> viewers (PUB)")
    records: str = _doc("digitizer reader -> event builder")
    beam: str = _doc("beam receiver -> event builder")
    events: str = _doc("event builder -> muon-veto trigger")
    vetoed: str = _doc("muon-veto trigger -> cut pipeline")
    selected: str = _doc("cut pipeline -> recorder")
    monitor: str = _doc("cut pipeline -> viewers (PUB)")
    lossless_hwm: int = _doc("messages queued per lossless link before the sender blocks (1 to 2**31 - 1)")
    monitor_hwm: int = _doc("messages queued per viewer before dropping (1 to 2**31 - 1)")
    max_data_frame_mib: float = _doc("largest frame a data or monitor socket accepts; a peer sending a larger one is "
                                     "disconnected before it is read (ZMQ_MAXMSGSIZE) [MiB]", 64.0)
    max_control_frame_kib: float = _doc("largest frame the status, control and command sockets accept "
                                        "(ZMQ_MAXMSGSIZE) [KiB]", 1024.0)

    @property
    def max_data_bytes(self) -> int:
        return int(self.max_data_frame_mib * 2**20)

    @property
    def max_control_bytes(self) -> int:
        return int(self.max_control_frame_kib * 2**10)


@dataclass(frozen=True)
class RecorderConfig:
    raw_csi: bool = _doc("record CsI waveforms")
    raw_veto: bool = _doc("record veto waveforms")
    compression: str = _doc("raw-waveform codec: huffman-zstd (Huffman-coded by the recorder, read through "
                            "hdf5plugin's Zstd filter), huffman-deflate (the same code as zlib streams, read by "
                            "plain h5py), or one compressed by HDF5's filter pipeline: blosc-lz4, blosc-zstd, gzip, "
                            "lzf, none (docs/run-file.md)")
    chunk_records: int = _doc("records per HDF5 chunk of raw waveforms; the recorder fills one chunk per channel in "
                              "memory and writes it once it is full")
    min_free_mb: float = _doc("free space the run directory's file system must keep: below it the recorder closes "
                              "the file and the run stops with 'disk full' [MB]; 0 = only a failed write stops it",
                              200.0)


@dataclass(frozen=True)
class SupervisorConfig:
    heartbeat_interval_s: float = _doc("heartbeat period of every process [s]")
    heartbeat_timeout_s: float = _doc("a process silent this long is declared dead [s]")
    startup_timeout_s: float = _doc("longest wait for every process to say it is alive, and for a process in a "
                                    "run's start [s]")
    stop_timeout_s: float = _doc("longest wait for the end of run to reach the recorder [s]")
    warmup_timeout_s: float = _doc("longest a process that has said it is warming may take to compile its kernels "
                                   "before it is ready (a cold numba cache: the first start after an install) [s]",
                                   900.0)
    restart_policy: str = _doc("restart | stop: what a process death during a run leads to (sources always stop)",
                               "restart")
    max_restarts: int = _doc("restarts of one process within a run before the run stops instead", 3)
    remote: list[str] = _doc("processes started elsewhere (`sevens process NAME` on their host): "
                             "the supervisor does not launch them and watches them by heartbeat only", [])
    metrics_port: int = _doc("port of the Prometheus /metrics endpoint on metrics_host; 0 = off", 0)
    metrics_host: str = _doc("address the metrics endpoint binds (loopback unless opened on purpose)", "127.0.0.1")
    log_max_bytes: int = _doc("size at which a process log file rotates [bytes]", 10_000_000)
    log_backups: int = _doc("rotated log files kept per process (>= 1: with 0 a log never rotates)", 5)


@dataclass(frozen=True)
class SecurityConfig:
    keys_dir: str = _doc("CURVE keys made by `sevens keys generate DIR`; empty = no CURVE, loopback only", "")


@dataclass(frozen=True)
class ReplayConfig:
    files: list[str] = _doc("run files the replay backends read, in order (a run and its sub-runs)", [])


RUN_TYPES = ("physics", "calibration", "beam-off", "test")


@dataclass(frozen=True)
class CatalogueConfig:
    url: str = _doc("run catalogue database (SQLAlchemy URL, e.g. postgresql+psycopg://user@host/sevens); empty = "
                    "sqlite:///RUN_DIR/catalogue.sqlite (WAL mode) in the run directory", "")
    enabled: bool = _doc("the supervisor registers runs and files in the catalogue", True)
    run_type: str = _doc("type the DAQ gives its runs: physics | calibration | beam-off | test", "physics")
    timeout_s: float = _doc("longest one catalogue write waits for a locked or unreachable database before its "
                            "entry stays queued (the DAQ never waits) [s]", 2.0)
    retry_s: float = _doc("retry interval of queued entries while the database is down [s]", 5.0)
    queue_max: int = _doc("entries kept queued (and in RUN_DIR/catalogue-spool.jsonl) while the database is down; "
                          "beyond it new entries are dropped and counted (re-index with `sevens catalogue import`)",
                          10000)

    def __post_init__(self) -> None:
        from daq.config.errors import ConfigError

        if self.run_type not in RUN_TYPES:
            raise ConfigError(f"catalogue.run_type: expected one of {', '.join(RUN_TYPES)}, got {self.run_type!r}")
        if not (self.timeout_s > 0 and self.retry_s > 0 and self.queue_max > 0):
            raise ConfigError("catalogue.timeout_s, retry_s and queue_max: expected numbers above 0")


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
    endpoints: EndpointsConfig = _doc("ZeroMQ endpoints: tcp://host:port (port 1 to 65535) or ipc://path (at most 107 "
                                      "bytes); not inproc://, since every process is its own program")
    recorder: RecorderConfig = _doc("run file")
    supervisor: SupervisorConfig = _doc("run control")
    security: SecurityConfig = _doc("ZeroMQ CURVE authentication", None)
    replay: ReplayConfig = _doc("replay of recorded runs (digitizer.backend = beam.backend = 'replay')", None)
    catalogue: CatalogueConfig = _doc("run catalogue: runs, files, tags, DQ flags, shift log (docs/catalogue.md)", None)
    # not from the file:
    path: str = ""
    text: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


BACKENDS_DIGITIZER = ("simulated", "replay", "niscope", "caen")
BACKENDS_BEAM = ("simulated", "replay", "epics")
COMPRESSIONS = ("huffman-zstd", "huffman-deflate", "blosc-lz4", "blosc-zstd", "gzip", "lzf", "none")
PROCESS_NAMES = ("recorder", "cuts", "veto", "builder", "beam", "reader")  # in start order: downstream first
SOURCES = ("beam", "reader")
ENDPOINT_KEYS = ("control", "status", "command", "alarms", "records", "beam", "events", "vetoed", "selected", "monitor")
