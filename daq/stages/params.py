"""Kernel parameters from the config: nanoseconds become samples, tables become frozen records.

The kernels read no config (:mod:`daq.kernels`); every stage builds their parameters here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from daq.config import Config
from daq.kernels.cuts import CutParams
from daq.kernels.features import FeatureParams, SpeWindow


def feature_params(cfg: Config) -> FeatureParams:
    """FeatureParams from a :class:`daq.config.Config` (ns converted to samples, rounded)."""
    d, w, f = cfg.digitizer, cfg.windows, cfg.features

    def samples(ns: float) -> int:
        return int(round(ns / d.sample_ns))

    wins = tuple((samples(pt[0]), samples(pt[1]), samples(roi[0]), samples(roi[1]))
                 for pt, roi in ((w.ac_pretrace, w.ac_roi), (w.c_pretrace, w.c_roi)))
    length = max(1, samples(f.spe_filter_ns))
    initial = SpeWindow(length=length, pre=max(0, samples(f.spe_window_ns[0])),
                        post=max(length, samples(f.spe_window_ns[1])),
                        separation=max(1, samples(f.peak_min_separation_ns), length))
    return FeatureParams(
        sample_ns=d.sample_ns, n_samples=d.n_samples, polarity=int(d.polarity), windows=wins,
        roi_start_ns=(int(w.ac_roi[0]), int(w.c_roi[0])), c_roi_start_ns=int(w.c_roi[0]),
        threshold_rms=float(f.peak_threshold_rms), split_rms=float(f.peak_split_rms),
        integration=max(1, samples(f.integration_ns)),
        onset_gap=max(1, samples(f.onset_gap_ns)), onset_train=max(1, samples(f.onset_train_ns)),
        onset_train_peaks=max(1, int(f.onset_train_peaks)), onset_lookback=max(0, samples(f.onset_lookback_ns)),
        onset_single_pe=float(f.onset_single_pe), saturation_adc=float(f.saturation_adc),
        clip_samples=max(1, int(f.clip_samples)), min_quiet=float(f.baseline_min_quiet), initial_window=initial,
    )


def cut_params(cfg: Config) -> CutParams:
    """CutParams from a :class:`daq.config.Config`."""
    c, w = cfg.cuts, cfg.windows
    return CutParams(
        roi_start_ns=(int(w.ac_roi[0]), int(w.c_roi[0])),
        veto_window_ns=(int(c.veto_window_ns[0]), int(c.veto_window_ns[1])),
        linear_gate_ns=int(c.linear_gate_ns),
        afterglow_max_pretrace_peaks=int(c.afterglow_max_pretrace_peaks),
        cherenkov_min_peaks=int(c.cherenkov_min_peaks),
        rise_0_10_ns=tuple(map(float, c.rise_0_10_ns)),
        rise_10_50_ns=tuple(map(float, c.rise_10_50_ns)),
        rise_10_90_ns=tuple(map(float, c.rise_10_90_ns)),
        analysis_pe=tuple(map(float, c.analysis_pe)),
        analysis_time_ns=tuple(map(float, c.analysis_time_ns)),
    )


@dataclass(frozen=True)
class VetoParams:
    """Arguments of :func:`daq.kernels.veto_hits.find_veto_hits` after the records and trigger ids."""

    polarity: int
    threshold_adc: float
    deadtime_samples: int
    baseline_samples: int
    sample_ns: float

    def kernel_args(self) -> tuple[int, float, int, int, float]:
        return (self.polarity, self.threshold_adc, self.deadtime_samples, self.baseline_samples, self.sample_ns)


def veto_params(cfg: Config) -> VetoParams:
    """VetoParams from ``[veto]`` and ``[digitizer]``."""
    v, d = cfg.veto, cfg.digitizer
    return VetoParams(polarity=d.polarity, threshold_adc=v.threshold_adc,
                      deadtime_samples=max(1, round(v.deadtime_ns / d.sample_ns)),
                      baseline_samples=v.baseline_samples, sample_ns=d.sample_ns)
