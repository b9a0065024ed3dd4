"""What the event builder computes on a batch: beam matching and features with the running SPE gain.

A record matches the beam pulse closest to its trigger time within ``beam.match_window_ns``;
unmatched records are flagged (TRIGGER_UNMATCHED), never dropped. Features come from the numba
kernels of :mod:`daq.kernels.features`, with the SPE calibration (shape, charge window, gain) of
:mod:`daq.stages.calibration`, updated between fixed blocks of ``GAIN_BLOCK`` trigger ids: the same
records give the same features however they are batched, so a replay or a reprocessing reproduces the
live run bit for bit.
"""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.kernels import features
from daq.stages.calibration import SpeCalibration, SpeCalibrator
from daq.stages.params import feature_params

GAIN_BLOCK = 64  # triggers that share one SPE-gain value


def match_pulses(trigger_times: np.ndarray, pulse_times: np.ndarray, window_ns: int) -> np.ndarray:
    """Index into ``pulse_times`` (sorted) of the pulse nearest each trigger, -1 if none within window."""
    idx = np.full(len(trigger_times), -1, np.int64)
    if len(pulse_times) == 0:
        return idx
    right = np.clip(np.searchsorted(pulse_times, trigger_times), 1, len(pulse_times) - 1)
    left = right - 1
    if len(pulse_times) == 1:
        left = right = np.zeros_like(right)
    d_left = np.abs(trigger_times - pulse_times[left])
    d_right = np.abs(trigger_times - pulse_times[right])
    best = np.where(d_right < d_left, right, left)
    ok = np.abs(trigger_times - pulse_times[best]) <= window_ns
    idx[ok] = best[ok]
    return idx


def hold_pulses(held: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The pulses a builder holds for matching, with ``new`` ones added, sorted by time."""
    out = np.concatenate([held, new])
    if len(out) > 1 and np.any(np.diff(out["time"]) < 0):
        out = np.sort(out, order="time")
    return out


def prune_pulses(held: np.ndarray, last_trigger_time: int, window_ns: int) -> np.ndarray:
    """Only the held pulses a record after ``last_trigger_time`` could still match."""
    return held[held["time"] >= int(last_trigger_time) - 10 * window_ns]


def fill_beam(triggers: np.ndarray, pulses: np.ndarray, window_ns: int) -> None:
    """Fill the beam fields of ``triggers`` IN PLACE from the matching ``pulses`` (sorted by time)."""
    idx = match_pulses(triggers["time"], pulses["time"], window_ns)
    ok = idx >= 0
    matched = pulses[idx[ok]]
    triggers["pulse_id"] = -1
    triggers["pulse_id"][ok] = matched["pulse_id"]
    triggers["match_dt"][ok] = triggers["time"][ok] - matched["time"]
    triggers["pot"][ok] = matched["pot"]
    triggers["power_mw"][ok] = matched["power_mw"]
    triggers["beam_on"][ok] = matched["beam_on"]
    triggers["flags"][~ok] |= dtypes.TRIGGER_UNMATCHED


def csi_overflow(csi: np.ndarray) -> np.ndarray:
    """Records whose CsI samples touch either ADC rail anywhere."""
    info = np.iinfo(csi.dtype)
    return (csi.min(axis=1) == info.min) | (csi.max(axis=1) == info.max)


class FeatureExtraction:
    """Features of CsI records in trigger-id order, with the SPE calibration of each gain block.

    Block b is reconstructed with the calibration (shape, window, gain) measured on the blocks before b
    (:mod:`daq.stages.calibration`). Feed it the records of a run in trigger-id order (in batches of any
    size); a new instance starts a new run, from ``calibration`` (the previous run's, or a calibration
    record) or from the config's initial values.
    """

    def __init__(self, cfg: Config, calibration: SpeCalibration | None = None) -> None:
        self.params = feature_params(cfg)
        self.gain = SpeCalibrator(cfg, self.params, calibration)
        self.block = -1
        self.block_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def calibration(self) -> SpeCalibration:
        """The SPE calibration the next block will use."""
        return self.gain.calibration

    def warm(self) -> None:
        """Compile (or load from the cache) the kernels now rather than on the first data."""
        n = self.params.n_samples
        features.extract_features(np.zeros((1, n), np.int8), np.zeros(1, np.int64), np.zeros(1, np.int64),
                                  self.params, self.gain.value)
        self.gain.warm()

    def _close_block(self) -> None:
        if len(self.block_parts) == 1:  # a block within one batch: its arrays as they are (the copy of its
            self.gain.block_done(self.block, *self.block_parts[0])  # records was a tenth of the calibration)
        elif self.block_parts:
            csi = np.concatenate([c for c, _, _ in self.block_parts])
            feats = np.concatenate([f for _, f, _ in self.block_parts])
            peaks = np.concatenate([p for _, _, p in self.block_parts])
            self.gain.block_done(self.block, csi, feats, peaks)
        self.block_parts = []

    def __call__(self, csi: np.ndarray, triggers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FEATURES and PEAK rows of the records ``csi`` of ``triggers`` (sorted by trigger id)."""
        blocks = triggers["trigger_id"] // GAIN_BLOCK
        cuts = np.flatnonzero(np.diff(blocks)) + 1
        out_f, out_p = [], []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(triggers)], strict=True):
            block = int(blocks[lo])
            if block != self.block:
                self._close_block()
                self.block = block
            cal = self.gain.calibration
            f, p = features.extract_features(csi[lo:hi], triggers["trigger_id"][lo:hi], triggers["time"][lo:hi],
                                             self.params, cal.gain, cal.window, self.gain.baseline)
            self.block_parts.append((csi[lo:hi], f, p))
            out_f.append(f)
            out_p.append(p)
        if not out_f:
            return np.zeros(0, dtypes.FEATURES), np.zeros(0, dtypes.PEAK)
        return np.concatenate(out_f), np.concatenate(out_p)


def build_batch(triggers: np.ndarray, csi: np.ndarray, pulses: np.ndarray, window_ns: int,
                extraction: FeatureExtraction) -> tuple[np.ndarray, np.ndarray]:
    """The builder's work on one batch: beam fields and the overflow flag of ``triggers`` IN PLACE,
    and the FEATURES and PEAK rows of the records ``csi``."""
    fill_beam(triggers, pulses, window_ns)
    feats, peaks = extraction(csi, triggers)
    triggers["flags"][csi_overflow(csi)] |= dtypes.TRIGGER_CSI_OVERFLOW
    return feats, peaks
