"""Data-quality rows: exposure arithmetic, the POT-to-signal delay, and interval bookkeeping."""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.stages.dq import DQAccumulator, gwhr, pot_to_signal_delay


def test_gwhr_of_one_hour_at_nominal_power(cfg) -> None:  # noqa: ANN001
    # 1.4 MW for one hour is 1.4e-3 GWhr; POT for that hour at 1 GeV: P * t / (E * e)
    e = 1.602176634e-19
    pot = 1.4e6 * 3600 / (cfg.beam.proton_energy_gev * 1e9 * e)
    assert abs(gwhr(pot, cfg.beam.proton_energy_gev) - 1.4e-3) < 1e-12


def test_pot_to_signal_delay_finds_the_beam_related_peak() -> None:
    rng = np.random.default_rng(3)
    flat = rng.uniform(-2000, 6000, 400)
    beam = rng.normal(750, 20, 60)
    assert abs(pot_to_signal_delay(np.concatenate([flat, beam])) - 750) <= 30
    assert np.isnan(pot_to_signal_delay(flat))  # no beam-related peak: no delay claimed


def batch(cfg, first: int, n: int, t0: int, period: int):  # noqa: ANN001, ANN201
    trig = np.zeros(n, dtypes.TRIGGER)
    trig["trigger_id"] = np.arange(first, first + n)
    trig["time"] = t0 + np.arange(first, first + n) * period
    trig["beam_on"] = np.arange(first, first + n) % 2 == 0
    trig["power_mw"] = 1.4
    feats = np.zeros(2 * n, dtypes.FEATURES)
    feats["trigger_id"] = np.repeat(trig["trigger_id"], 2)
    feats["baseline"] = 100.0
    feats["n_pretrace_peaks"] = 2
    feats["pretrace_charge"] = 60.0
    feats["cut_mask"][::4] = dtypes.CUT_AFTERGLOW
    peaks = np.zeros(2 * n, dtypes.PEAK)  # two pretrace SPEs of 30 ADC*sample per trigger
    peaks["trigger_id"] = np.repeat(trig["trigger_id"], 2)
    peaks["region"] = dtypes.REGION_PRETRACE
    peaks["charge"] = 30.0
    return trig, feats, np.zeros(0, dtypes.VETO_HIT), peaks


def test_rows_cover_whole_intervals_of_trigger_time(cfg) -> None:  # noqa: ANN001
    acc = DQAccumulator(cfg)  # 5 s intervals
    period = 16_666_667
    rows = []
    for k in range(0, 1200, 64):  # 20 s of triggers in batches of 64
        rows += acc.add(*batch(cfg, k, min(64, 1200 - k), 0, period))
    rows += acc.flush()
    total = sum(int(r["triggers"]) for r in rows)
    assert total == 1200
    assert len(rows) == 4
    full = rows[0]
    assert full["triggers"] == 300 and abs(full["trigger_rate_hz"] - 60.0) < 0.3
    assert abs(full["beam_on_fraction"] - 0.5) < 0.01
    assert full["baseline_adc"] == 100.0 and full["spe_mean_charge"] == 30.0
    assert abs(full["afterglow_fraction"] - 0.25) < 0.01


def test_a_loss_counts_in_the_interval_of_its_trigger_ids_whichever_message_carries_it(cfg) -> None:  # noqa: ANN001
    """A full digitizer buffer declares its loss with the oldest records it holds (maybe an
    interval earlier), a replay with the first record after the loss: the rows must not depend
    on which (this once made a replay's DQ rows differ from the recorded run's)."""
    period = 16_666_667  # 300 triggers per 5 s interval: ids 0-299, 300-599, 600-899
    loss = np.zeros(2, dtypes.LOSS)
    loss[0] = (596, 10, 0, b"reader", b"digitizer buffer full")  # ids 596-605: after the last of interval 1
    loss[1] = (-1, 3, 0, b"beam", b"beam pulse missed")  # not a trigger loss
    rows_by_carrier = []
    for carrier in (0, 606):  # the batch of ids 0-39 carries it, or that of ids 606-645
        acc = DQAccumulator(cfg)
        rows = []
        firsts = [*range(0, 596, 40), *range(606, 900, 40)]
        for first, stop in zip(firsts, [*firsts[1:], 900], strict=True):
            if first == carrier:
                acc.add_losses(loss)
            rows += acc.add(*batch(cfg, first, min(stop, 596 if first < 596 else 900) - first, 0, period))
        rows += acc.flush()
        rows_by_carrier.append(np.array(rows, dtypes.DQ))
    a, b = rows_by_carrier
    assert list(a["losses"]) == [0, 10, 0]  # the interval of the last recorded trigger before the loss
    assert a.tobytes() == b.tobytes()
    assert int(a["triggers"].sum()) + int(a["losses"].sum()) == 900
