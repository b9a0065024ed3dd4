"""The simulated CsI[Na] detector and muon veto: one digitized record per beam pulse.

Deposits happen on the continuous timeline (see :mod:`simulators.deposits`); only the
70 us record windows are digitized. The timeline is cut into segments, one per pulse,
each from the middle of the dead time before the pulse's record to the middle of the
dead time after it; all randomness of pulse ``i`` (its segment's steady-state deposits,
the trigger jitter, its beam deposits, the PE and the noise of its record) comes from one
generator keyed on (seed, pulse id). The afterglow of recent deposits, which crosses the
dead time, is carried as a history of steady-state deposits; when pulses are not asked for
in order, the history is rebuilt from the segments before, so a record depends only on
(seed, pulse id), never on how the pulse range is sliced. Beam-related deposits (a few
tens of PE at most) light only their own record; their afterglow is not carried.

Record ``i`` starts at its trigger time minus ``windows.c_roi[0]``, so the C ROI starts at
the trigger, which is the POT time plus gaussian jitter.
"""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.hardware.protocols import RecordBatch, RunParameters
from simulators.beam import nominal_pot
from simulators.deposits import VETO_KINDS, BeamRelated, Deposits, SteadyState
from simulators.kernels import add_gaussian_pulses, add_table_pulses, digitize, normal_table
from simulators.photons import PhotonModel, RecordLight
from simulators.physics import CevnsSource
from simulators.pulses import SpeShape, spe_table
from simulators.rng import KeyedGenerator

STREAM_DETECTOR = 11
STREAM_DRIFT = 12


class DetectorSimulator:
    """Seeded CsI and veto waveforms, with truth, for given beam pulses."""

    def __init__(self, cfg: object, params: RunParameters, cevns: CevnsSource | None = None) -> None:
        self.cfg = cfg
        self.params = params
        s = cfg.simulation
        d = cfg.digitizer
        self.sim = s
        self.dt_ns = d.sample_ns
        self.n_samples = d.n_samples
        self.length_ns = d.record_length_ns
        self.polarity = d.polarity
        self.adc_dtype = np.int8 if d.bits <= 8 else np.int16
        self.adc_lo, self.adc_hi = -(1 << (d.bits - 1)), (1 << (d.bits - 1)) - 1
        self.channels = list(d.channels)
        self.c_roi_start_ns = cfg.windows.c_roi[0]
        self.rois = {dtypes.WINDOW_AC: cfg.windows.ac_roi, dtypes.WINDOW_C: cfg.windows.c_roi}
        self.pretraces = {dtypes.WINDOW_AC: cfg.windows.ac_pretrace, dtypes.WINDOW_C: cfg.windows.c_pretrace}
        self.period_ns = 1e9 / cfg.beam.rep_rate_hz
        self.margin_ns = (self.period_ns - self.length_ns) / 2  # segment edges sit mid dead time
        self.photons = PhotonModel(cfg)
        self.steady = SteadyState(cfg)
        self.beam = BeamRelated(cfg, cevns or CevnsSource(cfg), nominal_pot(cfg), params.rate_boost)
        self.lookback = int(np.ceil((self.photons.horizon_ns + 2 * self.margin_ns) / self.period_ns)) + 1
        self.spe_shape = 1.0 / s.spe_gain_spread**2 if s.spe_gain_spread > 0 else 0.0  # gamma-distributed SPE charges
        self.spe_sigma_samples = s.spe_sigma_ns / self.dt_ns
        self.spe_table = spe_table(SpeShape.from_config(s), self.dt_ns) if s.spe_decay_ns > 0 else None
        # the in-record baseline slope, centred on the record: baseline_at() is the record's mean baseline
        self.ramp = s.baseline_slope_adc * (np.arange(self.n_samples) / max(self.n_samples - 1, 1) - 0.5)
        veto_sigma_ns = s.veto_pulse_sigma_ns
        self.veto_sigma_samples = veto_sigma_ns / self.dt_ns
        self.veto_charge = s.veto_muon_amplitude_adc * np.sqrt(2 * np.pi) * self.veto_sigma_samples
        phases = np.random.default_rng([params.seed, STREAM_DRIFT]).uniform(0, 2 * np.pi, 2)
        self._baseline_phase, self._gain_phase = phases
        self._table = normal_table()
        self._signal = np.zeros(self.n_samples)  # scratch: one channel's pulses before digitizing
        self._is_veto = np.zeros(256, bool)  # indexed by TRUTH_* code
        self._is_veto[list(VETO_KINDS)] = True
        self._record_rng = KeyedGenerator(params.seed, STREAM_DETECTOR)
        self._history_rng = KeyedGenerator(params.seed, STREAM_DETECTOR)  # same streams, own state
        self._history = Deposits.empty()
        self._last_id: int | None = None

    # --- slow drifts -------------------------------------------------------------------
    def baseline_at(self, t_s: float) -> float:
        """True CsI baseline [ADC] at ``t_s`` seconds after the run start."""
        s = self.sim
        phase = 2 * np.pi * t_s / s.baseline_drift_period_s + self._baseline_phase
        return s.baseline_adc + s.baseline_drift_adc * np.sin(phase)

    def gain_at(self, t_s: float) -> float:
        """True SPE mean charge [ADC*sample] at ``t_s`` seconds after the run start."""
        s = self.sim
        phase = 2 * np.pi * t_s / s.spe_gain_drift_period_s + self._gain_phase
        return s.spe_gain * (1 + s.spe_gain_drift * np.sin(phase))

    # --- timeline ------------------------------------------------------------------------
    def _pot_time(self, pulse_id: int) -> int:
        """POT time of a pulse [ns since the run start]."""
        return int(np.rint(pulse_id * self.period_ns))

    def _segment(self, pulse_id: int) -> tuple[int, int]:
        """[start, stop) of the pulse's timeline segment [ns since the run start]."""
        offset = self.c_roi_start_ns + self.margin_ns
        return int(np.rint(pulse_id * self.period_ns - offset)), int(np.rint((pulse_id + 1) * self.period_ns - offset))

    def _history_before(self, pulse_id: int, record_start: int) -> Deposits:
        """Steady-state deposits of the segments before ``pulse_id`` still shining at ``record_start``."""
        if self._last_id is not None and self._last_id == pulse_id - 1:
            hist = self._history
        else:
            hist = Deposits.concat(
                [self.steady.draw(self._history_rng.at(j), *self._segment(j))
                 for j in range(pulse_id - self.lookback, pulse_id)]
            )
        return hist.select(hist.time_ns >= record_start - self.photons.horizon_ns)

    # --- records -------------------------------------------------------------------------
    def records(self, pulses: np.ndarray, first_trigger_id: int) -> RecordBatch:
        """One record per pulse (BEAM_PULSE rows of this run's beam timeline); trigger ids from ``first_trigger_id``."""
        n = len(pulses)
        triggers = np.zeros(n, dtypes.TRIGGER)
        triggers["trigger_id"] = first_trigger_id + np.arange(n)
        triggers["pulse_id"] = -1
        waves = {ch: np.zeros((n, self.n_samples), self.adc_dtype) for ch in self.channels}
        truth_events, truth_windows = [], []
        for k in range(n):
            start, events, windows = self._record(pulses[k], first_trigger_id + k, waves["csi"][k], waves["veto"][k])
            triggers["time"][k] = self.params.start_time_ns + start + self.c_roi_start_ns
            truth_events.append(events)
            truth_windows.append(windows)
        return RecordBatch(
            triggers=triggers,
            waveforms=waves,
            truth_events=np.concatenate(truth_events) if n else np.zeros(0, dtypes.TRUTH_EVENT),
            truth_windows=np.concatenate(truth_windows) if n else np.zeros(0, dtypes.TRUTH_WINDOW),
        )

    def _record(
        self, pulse: np.void, trigger_id: int, csi: np.ndarray, veto: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Fill one record's CsI and veto rows; return (record start [ns since run start], truth rows).

        The order of draws from the pulse's generator is fixed: segment deposits, jitter,
        beam deposits, PE times, SPE charges, noise seeds.
        """
        s = self.sim
        pid = int(pulse["pulse_id"])
        rng = self._record_rng.at(pid)
        segment = self.steady.draw(rng, *self._segment(pid))
        jitter = min(max(rng.normal(0.0, s.trigger_jitter_ns), -self.margin_ns / 2), self.margin_ns / 2)
        t_pot = self._pot_time(pid)
        start = t_pot + int(round(jitter)) - self.c_roi_start_ns
        beam = self.beam.draw(rng, float(pulse["pot"]), t_pot)
        history = self._history_before(pid, start)
        self._history = Deposits.concat([history, segment])
        self._last_id = pid
        deps = Deposits.concat([history, segment, beam])
        t_rel = (deps.time_ns - start).astype(float)
        light = self.photons.record_light(rng, t_rel, deps.kind, deps.n_pe)

        t_s = t_pot * 1e-9
        baseline, gain = self.baseline_at(t_s), self.gain_at(t_s)
        n_pe = len(light.pe_time_ns)
        charges = rng.gamma(self.spe_shape, gain / self.spe_shape, n_pe) if self.spe_shape else np.full(n_pe, gain)
        seeds = rng.integers(0, 2**63, 2, dtype=np.uint64)
        in_record = (t_rel >= 0) & (t_rel < self.length_ns)
        self._render_csi(light, charges, gain, baseline, seeds[0], csi)
        self._render_veto(t_rel[self._is_veto[deps.kind] & in_record], seeds[1], veto)

        shown = in_record | (light.deposit_pe_in_record > 0)
        events = self._truth_events(trigger_id, deps.select(shown), t_rel[shown])
        return start, events, self._truth_windows(trigger_id, light, baseline, gain)

    def _render_csi(
        self, light: RecordLight, charges: np.ndarray, gain: float, baseline: float, seed: np.uint64, out: np.ndarray
    ) -> None:
        signal = self._signal
        signal.fill(0.0)
        if self.spe_table is None:
            add_gaussian_pulses(signal, light.pe_time_ns / self.dt_ns, charges, self.spe_sigma_samples)
        else:
            add_table_pulses(signal, light.pe_time_ns / self.dt_ns, charges, *self.spe_table)
        if self.sim.baseline_slope_adc:
            signal += self.polarity * self.ramp  # digitize adds polarity * signal: the ramp itself
        for t_dep, n_pe in zip(light.curve_time_ns, light.curve_n_pe, strict=True):
            signal += self.photons.mean_charge_per_sample(t_dep, n_pe, gain, self.n_samples, self.dt_ns)
        digitize(signal, baseline, self.sim.noise_rms_adc, self.polarity, seed, self._table, self.adc_lo,
                 self.adc_hi, out)

    def _render_veto(self, hit_times_ns: np.ndarray, seed: np.uint64, out: np.ndarray) -> None:
        signal = self._signal
        signal.fill(0.0)
        charges = np.full(len(hit_times_ns), self.veto_charge)
        add_gaussian_pulses(signal, hit_times_ns / self.dt_ns, charges, self.veto_sigma_samples)
        digitize(signal, self.sim.veto_baseline_adc, self.sim.veto_noise_rms_adc, self.polarity, seed, self._table,
                 self.adc_lo, self.adc_hi, out)

    def _truth_windows(self, trigger_id: int, light: RecordLight, baseline: float, gain: float) -> np.ndarray:
        windows = np.zeros(2, dtypes.TRUTH_WINDOW)
        pe_t = light.pe_time_ns
        for row, w in enumerate((dtypes.WINDOW_AC, dtypes.WINDOW_C)):
            a, b = self.pretraces[w]
            n_pe = np.count_nonzero((pe_t >= a) & (pe_t < b))
            for t_dep, q in zip(light.curve_time_ns, light.curve_n_pe, strict=True):
                n_pe += round(self.photons.expected_in(t_dep, q, a, b))
            centre = min(int(0.5 * (a + b) / self.dt_ns), self.n_samples - 1)
            windows[row] = (trigger_id, w, n_pe, baseline + self.ramp[centre], gain)
        return windows

    def _truth_events(self, trigger_id: int, deps: Deposits, t_rel: np.ndarray) -> np.ndarray:
        order = np.argsort(t_rel, kind="stable")
        rows = np.zeros(len(deps), dtypes.TRUTH_EVENT)
        rows["trigger_id"] = trigger_id
        rows["kind"] = deps.kind[order]
        rows["time_ns"] = np.floor(t_rel[order]).astype(np.int64)
        rows["energy_kev"] = deps.energy_kev[order]
        rows["n_pe"] = deps.n_pe[order]
        rows["window"] = -1
        for w, (a, b) in self.rois.items():
            rows["window"][(rows["time_ns"] >= a) & (rows["time_ns"] < b)] = w
        return rows
