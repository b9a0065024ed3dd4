"""Cross-key checks of a parsed config: what the types alone cannot say."""

from __future__ import annotations

import dataclasses

from daq.config.errors import ConfigError
from daq.config.limits import check_system
from daq.config.schema import BACKENDS_BEAM, BACKENDS_DIGITIZER, COMPRESSIONS, ENDPOINT_KEYS, PROCESS_NAMES, Config


def check(cfg: Config) -> None:
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
    if d.bits > 8 and d.backend in ("simulated", "replay"):
        raise ConfigError(f"digitizer.bits: the {d.backend} digitizer feeds int8 records to the feature kernels: "
                          f"expected 1 to 8, got {d.bits}")
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
    _check_samples(cfg)
    _check_cut_windows(cfg)
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
        "supervisor.warmup_timeout_s": cfg.supervisor.warmup_timeout_s,
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
    _check_signs(cfg)
    check_system(cfg)


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


def _check_samples(cfg: Config) -> None:
    """Every window holds samples, and the thresholds lie inside the ADC range."""
    d = cfg.digitizer
    if d.n_samples < 1:
        raise ConfigError(f"digitizer.sample_rate_hz: {d.sample_rate_hz:g} Hz gives no sample in a record of "
                          f"{d.record_length_ns} ns")
    for name in ("ac_pretrace", "ac_roi", "c_pretrace", "c_roi"):
        a, b = getattr(cfg.windows, name)
        if round(b / d.sample_ns) - round(a / d.sample_ns) < 1:
            raise ConfigError(f"windows.{name}: [{a}, {b}] holds no sample at {d.sample_rate_hz:g} Hz "
                              f"({d.sample_ns:g} ns per sample)")
    if not 1 <= cfg.veto.baseline_samples <= d.n_samples:
        raise ConfigError(f"veto.baseline_samples: expected 1 to the record's {d.n_samples} samples, "
                          f"got {cfg.veto.baseline_samples}")
    full_scale = 2**d.bits - 1  # the largest excursion from baseline an ADC of d.bits can show
    f = cfg.features
    levels = {"features.spe_threshold_adc": f.spe_threshold_adc, "features.saturation_adc": f.saturation_adc,
              "veto.threshold_adc": cfg.veto.threshold_adc}
    for key, value in levels.items():
        if not 0 < value <= full_scale:
            raise ConfigError(f"{key}: expected a level above baseline reachable by the {d.bits}-bit ADC, "
                              f"0 < value <= {full_scale}, got {value}")
    if f.saturation_adc <= f.spe_threshold_adc:
        raise ConfigError(f"features.saturation_adc: expected more than features.spe_threshold_adc "
                          f"({f.spe_threshold_adc}), got {f.saturation_adc}")


def _check_cut_windows(cfg: Config) -> None:
    """Cut windows and ranges in order with a positive width; alarm limits in order."""
    c = cfg.cuts
    lo, hi = c.veto_window_ns
    if not lo < hi:
        raise ConfigError(f"cuts.veto_window_ns: expected [a, b] with a < b (an empty window turns the veto cut "
                          f"off), got [{lo}, {hi}]")
    for key in ("rise_0_10_ns", "rise_10_50_ns", "rise_10_90_ns", "analysis_pe", "analysis_time_ns"):
        lo, hi = getattr(c, key)
        if not lo < hi:
            raise ConfigError(f"cuts.{key}: expected [low, high] with low < high, got [{lo}, {hi}]")
    for key in ("rise_0_10_ns", "rise_10_50_ns", "rise_10_90_ns"):
        lo, hi = getattr(c, key)
        if hi <= 0:
            raise ConfigError(f"cuts.{key}: expected a range reaching above 0 (rise times are >= 0: every window "
                              f"would fail), got [{lo}, {hi}]")
    roi = cfg.windows.c_roi[1] - cfg.windows.c_roi[0]
    lo, hi = c.analysis_time_ns
    if not 0 <= lo < hi <= roi:
        raise ConfigError(f"cuts.analysis_time_ns: expected onset times inside the {roi} ns ROI, "
                          f"0 <= low < high <= {roi}, got [{lo}, {hi}]")
    for f in dataclasses.fields(cfg.dq):
        lo, hi = getattr(cfg.dq, f.name)
        if lo > hi:
            raise ConfigError(f"dq.{f.name}: expected alarm limits [low, high] with low <= high, got [{lo}, {hi}]")


# widths, durations, lifetimes and scales that a zero or negative value breaks or silently turns off
POSITIVE = (
    "features.integration_ns", "features.peak_halfwidth_ns", "features.peak_min_separation_ns",
    "beam.pulse_fwhm_ns", "beam.proton_energy_gev", "recorder.chunk_records", "supervisor.log_max_bytes",
    "simulation.baseline_drift_period_s", "simulation.spe_gain_drift_period_s", "simulation.spe_gain",
    "simulation.spe_sigma_ns", "simulation.veto_pulse_sigma_ns", "simulation.afterglow_tau_ns",
    "simulation.scint_fast_ns", "simulation.scint_slow_ns", "simulation.light_yield_pe_per_kevee",
    "simulation.quenching", "simulation.distance_m", "simulation.gamma_slope_kevee", "simulation.internal_line_kevee",
    "simulation.beam_neutron_kevnr",
)
NON_NEGATIVE = (
    "veto.deadtime_ns", "cuts.linear_gate_ns", "cuts.afterglow_max_pretrace_peaks", "cuts.cherenkov_min_peaks",
    "supervisor.max_restarts", "simulation.start_time_ns", "simulation.scint_rise_ns",
    "simulation.cherenkov_spread_ns", "simulation.cherenkov_pe_mean", "simulation.internal_line_sigma",
    "simulation.veto_noise_rms_adc", "simulation.muon_kevee", "simulation.nu_per_flavor_per_proton",
    "simulation.mass_kg",
)


def _value(cfg: Config, key: str) -> float:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _check_signs(cfg: Config) -> None:
    for key in POSITIVE:
        if _value(cfg, key) <= 0:
            raise ConfigError(f"{key}: expected a positive number, got {_value(cfg, key)}")
    for key in NON_NEGATIVE:
        if _value(cfg, key) < 0:
            raise ConfigError(f"{key}: expected a number >= 0, got {_value(cfg, key)}")
    if cfg.supervisor.log_backups < 1:  # logging.handlers.RotatingFileHandler never rotates with 0 backups
        raise ConfigError(f"supervisor.log_backups: expected at least 1 (with 0 a log never rotates and grows "
                          f"without bound), got {cfg.supervisor.log_backups}")
