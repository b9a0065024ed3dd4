"""The data model: what it accumulates from monitor messages, and what it refuses to count twice."""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.wire.envelope import Message
from monitor.histograms import Binning
from monitor.model import MonitorModel

T0 = 1_700_000_000_000_000_000  # the time origin of the conftest messages [ns]


def test_spectra_hold_beam_on_windows_that_pass_every_cut(cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_data(0, 10, seq=0, c_pe=10.0, c_onset_ns=1200))
    model.ingest(make_data(10, 5, seq=1, c_pe=10.0, beam_on=False))  # beam off: not in the beam spectra
    model.ingest(make_data(15, 5, seq=2, c_pe=10.0, cut_mask=dtypes.CUT_AFTERGLOW))  # fails a cut
    model.ingest(make_data(20, 3, seq=3, c_pe=50.0, c_onset_ns=9000))  # passes, outside the analysis window
    p = model.projections()
    b = Binning.from_config(cfg)
    ipe = int(10.0 // (b.pe_edges[1] - b.pe_edges[0]))
    it = int(1200 // (b.time_edges[1] - b.time_edges[0]))
    assert p.image["C"][ipe, it] == 10 and p.image["C"].sum() == 13
    assert p.image["AC"].sum() == 0  # the AC windows had no onset
    assert p.pe["C"].sum() == 10  # PE spectrum: onset inside the analysis time window
    assert p.time["C"].sum() == 10  # time spectrum: PE inside the analysis PE window
    assert p.selected == {"C": 10, "AC": 0}
    assert p.excess_pe.sum() == 10 and np.allclose(p.excess_pe_err ** 2, p.pe["C"] + p.pe["AC"])
    run = model.run_info()
    assert run.triggers == 23 and run.run_number == 7 and run.beam_pulses == 23


def test_sequence_gaps_are_counted_as_dropped_messages(cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    topics: list[set[str]] = []
    model.subscribe(topics.append)
    for seq, first in ((0, 0), (1, 5), (5, 10), (6, 15)):
        model.ingest(make_data(first, 5, seq=seq))
    s = model.stream_stats()
    assert s.received == 4 and s.dropped == 3 and len(s.gap_events) == 1 and s.gap_events[0][2] == 3
    assert all("stream" in t for t in topics) and any("spectra" in t for t in topics)


def test_triggers_seen_already_are_not_counted_again(cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_data(0, 10, seq=0))
    model.ingest(make_data(5, 10, seq=1))  # overlaps: 5 new triggers
    assert model.run_info().triggers == 15
    assert model.projections().image["C"].sum() == 15


def test_a_new_run_starts_afresh(cfg, make_data, make_dq) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_data(0, 10, seq=0, run=7))
    model.ingest(make_dq([5.0], seq=1, run=7))
    model.ingest(Message(stream="monitor", kind="sor", source="cuts", run=8, seq=2))
    assert model.run_info().run_number == 8 and model.run_info().triggers == 0
    assert len(model.dq()) == 0 and model.projections().image["C"].sum() == 0 and model.records() == []


def test_dq_rows_accumulate_once_and_the_end_of_run_row_rate_is_corrected(cfg, make_data, make_dq) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    for i in range(300):  # more rows than the initial buffer
        model.ingest(make_dq([5.0 * (i + 1)], seq=i))
    model.ingest(make_dq([5.0, 10.0], seq=300))  # seen already
    assert len(model.dq()) == 300 and (np.diff(model.dq()["time"]) > 0).all()
    assert model.dq()["trigger_rate_hz"][-1] == 60.0  # a full interval: as published


def test_the_rate_of_the_partial_end_of_run_dq_row_is_corrected(cfg, make_data, make_dq) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_data(0, 60, seq=0))  # 1 s of triggers ...
    t_last_s = (model.run_info().last_trigger_ns - T0) / 1e9
    # ... closed by the end of run: the row claims the whole 5 s interval, so 12 Hz
    model.ingest(make_dq([t_last_s + 4.0], seq=1, trigger_rate_hz=12.0, triggers=60))
    assert model.dq()["trigger_rate_hz"][-1] == 12.0  # the run goes on: this may not be the last row
    model.ingest(Message(stream="monitor", kind="eor", source="cuts", run=7, seq=2))
    assert 55 < model.dq()["trigger_rate_hz"][-1] < 65


def test_the_waveform_history_is_bounded_and_keeps_the_last_record_of_each_batch(cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg, history=3)
    for k in range(5):
        model.ingest(make_data(10 * k, 10, seq=k))
    recs = model.records()
    assert [int(r.trigger["trigger_id"]) for r in recs] == [29, 39, 49]
    r = recs[-1]
    assert list(r.features["window"]) == [dtypes.WINDOW_AC, dtypes.WINDOW_C] and len(r.peaks) == 1
    assert r.csi.flags.writeable  # a copy, not a view of a message frame


def test_live_trigger_rate_over_the_wall_clock(cfg, make_data) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    for k in range(10):
        model.ingest(make_data(6 * k, 6, seq=k), now=100.0 + 0.1 * k)
    assert abs(model.trigger_rate_hz(now=101.0) - 60.0) < 1e-9
    assert model.trigger_rate_hz(now=200.0) is None
