"""CAEN backend against a recording stand-in of ``caen_felib`` (no hardware, no CAEN libraries)."""

from __future__ import annotations

import sys
import tomllib

import numpy as np
import pytest

from daq import config
from daq.config import Config
from daq.hardware.caen import (
    GAP,
    CaenDigitizer,
    ScopeEvent,
    TriggerIdUnwrapper,
    decode_events,
    scope_format,
    signed_codes,
)
from daq.hardware.protocols import BackendUnavailable, RunParameters
from tests.hardware.fakes import FakeEvent, fake_felib

START_NS = 1_767_225_600_000_000_000
PARAMS = RunParameters(run_number=1, seed=1, rate_boost=1.0, speed=1.0, start_time_ns=START_NS)
BOARD = {"/par/NumCh": "4", "/par/ADC_NBit": "8", "/par/ADC_SamplRate": "500", "/par/RecordLengthS": "0"}
TICK_PER_PULSE = 2_083_333  # 8 ns counts in one 60 Hz period


def caen_cfg(**digitizer: object) -> Config:
    table = tomllib.loads(config.load().text)["digitizer"]
    table.update(backend="caen", **digitizer)
    return config.with_overrides(config.load(), {"digitizer": table})


def started(cfg: Config, board: dict[str, str] = BOARD) -> tuple[CaenDigitizer, object]:
    felib = fake_felib(board)
    dig = CaenDigitizer(driver=felib)
    dig.configure(cfg, PARAMS)
    dig.start()
    return dig, felib


def event(trigger_id: int, n_samples: int, raw_id: int | None = None) -> FakeEvent:
    wave = np.zeros((4, n_samples), np.uint16)
    for ch in range(4):
        wave[ch] = (np.arange(n_samples) + 7 * trigger_id + 40 * ch) % 256
    return FakeEvent(trigger_id if raw_id is None else raw_id, 1000 + trigger_id * TICK_PER_PULSE, wave)


def test_configuration_sets_the_device_tree_from_the_config() -> None:
    cfg = caen_cfg()
    dig, felib = started(cfg)
    log = felib.board.log
    assert felib.urls == ["dig2://caen.internal/usb/0"]
    assert log[0] == ("send_command", "/cmd/Reset")
    sets = {entry[1]: entry[2] for entry in log if entry[0] == "set_value"}
    n = cfg.digitizer.n_samples
    assert sets["/par/RecordLengthS"] == str(n)
    assert sets["/par/PreTriggerS"] == str(round(52000 * 500e6 / 1e9))  # the C ROI starts at the trigger
    assert sets["/par/AcqTriggerSource"] == "TrgIn"
    assert sets["/endpoint/par/ActiveEndpoint"] == "scope"
    assert [sets[f"/ch/{ch}/par/ChEnable"] for ch in range(4)] == ["True", "True", "False", "False"]
    assert sets["/ch/0/par/DCOffset"] == sets["/ch/1/par/DCOffset"] == "50"
    assert ("get_node", "/endpoint/scope") in log
    (fmt,) = [entry[1] for entry in log if entry[0] == "set_read_data_format"]
    assert fmt == scope_format(4, n)
    assert {f["name"] for f in fmt} == {"TRIGGER_ID", "TIMESTAMP", "WAVEFORM", "WAVEFORM_SIZE", "EVENT_SIZE"}
    assert log[-2:] == [("send_command", "/cmd/ArmAcquisition"), ("send_command", "/cmd/SwStartAcquisition")]


def test_events_decode_to_signed_int8_records_with_ids_and_times() -> None:
    cfg = caen_cfg()
    dig, felib = started(cfg)
    n = cfg.digitizer.n_samples
    felib.board.events.extend(event(k, n) for k in range(3))
    batch = dig.fetch(64, 0.0)
    np.testing.assert_array_equal(batch.triggers["trigger_id"], [0, 1, 2])
    np.testing.assert_array_equal(batch.triggers["time"] - START_NS, np.arange(3) * TICK_PER_PULSE * 8)
    assert batch.waveforms["csi"].dtype == np.int8
    np.testing.assert_array_equal(batch.waveforms["veto"][2], signed_codes(event(2, n).waveform[1], 8))
    assert batch.waveforms["csi"][0][0] == 0 - 128 and batch.waveforms["veto"][0][0] == 40 - 128
    assert batch.losses == []


def test_a_jump_in_trigger_id_is_counted_lost() -> None:
    dig, felib = started(caen_cfg())
    n = caen_cfg().digitizer.n_samples
    felib.board.events.extend([event(0, n), event(1, n), event(5, n)])
    batch = dig.fetch(64, 0.0)
    assert [(loss.first_trigger_id, loss.count, loss.reason) for loss in batch.losses] == [(2, 3, GAP)]
    assert dig.stop() == 6  # ids 0..5 happened: 3 recorded, 3 counted lost


def test_stop_disarms_and_drains_the_board() -> None:
    dig, felib = started(caen_cfg())
    n = caen_cfg().digitizer.n_samples
    felib.board.events.extend(event(k, n) for k in range(4))
    assert len(dig.fetch(2, 0.0)) == 2
    assert dig.stop() == 4
    assert ("send_command", "/cmd/DisarmAcquisition") in felib.board.log
    assert len(dig.fetch(64, 0.0)) == 2
    assert len(dig.fetch(64, 0.0)) == 0
    dig.close()
    assert felib.board.closed


def test_trigger_ids_unwrap_past_32_bits() -> None:
    unwrap = TriggerIdUnwrapper()
    assert [unwrap(raw) for raw in (0, 1, 2**32 - 1)] == [(0, 0), (1, 0), (2**32 - 1, 2**32 - 3)]
    assert unwrap(0) == (2**32, 0)
    assert unwrap(2) == (2**32 + 2, 1)


def test_more_than_8_bits_decodes_to_int16_but_the_backend_refuses_it() -> None:
    raw = np.array([0, 8191, 16383], np.uint16)
    np.testing.assert_array_equal(signed_codes(raw, 14), np.array([-8192, -1, 8191], np.int16))
    ev = ScopeEvent(0, 0, np.stack([raw, raw]))
    assert decode_events([ev], ["csi", "veto"], 14, 8.0, 0, 0).waveforms["csi"].dtype == np.int16
    with pytest.raises(BackendUnavailable, match="int8"):
        CaenDigitizer(driver=fake_felib(BOARD)).configure(caen_cfg(bits=14), PARAMS)


def test_a_16_bit_board_under_an_8_bit_config_is_a_clear_error() -> None:
    felib = fake_felib({**BOARD, "/par/ADC_NBit": "16"})
    with pytest.raises(RuntimeError, match=r"16-bit ADC.*int8"):
        CaenDigitizer(driver=felib).configure(caen_cfg(), PARAMS)
    assert felib.board.closed


def test_missing_driver_names_caen_felib_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "caen_felib", None)
    monkeypatch.setitem(sys.modules, "caen_felib.device", None)
    with pytest.raises(BackendUnavailable) as err:
        CaenDigitizer().configure(caen_cfg(), PARAMS)
    assert "caen_felib" in str(err.value) and "CAEN FELib" in str(err.value)
    assert "pip install 'sevens[caen]'" in str(err.value)
