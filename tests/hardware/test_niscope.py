"""NI-SCOPE backend against a recording stand-in of the documented ``niscope`` API (no hardware)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from daq import config
from daq.config import Config
from daq.hardware.niscope import MAX_RECORDS, NOT_FETCHED, OVERWRITTEN, NiscopeDigitizer, decode_records
from daq.hardware.protocols import BackendUnavailable, RunParameters
from tests.hardware.fakes import PERIOD_S, fake_niscope, niscope_sample

START_NS = 1_767_225_600_000_000_000
PARAMS = RunParameters(run_number=1, seed=1, rate_boost=1.0, speed=1.0, start_time_ns=START_NS)


def niscope_cfg(**niscope: object) -> Config:
    base = config.load()
    return config.with_overrides(base, {"digitizer": {"backend": "niscope",
                                                      "niscope": {**base.digitizer.niscope.__dict__, **niscope}}})


def started(cfg: Config) -> tuple[NiscopeDigitizer, object]:
    driver = fake_niscope()
    dig = NiscopeDigitizer(driver=driver, sleep=lambda s: None)
    dig.configure(cfg, PARAMS)
    dig.start()
    return dig, driver


def calls(driver: object, name: str) -> list[dict]:
    return [kw for call, kw in driver.log if call == name]


def test_configuration_follows_the_config_with_the_documented_calls() -> None:
    cfg = niscope_cfg()
    dig, drv = started(cfg)
    d = cfg.digitizer
    assert calls(drv, "Session") == [{"resource_name": "PXI1Slot2"}]
    assert calls(drv, "configure_vertical") == [{"channels": "0,1", "range": 0.4, "coupling": drv.VerticalCoupling.DC}]
    assert calls(drv, "set") == [{"allow_more_records_than_memory": True}]
    (horizontal,) = calls(drv, "configure_horizontal_timing")
    assert horizontal == {"min_sample_rate": 500e6, "min_num_pts": 35000, "num_records": MAX_RECORDS,
                          "ref_position": pytest.approx(100 * 52000 / 70000), "enforce_realtime": True}
    assert horizontal["min_num_pts"] == d.n_samples
    assert calls(drv, "configure_trigger_digital") == [{"trigger_source": "TRIG", "slope": drv.TriggerSlope.POSITIVE}]
    assert calls(drv, "configure_trigger_edge") == []
    assert [c for c, _ in drv.log][-1] == "initiate"


def test_edge_trigger_and_ac_coupling_on_other_channels() -> None:
    cfg = niscope_cfg(trigger_type="edge", trigger_level_v=0.7, trigger_slope="negative", coupling="AC",
                      channels=["2", "3"], trigger_source="0")
    dig, drv = started(cfg)
    assert calls(drv, "configure_trigger_edge") == [{"trigger_source": "0", "level": 0.7,
                                                     "trigger_coupling": drv.TriggerCoupling.DC,
                                                     "slope": drv.TriggerSlope.NEGATIVE}]
    assert calls(drv, "configure_vertical")[0]["channels"] == "2,3"
    assert calls(drv, "configure_vertical")[0]["coupling"] == drv.VerticalCoupling.AC


def test_records_are_fetched_in_order_as_int8_and_decoded() -> None:
    dig, drv = started(niscope_cfg())
    n_samples = config.load().digitizer.n_samples
    assert len(dig.fetch(10, 0.0)) == 0  # nothing acquired yet
    drv.session.records_done = 5
    first = dig.fetch(3, 0.0)
    second = dig.fetch(10, 0.0)
    fetches = calls(drv, "fetch_into")
    assert [(f["record_number"], f["num_records"]) for f in fetches] == [(0, 3), (3, 2)]
    assert all(f["dtype"] == np.int8 and f["relative_to"] == drv.FetchRelativeTo.PRETRIGGER and f["offset"] == 0
               and f["channels"] == "0,1" for f in fetches)
    ids = np.r_[first.triggers["trigger_id"], second.triggers["trigger_id"]]
    np.testing.assert_array_equal(ids, np.arange(5))
    times = np.r_[first.triggers["time"], second.triggers["time"]]
    np.testing.assert_array_equal(times - START_NS, np.rint(np.arange(5) * PERIOD_S * 1e9).astype(np.int64))
    for rec in range(3):
        np.testing.assert_array_equal(first.waveforms["csi"][rec], niscope_sample(rec, 0, n_samples))
        np.testing.assert_array_equal(first.waveforms["veto"][rec], niscope_sample(rec, 1, n_samples))
    assert first.losses == [] and second.losses == []


def test_decoding_does_not_depend_on_the_drivers_waveform_order() -> None:
    batches = []
    for order in ("record-major", "channel-major"):
        dig, drv = started(niscope_cfg())
        drv.session.order = order
        drv.session.records_done = 4
        batches.append(dig.fetch(4, 0.0))
    for name in ("csi", "veto"):
        np.testing.assert_array_equal(batches[0].waveforms[name], batches[1].waveforms[name])
    np.testing.assert_array_equal(batches[0].triggers, batches[1].triggers)


def test_records_overwritten_in_the_device_are_counted_lost() -> None:
    cfg = niscope_cfg()
    dig, drv = started(cfg)
    capacity = cfg.digitizer.buffer_records
    drv.session.records_done = capacity + 10  # fell behind by more than the device holds
    batch = dig.fetch(64, 0.0)
    assert [(loss.first_trigger_id, loss.count, loss.reason) for loss in batch.losses] == [(0, 10, OVERWRITTEN)]
    assert batch.triggers["trigger_id"][0] == 10
    assert calls(drv, "fetch_into")[0]["record_number"] == 10


def test_stop_aborts_and_every_acquired_record_is_fetched_or_counted() -> None:
    dig, drv = started(niscope_cfg())
    drv.session.records_done = 6
    assert len(dig.fetch(4, 0.0)) == 4
    assert dig.stop() == 6
    assert calls(drv, "abort") == [{}]
    drv.session.fail_fetch = RuntimeError("fetch after abort refused")
    batch = dig.fetch(64, 0.0)
    assert [(loss.first_trigger_id, loss.count, loss.reason) for loss in batch.losses] == [(4, 2, NOT_FETCHED)]
    assert len(dig.fetch(64, 0.0)) == 0
    dig.close()
    assert calls(drv, "close") == [{}]


def test_a_device_that_cannot_run_the_configured_timing_is_refused() -> None:
    driver = fake_niscope()
    dig = NiscopeDigitizer(driver=driver)
    orig = driver.Session

    def slow_session(**kw: object) -> object:
        s = orig(**kw)
        real = s.configure_horizontal_timing

        def configure_horizontal_timing(**h: object) -> None:
            real(**h)
            s.horz_sample_rate = 250e6
        s.configure_horizontal_timing = configure_horizontal_timing
        return s

    driver.Session = slow_session
    with pytest.raises(RuntimeError, match="digitizer.sample_rate_hz"):
        dig.configure(niscope_cfg(), PARAMS)


def test_more_than_8_bits_is_refused_with_the_reason() -> None:
    cfg = config.with_overrides(niscope_cfg(), {"digitizer": {**_digitizer_table(), "bits": 12}})
    with pytest.raises(BackendUnavailable, match="int8"):
        NiscopeDigitizer(driver=fake_niscope()).configure(cfg, PARAMS)


def test_missing_driver_names_niscope_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "niscope", None)
    with pytest.raises(BackendUnavailable) as err:
        NiscopeDigitizer().configure(niscope_cfg(), PARAMS)
    assert "niscope" in str(err.value) and "NI-SCOPE" in str(err.value)
    assert "pip install 'sevens[niscope]'" in str(err.value)


def test_decode_rejects_a_gap_in_record_numbers() -> None:
    from types import SimpleNamespace

    infos = [SimpleNamespace(record=r, channel=c, absolute_initial_x=0.0, relative_initial_x=0.0)
             for r in (0, 2) for c in ("0", "1")]
    with pytest.raises(RuntimeError, match="not consecutive"):
        decode_records(np.zeros(4 * 8, np.int8), infos, {"0": "csi", "1": "veto"}, 8, 0)


def _digitizer_table() -> dict:
    import tomllib

    return tomllib.loads(niscope_cfg().text)["digitizer"]
