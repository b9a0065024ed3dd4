"""Data quality versus time: one DQ row per interval of trigger time.

Intervals are measured on the triggers' own timestamps, not the wall clock, so a
replayed run gives the same rows as the live one. The accumulator sees every batch
after the cuts; :meth:`DQAccumulator.add` returns the rows completed by that batch.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.kernels.exposure import gwhr
from daq.kernels.spe_gain import quiet_pretrace_charges, truncated_mean

LINE_EVENTS = 200  # the line gain is the median of the last this many line candidates
LINE_MIN_EVENTS = 10


class DQAccumulator:
    """Accumulates triggers, features, beam pulses, veto hits and losses into DQ rows.

    The internal-line gain is a running figure (the last LINE_EVENTS candidates: windows that
    pass every cut with PE within 30 % of the expected line PE): the line is too rare to be
    measured within one interval.
    """

    def __init__(self, cfg: Config) -> None:
        self.interval_ns = int(cfg.run.dq_interval_s * 1e9)
        self.period_ns = int(1e9 / cfg.beam.rep_rate_hz)
        self.last_time = 0
        self.energy_gev = cfg.beam.proton_energy_gev
        self.c_roi_start = cfg.windows.c_roi[0]
        self.quiet_max_peaks = cfg.features.calibration_max_pretrace_peaks
        pt = (cfg.windows.ac_pretrace, cfg.windows.c_pretrace)
        self.pretrace_s = 0.5 * sum(b - a for a, b in pt) * 1e-9  # mean pretrace length of a window
        self.line_pe = cfg.simulation.internal_line_kevee * cfg.simulation.light_yield_pe_per_kevee
        self.pot_total = 0.0
        self.pulses: list[np.ndarray] = []
        self.line_values: deque[float] = deque(maxlen=LINE_EVENTS)
        self.interval_start: int | None = None
        self.pending_losses: list[np.ndarray] = []
        self._reset()

    def _reset(self) -> None:
        self.n_trig = 0
        self.n_beam_on = 0
        self.power_sum = 0.0
        self.baseline_sum = 0.0
        self.baseline_rms_sum = 0.0
        self.noise_peaks = 0
        self.spe_gain = float("nan")
        self.peak_charges: list[np.ndarray] = []
        self.n_windows = 0
        self.cut_counts = {dtypes.CUT_AFTERGLOW: 0, dtypes.CUT_VETO: 0, dtypes.CUT_LINEAR_GATE: 0}
        self.n_overflow = 0
        self.veto_beam_times: list[np.ndarray] = []
        self.losses = 0

    def totals(self) -> dict[str, float]:
        """The running sums a restarted cut pipeline continues from (see :meth:`resume`)."""
        return {"pot_total": self.pot_total}

    def resume(self, totals: dict[str, float]) -> None:
        """Continue the running sums of a predecessor (POT, hence GWhr) instead of starting at 0."""
        self.pot_total = float(totals.get("pot_total", 0.0))

    def add_losses(self, losses: np.ndarray) -> None:
        """Trigger losses count in the interval of the last recorded trigger before them (not their
        message's): a digitizer declares a full buffer's loss with the oldest records it holds, a
        replay with the records after it, and both must give the same rows. A loss stays pending
        until a trigger after it closes an interval (or the run ends). Beam losses (no trigger id)
        are not trigger losses."""
        trigger_losses = losses[losses["trigger_id"] >= 0] if len(losses) else losses
        if len(trigger_losses):
            self.pending_losses.append(np.array(trigger_losses))

    def _take_losses(self, before_id: int | None) -> None:
        """Count the pending losses whose first trigger id is below ``before_id`` (None: all)."""
        if not self.pending_losses:
            return
        losses = np.concatenate(self.pending_losses)
        now = losses["trigger_id"] < before_id if before_id is not None else np.ones(len(losses), bool)
        self.losses += int(losses["count"][now].sum())
        self.pending_losses = [losses[~now]] if np.any(~now) else []

    def add_beam(self, pulses: np.ndarray) -> None:
        """Beam pulses count in the interval their own time falls in (not their message's),
        so the rows do not depend on how pulses were batched."""
        if len(pulses):
            self.pulses.append(np.array(pulses))

    def _take_pulses(self, end_time: int) -> float:
        """POT of the pulses before ``end_time`` (kept pulses after it for later intervals)."""
        if not self.pulses:
            return 0.0
        pulses = np.concatenate(self.pulses)
        now = pulses["time"] < end_time
        self.pulses = [pulses[~now]] if np.any(~now) else []
        return float(pulses["pot"][now].sum())

    def add(self, triggers: np.ndarray, features: np.ndarray, veto_hits: np.ndarray,
            peaks: np.ndarray | None = None) -> list[np.ndarray]:
        """Add one batch (after cuts); return DQ rows of intervals this batch completed."""
        if peaks is None:
            peaks = np.zeros(0, dtypes.PEAK)
        rows: list[np.ndarray] = []
        if len(triggers) == 0:
            return rows
        if self.interval_start is None:
            self.interval_start = int(triggers["time"][0])
        # split the batch at interval boundaries (batches are short; rarely more than one)
        times = triggers["time"]
        while True:
            end = self.interval_start + self.interval_ns
            k = int(np.searchsorted(times, end))
            ids = triggers["trigger_id"][:k]
            self._accumulate(triggers[:k], features[: 2 * k], veto_hits[np.isin(veto_hits["trigger_id"], ids)],
                             peaks[np.isin(peaks["trigger_id"], ids)])
            if k == len(triggers):
                break
            self._take_losses(int(triggers["trigger_id"][k]))
            rows.append(self.row(end))
            triggers, features = triggers[k:], features[2 * k :]
            peaks = peaks[~np.isin(peaks["trigger_id"], ids)]
            times = triggers["time"]
            self.interval_start = end
        return rows

    def _accumulate(self, triggers: np.ndarray, features: np.ndarray, veto_hits: np.ndarray,
                    peaks: np.ndarray) -> None:
        if len(triggers) == 0:
            return
        self.n_trig += len(triggers)
        self.last_time = int(triggers["time"][-1])
        on = triggers["beam_on"]
        self.n_beam_on += int(on.sum())
        # sums of float32 values in float64 are exact here, so rows do not depend on batching
        self.power_sum += float(triggers["power_mw"].astype(np.float64).sum())
        self.baseline_sum += float(features["baseline"].astype(np.float64).sum())
        self.baseline_rms_sum += float(features["baseline_rms"].astype(np.float64).sum())
        self.noise_peaks += int(features["n_noise_peaks"].sum())
        if len(features):
            self.spe_gain = float(features["spe_gain"][-1])
        self.peak_charges.append(quiet_pretrace_charges(features, peaks, self.quiet_max_peaks))
        self.n_windows += len(features)
        for bit in self.cut_counts:
            self.cut_counts[bit] += int(np.count_nonzero(features["cut_mask"] & bit))
        self.n_overflow += int(features["overflow"].sum())
        if len(veto_hits):
            beam_on_ids = triggers["trigger_id"][on]
            hits = veto_hits[np.isin(veto_hits["trigger_id"], beam_on_ids)]
            self.veto_beam_times.append(hits["time_ns"] - self.c_roi_start)
        near = np.abs(features["pe"] - self.line_pe) < 0.3 * self.line_pe
        self.line_values.extend(features["pe"][near & (features["cut_mask"] == 0)].tolist())

    def row(self, end_time: int, interval_s: float | None = None) -> np.ndarray:
        """The DQ row of the interval ending at ``end_time``; starts the next interval."""
        r = np.zeros(1, dtypes.DQ)[0]
        interval_s = self.interval_ns / 1e9 if interval_s is None else interval_s
        r["time"] = end_time
        r["interval_s"] = interval_s
        r["triggers"] = self.n_trig
        r["trigger_rate_hz"] = self.n_trig / interval_s
        nan = np.nan
        r["beam_on_fraction"] = self.n_beam_on / self.n_trig if self.n_trig else nan
        r["beam_power_mw"] = self.power_sum / self.n_trig if self.n_trig else nan
        pot = self._take_pulses(end_time)
        self.pot_total += pot
        r["pot"] = pot
        r["pot_total"] = self.pot_total
        r["gwhr_total"] = gwhr(self.pot_total, self.energy_gev)
        w = self.n_windows
        r["baseline_adc"] = self.baseline_sum / w if w else nan
        r["baseline_rms_adc"] = self.baseline_rms_sum / w if w else nan
        r["noise_peak_rate_hz"] = self.noise_peaks / (w * self.pretrace_s) if w else nan
        r["spe_gain"] = self.spe_gain
        charges = np.concatenate(self.peak_charges) if self.peak_charges else np.zeros(0)
        r["spe_mean_charge"] = truncated_mean(charges) if len(charges) >= 20 else nan
        w = self.n_windows
        r["afterglow_fraction"] = self.cut_counts[dtypes.CUT_AFTERGLOW] / w if w else nan
        r["veto_fraction"] = self.cut_counts[dtypes.CUT_VETO] / w if w else nan
        r["linear_gate_fraction"] = self.cut_counts[dtypes.CUT_LINEAR_GATE] / w if w else nan
        r["overflow_fraction"] = self.n_overflow / w if w else nan
        r["pot_to_signal_delay_ns"] = pot_to_signal_delay(np.concatenate(self.veto_beam_times)
                                                          if self.veto_beam_times else np.zeros(0))
        line = np.fromiter(self.line_values, float)
        r["line_gain"] = float(np.median(line)) / self.line_pe if len(line) >= LINE_MIN_EVENTS else nan
        r["losses"] = self.losses
        self._reset()
        return r

    def flush(self) -> list[np.ndarray]:
        """The last, partial interval (at the end of a run): as long as its triggers cover,
        so its rates are rates (one trigger period past the last trigger)."""
        if self.interval_start is None or self.n_trig == 0:
            return []
        end = self.last_time + self.period_ns
        self._take_losses(None)
        return [self.row(end, (end - self.interval_start) / 1e9)]


def pot_to_signal_delay(times_ns: np.ndarray, lo: int = -2000, hi: int = 6000, bin_ns: int = 200) -> float:
    """Delay of the beam-related veto coincidences after POT [ns].

    Random muons fill the veto-hit time histogram flatly; beam-related hits pile up around one
    delay, spread by the proton pulse (~380 ns FWHM). Returns the median of the hits within
    +-500 ns of the fullest 200 ns bin, or NaN if no bin stands 3 sigma above the flat level.
    """
    t = times_ns[(times_ns >= lo) & (times_ns < hi)]
    if len(t) < 5:
        return float("nan")
    counts, edges = np.histogram(t, bins=np.arange(lo, hi + bin_ns, bin_ns))
    k = int(np.argmax(counts))
    flat = np.median(counts)
    if counts[k] < flat + 3 * np.sqrt(max(flat, 1.0)):
        return float("nan")
    centre = 0.5 * (edges[k] + edges[k + 1])
    return float(np.median(t[np.abs(t - centre) <= 500]))
