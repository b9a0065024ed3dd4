"""The simulated CsI[Na] detector and veto: determinism, truth and waveform statistics."""

from __future__ import annotations

import numpy as np
import pytest

from daq import dtypes
from daq.hardware.protocols import RecordBatch
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator
from tests.simulators.sim_helpers import DARK_DETECTOR, run_parameters

CEVNS_KINDS = (dtypes.TRUTH_CEVNS_PROMPT, dtypes.TRUTH_CEVNS_DELAYED)
BEAM_KINDS = (*CEVNS_KINDS, dtypes.TRUTH_BEAM_NEUTRON, dtypes.TRUTH_VETO_BEAM)


def simulate(cfg, first: int, n: int, seed: int = 7, rate_boost: float = 1.0, pulses=None) -> RecordBatch:
    params = run_parameters(seed=seed, rate_boost=rate_boost)
    if pulses is None:
        pulses = SNSBeamTimeline(cfg, params).pulses(first, n)
    return DetectorSimulator(cfg, params).records(pulses, first)


def same_bytes(a: RecordBatch, b: RecordBatch) -> bool:
    return (
        a.triggers.tobytes() == b.triggers.tobytes()
        and all(a.waveforms[ch].tobytes() == b.waveforms[ch].tobytes() for ch in a.waveforms)
        and a.truth_events.tobytes() == b.truth_events.tobytes()
        and a.truth_windows.tobytes() == b.truth_windows.tobytes()
    )


def part(batch: RecordBatch, lo: int, hi: int) -> RecordBatch:
    """Records lo..hi-1 of a batch (truth rows selected by trigger id)."""
    ids = batch.triggers["trigger_id"][lo:hi]
    ev = batch.truth_events[np.isin(batch.truth_events["trigger_id"], ids)]
    win = batch.truth_windows[np.isin(batch.truth_windows["trigger_id"], ids)]
    return RecordBatch(batch.triggers[lo:hi], {k: v[lo:hi] for k, v in batch.waveforms.items()}, ev, win)


@pytest.fixture
def glowing_cfg(make_cfg):
    """Bright muons through the crystal and an afterglow longer than the pulse period."""
    return make_cfg(simulation={"muon_csi_fraction": 0.5, "muon_rate_hz": 2000.0, "afterglow_tau_ns": 3.0e7})


def test_record_layout(base_cfg):
    batch = simulate(base_cfg, 100, 5)
    n_samples = base_cfg.digitizer.n_samples
    assert n_samples == 35_000 and len(batch) == 5
    for ch in base_cfg.digitizer.channels:
        assert batch.waveforms[ch].shape == (5, n_samples) and batch.waveforms[ch].dtype == np.int8
    t = batch.triggers
    assert t.dtype == dtypes.TRIGGER
    np.testing.assert_array_equal(t["trigger_id"], np.arange(100, 105))
    assert np.all(t["pulse_id"] == -1) and np.all(t["pot"] == 0) and np.all(t["flags"] == 0)
    assert batch.truth_windows.dtype == dtypes.TRUTH_WINDOW and len(batch.truth_windows) == 10
    assert batch.truth_events.dtype == dtypes.TRUTH_EVENT


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(glowing_cfg):
    a = simulate(glowing_cfg, 0, 12, seed=3)
    b = simulate(glowing_cfg, 0, 12, seed=3)
    c = simulate(glowing_cfg, 0, 12, seed=4)
    assert same_bytes(a, b)
    assert not np.array_equal(a.waveforms["csi"], c.waveforms["csi"])


def test_records_do_not_depend_on_how_the_pulses_are_sliced(glowing_cfg):
    params = run_parameters()
    pulses = SNSBeamTimeline(glowing_cfg, params).pulses(0, 30)
    whole = DetectorSimulator(glowing_cfg, params).records(pulses, 0)
    det = DetectorSimulator(glowing_cfg, params)
    first, second = det.records(pulses[:11], 0), det.records(pulses[11:], 11)
    assert same_bytes(first, part(whole, 0, 11)) and same_bytes(second, part(whole, 11, 30))
    # random access: a fresh simulator asked for pulse 20 onwards rebuilds the afterglow history
    late = DetectorSimulator(glowing_cfg, params).records(pulses[20:], 20)
    assert same_bytes(late, part(whole, 20, 30))
    # skipping pulses (lost triggers) does not change the later records either
    skip = DetectorSimulator(glowing_cfg, params)
    skip.records(pulses[:5], 0)
    assert same_bytes(skip.records(pulses[17:], 17), part(whole, 17, 30))


def test_trigger_time_is_pot_time_plus_jitter(base_cfg):
    params = run_parameters()
    pulses = SNSBeamTimeline(base_cfg, params).pulses(0, 400)
    batch = DetectorSimulator(base_cfg, params).records(pulses, 0)
    jitter = batch.triggers["time"] - pulses["time"]
    sigma = base_cfg.simulation.trigger_jitter_ns
    assert abs(jitter.mean()) < 4 * sigma / np.sqrt(len(jitter))
    assert jitter.std() == pytest.approx(sigma, rel=0.15)


def test_cevns_truth_lies_after_pot_in_the_c_roi_and_scales_with_pot(base_cfg):
    boost = 2.0e6
    params = run_parameters(rate_boost=boost)
    pulses = SNSBeamTimeline(base_cfg, params).pulses(0, 200)
    det = DetectorSimulator(base_cfg, params)
    batch = det.records(pulses, 0)
    ev = batch.truth_events
    cevns = ev[np.isin(ev["kind"], CEVNS_KINDS)]
    expected = sum(det.beam.cevns.expected_per_pot()) * boost * pulses["pot"].sum()
    assert abs(len(cevns) - expected) < 4 * np.sqrt(expected)
    c_lo, c_hi = base_cfg.windows.c_roi
    # the POT time inside each record: the C ROI starts at the trigger, which is the POT time plus jitter
    pot_in_record = c_lo - (batch.triggers["time"] - pulses["time"])
    after_pot = cevns["time_ns"] - pot_in_record[cevns["trigger_id"]]
    assert after_pot.min() >= -1
    in_c_roi = (cevns["time_ns"] >= c_lo) & (cevns["time_ns"] < c_hi)
    np.testing.assert_array_equal(cevns["window"], np.where(in_c_roi, dtypes.WINDOW_C, -1))
    assert in_c_roi.mean() > 0.97
    q = base_cfg.simulation.quenching * base_cfg.simulation.light_yield_pe_per_kevee
    assert cevns["n_pe"].mean() == pytest.approx(q * cevns["energy_kev"].mean(), rel=0.1)


def test_beam_off_pulses_inject_nothing_beam_related(make_cfg):
    cfg = make_cfg(simulation={"veto_beam_rate_per_pulse": 5.0, "beam_neutron_per_pulse": 2.0e-6})
    params = run_parameters(rate_boost=2.0e6)
    pulses = SNSBeamTimeline(cfg, params).pulses(0, 60)
    pulses["beam_on"][::2] = False
    pulses["pot"][::2] = 0.0
    batch = DetectorSimulator(cfg, params).records(pulses, 0)
    beam_rows = batch.truth_events[np.isin(batch.truth_events["kind"], BEAM_KINDS)]
    assert len(beam_rows) > 100
    assert np.all(beam_rows["trigger_id"] % 2 == 1)
    veto = beam_rows[beam_rows["kind"] == dtypes.TRUTH_VETO_BEAM]
    delay = veto["time_ns"] - base_delay(cfg)
    assert np.median(delay) == pytest.approx(cfg.beam.pulse_fwhm_ns, abs=60)


def base_delay(cfg) -> float:
    """Record time of the POT plus the configured beam-related veto delay (jitter aside)."""
    return cfg.windows.c_roi[0] + cfg.simulation.veto_beam_delay_ns


def test_muons_through_the_csi_hit_the_rail_and_the_veto(make_cfg):
    cfg = make_cfg(simulation={"muon_rate_hz": 20_000.0, "muon_csi_fraction": 1.0})
    batch = simulate(cfg, 0, 40)
    sim = cfg.simulation
    muons = batch.truth_events[(batch.truth_events["kind"] == dtypes.TRUTH_MUON)]
    muons = muons[(muons["time_ns"] >= 0) & (muons["time_ns"] < cfg.digitizer.record_length_ns - 2000)]
    assert len(muons) > 20
    dt = cfg.digitizer.sample_ns
    for m in muons:
        k = int(m["time_ns"] / dt)
        assert batch.waveforms["csi"][m["trigger_id"], k : k + 500].min() == -128
        veto_min = batch.waveforms["veto"][m["trigger_id"], k - 5 : k + 10].min()
        assert veto_min <= sim.veto_baseline_adc - 0.7 * sim.veto_muon_amplitude_adc
        assert m["energy_kev"] == pytest.approx(sim.muon_kevee) and m["n_pe"] > 0


def test_dark_detector_baselines_match_the_config(make_cfg):
    cfg = make_cfg(simulation=DARK_DETECTOR)
    batch = simulate(cfg, 0, 30)
    sim = cfg.simulation
    csi = batch.waveforms["csi"].astype(float)
    true_baseline = batch.truth_windows["baseline"][::2]
    assert np.all(np.abs(true_baseline - sim.baseline_adc) <= sim.baseline_drift_adc)
    assert csi.mean(axis=1) == pytest.approx(true_baseline, abs=0.02)
    quantisation = 1.0 / 12.0  # variance added by rounding to whole ADC counts
    assert csi.std(axis=1) == pytest.approx(np.sqrt(sim.noise_rms_adc**2 + quantisation), rel=0.03)
    veto = batch.waveforms["veto"].astype(float)
    assert veto.mean() == pytest.approx(sim.veto_baseline_adc, abs=0.02)
    assert veto.std() == pytest.approx(np.sqrt(sim.veto_noise_rms_adc**2 + quantisation), rel=0.03)
    assert np.all(batch.truth_windows["n_pretrace_pe"] == 0)


def test_pretrace_charge_over_true_pe_is_the_true_gain(make_cfg):
    cfg = make_cfg(simulation={**DARK_DETECTOR, "dark_rate_hz": 2.0e6})
    batch = simulate(cfg, 0, 60)
    charge, n_pe = 0.0, 0
    for w in batch.truth_windows:
        a, b = (np.array(cfg.windows.ac_pretrace if w["window"] == dtypes.WINDOW_AC else cfg.windows.c_pretrace)
                / cfg.digitizer.sample_ns).astype(int)
        samples = batch.waveforms["csi"][w["trigger_id"], a:b].astype(float)
        charge += np.sum(w["baseline"] - samples)  # negative polarity
        n_pe += w["n_pretrace_pe"]
    assert n_pe > 4000
    true_gain = batch.truth_windows["spe_gain"].mean()
    assert charge / n_pe == pytest.approx(true_gain, rel=0.02)


def test_isolated_spe_pulses_have_the_configured_mean_charge(make_cfg):
    cfg = make_cfg(simulation={**DARK_DETECTOR, "dark_rate_hz": 3.0e5, "spe_gain_drift": 0.0})
    batch = simulate(cfg, 0, 80)
    threshold, half, isolation = cfg.features.spe_threshold_adc, 5, 20
    charges = []
    for row, baseline in zip(batch.waveforms["csi"], batch.truth_windows["baseline"][::2], strict=True):
        height = baseline - row.astype(float)
        mid = height[1:-1]
        peaks = np.flatnonzero((mid >= threshold) & (mid >= height[:-2]) & (mid > height[2:])) + 1
        for k, p in enumerate(peaks):
            neighbours = np.abs(np.delete(peaks, k) - p)
            if p < isolation or p > len(row) - isolation or (neighbours.size and neighbours.min() < isolation):
                continue
            charges.append(height[p - half : p + half + 1].sum())
    assert len(charges) > 1000
    # the threshold removes the smallest SPEs, which lifts the mean by about 1 %
    assert np.mean(charges) == pytest.approx(cfg.simulation.spe_gain, rel=0.04)


def test_afterglow_carries_across_the_dead_time(make_cfg):
    # afterglow (10 PE per scintillation PE, tau 50 ms: three pulse periods) dominates the pretrace light
    rate_hz, slope, fraction, tau_ns = 1000.0, 10.0, 10.0, 5.0e7
    cfg = make_cfg(simulation={**DARK_DETECTOR, "gamma_rate_hz": rate_hz, "gamma_slope_kevee": slope,
                               "afterglow_pe_fraction": fraction, "afterglow_tau_ns": tau_ns})
    batch = simulate(cfg, 0, 120)
    pretrace_ns = cfg.windows.ac_pretrace[1] - cfg.windows.ac_pretrace[0]
    pe_per_deposit = slope * cfg.simulation.light_yield_pe_per_kevee
    # stationary: every PE ever emitted counts, at (1 + fraction) PE per scintillation PE
    expected = rate_hz * pe_per_deposit * (1 + fraction) * pretrace_ns * 1e-9
    assert batch.truth_windows["n_pretrace_pe"].mean() == pytest.approx(expected, rel=0.2)
