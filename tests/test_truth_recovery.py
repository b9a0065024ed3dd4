"""The simulator's truth is recovered by the event builder's features (issue: headless DAQ, item 8).

One seeded simulated minute-fraction (1200 records at a high CEvNS rate boost) goes through the
same feature kernels, gain tracker and cut thresholds as the DAQ; the features are compared with
the truth the simulator stored. Tolerances come from the construction:

* baseline: the pretrace mean over ~10^4 samples of rms 0.8 ADC is good to ~0.01 ADC; the issue
  asks for 0.5 ADC, required here of every window.
* SPE gain: the issue asks for 2 %; the threshold (4 ADC on ~9 ADC SPE pulses) drops the lowest
  few % of single-PE charges, a +1 % bias, so 2 % leaves room for the estimate's own statistics.
* PE: a scintillation deposit of n photoelectrons is integrated over ``integration_ns`` after its
  onset, which holds the fraction f of CsI[Na] light computed below from the configured decay
  times; the reconstructed PE is ~Binomial(n, f) smeared by the SPE charge spread, so
  sigma^2 = n f (1 - f) + n f spread^2 + 1 (dark counts in the window). An onset triggered by a
  dark count before the deposit cuts its tail; that happens to a few % of deposits.
* afterglow cut: the truth decision uses the true pretrace photoelectron count; two PEs within one
  SPE pulse width merge into one peak, so a small disagreement is expected.
"""

from __future__ import annotations

import numpy as np
import pytest

from daq import config, dtypes
from daq.hardware.protocols import RunParameters
from daq.kernels.features import extract_features
from daq.kernels.spe_gain import SpeGainTracker, quiet_pretrace_charges
from daq.stages.params import feature_params
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator

SCINTILLATION = (dtypes.TRUTH_CEVNS_PROMPT, dtypes.TRUTH_CEVNS_DELAYED, dtypes.TRUTH_BEAM_NEUTRON,
                 dtypes.TRUTH_GAMMA, dtypes.TRUTH_INTERNAL_LINE)


@pytest.fixture(scope="module")
def run() -> dict:
    cfg = config.load()
    params = RunParameters(run_number=1, seed=7, rate_boost=1e5, speed=1.0, start_time_ns=1_700_000_000 * 10**9)
    n = 1200
    batch = DetectorSimulator(cfg, params).records(SNSBeamTimeline(cfg, params).pulses(0, n), 0)
    fp = feature_params(cfg)
    tracker = SpeGainTracker(cfg.features.spe_gain_initial, cfg.features.spe_gain_peaks)
    feats = []
    for k in range(0, n, 60):  # batches as the reader sends them
        sl = slice(k, k + 60)
        f, p = extract_features(batch.waveforms["csi"][sl], batch.triggers["trigger_id"][sl],
                                batch.triggers["time"][sl], fp, tracker.value)
        tracker.update(quiet_pretrace_charges(f, p, cfg.cuts.afterglow_max_pretrace_peaks))
        feats.append(f)
    return {"cfg": cfg, "batch": batch, "features": np.concatenate(feats), "gain": tracker.value}


def test_baseline_within_half_an_adc_count_in_every_window(run: dict) -> None:
    truth = run["batch"].truth_windows
    diff = run["features"]["baseline"] - truth["baseline"]
    assert np.all(np.abs(diff) < 0.5), np.abs(diff).max()


def test_spe_gain_within_two_percent(run: dict) -> None:
    true_gain = run["batch"].truth_windows["spe_gain"].mean()
    assert run["gain"] == pytest.approx(true_gain, rel=0.02)


def test_afterglow_cut_decisions_agree_with_truth(run: dict) -> None:
    n_max = run["cfg"].cuts.afterglow_max_pretrace_peaks
    truth = run["batch"].truth_windows["n_pretrace_pe"] > n_max
    reco = run["features"]["n_pretrace_peaks"] > n_max
    assert truth.sum() > 50  # the sample holds afterglow-cut windows at all
    assert np.mean(truth == reco) > 0.98


def integration_fraction(cfg: config.Config) -> float:
    s, t = cfg.simulation, cfg.features.integration_ns
    return ((1 - s.scint_slow_fraction) * (1 - np.exp(-t / s.scint_fast_ns))
            + s.scint_slow_fraction * (1 - np.exp(-t / s.scint_slow_ns)))


def test_pe_of_injected_deposits_within_resolution(run: dict) -> None:
    cfg, feats = run["cfg"], run["features"]
    ev = run["batch"].truth_events
    ev = ev[np.isin(ev["kind"], SCINTILLATION) & (ev["window"] >= 0) & (ev["n_pe"] >= 5)]
    key = ev["trigger_id"] * 2 + ev["window"]
    values, counts = np.unique(key, return_counts=True)
    ev = ev[np.isin(key, values[counts == 1])]  # one deposit in its window
    reco = feats[np.searchsorted(feats["trigger_id"] * 2 + feats["window"], ev["trigger_id"] * 2 + ev["window"])]
    f = integration_fraction(cfg)
    n = ev["n_pe"].astype(float)
    sigma = np.sqrt(n * f * (1 - f) + n * f * cfg.simulation.spe_gain_spread**2 + 1.0)
    pull = (reco["pe"] - f * n) / sigma
    cevns = np.isin(ev["kind"], (dtypes.TRUTH_CEVNS_PROMPT, dtypes.TRUTH_CEVNS_DELAYED))
    assert cevns.sum() >= 30
    assert np.mean(np.abs(pull) < 3) > 0.9
    assert np.mean(np.abs(pull[cevns]) < 3) > 0.95
    assert abs(np.median(pull)) < 0.3
    assert np.median(reco["pe"][cevns] / n[cevns]) == pytest.approx(f, rel=0.05)
