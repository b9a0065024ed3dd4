"""Alarm logic: limits from the config, process health, stream gaps and silence, the alarm list's life cycle."""

from __future__ import annotations

import numpy as np
import pytest

from daq import dtypes
from monitor.alarms import (
    AlarmBook,
    AlarmMonitor,
    Condition,
    Severity,
    StreamChecker,
    StreamView,
    check_dq_row,
    check_status,
    dq_limits,
)
from monitor.model import MonitorModel


def dq_row(**values: float) -> np.ndarray:
    row = np.zeros(1, dtypes.DQ)[0]
    inside = {"baseline_adc": 100.0, "spe_mean_charge": 30.0, "afterglow_fraction": 0.1, "veto_fraction": 0.01,
              "linear_gate_fraction": 0.0, "overflow_fraction": 0.0, "trigger_rate_hz": 60.0, "line_gain": 1.0,
              "baseline_rms_adc": 0.8, "noise_peak_rate_hz": 100.0}
    for name, value in {**inside, **values}.items():
        row[name] = value
    return row


def test_limits_come_from_the_config(cfg) -> None:  # noqa: ANN001
    limits = dq_limits(cfg)
    assert limits["baseline_adc"] == tuple(cfg.dq.baseline_adc)
    assert set(limits) == {"baseline_adc", "spe_mean_charge", "afterglow_fraction", "veto_fraction",
                           "linear_gate_fraction", "overflow_fraction", "trigger_rate_hz", "line_gain",
                           "baseline_rms_adc", "noise_peak_rate_hz"}


@pytest.mark.parametrize(("field", "value", "severity"), [
    ("baseline_adc", 100.0, None),
    ("baseline_adc", 89.0, Severity.WARNING),  # just below [90, 110]
    ("baseline_adc", 60.0, Severity.ERROR),  # beyond by more than half the band
    ("spe_mean_charge", 36.0, Severity.WARNING),
    ("afterglow_fraction", 0.65, Severity.WARNING),
    ("trigger_rate_hz", 30.0, Severity.ERROR),
    ("line_gain", float("nan"), None),  # no measurement is no alarm
])
def test_a_dq_value_outside_its_limits_raises_an_alarm(cfg, field: str, value: float,  # noqa: ANN001
                                                       severity: Severity | None) -> None:
    conditions = check_dq_row(dq_row(**{field: value}), dq_limits(cfg))
    if severity is None:
        assert conditions == []
    else:
        (c,) = conditions
        assert c.key == f"dq:{field}" and c.severity is severity
        assert ("below" if value < cfg.dq.__getattribute__(field)[0] else "above") in c.message


def test_lost_triggers_are_an_error(cfg) -> None:  # noqa: ANN001
    row = dq_row()
    row["losses"] = 3
    (c,) = check_dq_row(row, dq_limits(cfg))
    assert c.key == "dq:losses" and c.severity is Severity.ERROR and "3 triggers lost" in c.message


def test_a_process_that_stops_heartbeating_or_dies_raises_an_error(status) -> None:  # noqa: ANN001
    assert check_status(status(), None, 2.0) == []
    silent = check_status(status(builder={"heartbeat_age_s": 7.5}), None, 2.0)
    assert [(c.key, c.severity) for c in silent] == [("process:builder", Severity.ERROR)]
    assert "stopped heartbeating (7.5 s)" in silent[0].message
    dead = check_status(status(veto={"alive": False, "exit_code": -9}), None, 2.0)
    assert dead[0].key == "process:veto" and "exit code -9" in dead[0].message
    lossy = check_status(status(reader={"losses": 12}), None, 2.0)
    assert lossy[0].key == "losses:reader" and lossy[0].severity is Severity.ERROR
    # compiling its kernels on a first start: silent, but not hung (the supervisor allows warmup_timeout_s)
    assert check_status(status(builder={"heartbeat_age_s": 40.0, "state": "warming"}), None, 2.0) == []


def test_a_warming_process_is_amber_not_red() -> None:
    from monitor.widgets.runcontrol import process_health

    row = {"alive": True, "heartbeat_age_s": 40.0, "state": "warming", "losses": 0}
    assert process_health(row, 2.0) == "warn"
    assert process_health({**row, "state": "idle"}, 2.0) == "bad"
    assert process_health({**row, "alive": False}, 2.0) == "bad"


def test_run_control_errors(status) -> None:  # noqa: ANN001
    (c,) = check_status(None, "no DAQ answers", 2.0)
    assert c.key == "control:unreachable" and c.severity is Severity.ERROR
    err = status("error")
    err["error"] = "process builder died"
    keys = [c.key for c in check_status(err, None, 2.0)]
    assert keys[0] == "daq:error"
    # no processes are expected to heartbeat without a DAQ
    assert check_status(status("idle", cuts={"alive": False}), None, 2.0) == []


def view(**kw: object) -> StreamView:
    base = {"live": True, "received": 10, "dropped": 0, "malformed": 0, "last_message": 100.0, "run_ended": False,
            "state": "running", "elapsed_s": 30.0}
    return StreamView(**{**base, **kw})


def test_a_stream_gap_is_an_event_and_silence_while_running_an_error() -> None:
    checker = StreamChecker(timeout_s=3.0)
    assert checker.check(view(), now=101.0) == ([], [])
    level, events = checker.check(view(dropped=4), now=101.5)
    assert level == [] and events[0].key == "stream:dropped" and "4 messages dropped" in events[0].message
    assert checker.check(view(dropped=4), now=102.0) == ([], [])  # counted once
    level, _ = checker.check(view(), now=110.0)
    assert level[0].key == "stream:silent" and level[0].severity is Severity.ERROR
    assert checker.check(view(state="ready"), now=120.0)[0] == []  # nothing expected: no alarm
    assert checker.check(view(live=False), now=130.0)[0] == []  # a file view has no stream


def cond(key: str, severity: Severity = Severity.WARNING, message: str = "x") -> Condition:
    return Condition(key, severity, message)


def test_an_alarm_stays_until_cleared_and_acknowledged() -> None:
    book = AlarmBook()
    assert book.update([cond("dq:baseline_adc")], now=1.0)
    (a,) = book.listing()
    assert a.active and not a.acknowledged and a.raised == 1.0
    book.update([], now=2.0)  # the condition went away while nobody looked ...
    (a,) = book.listing()
    assert not a.active and not a.acknowledged  # ... the alarm is still there
    book.acknowledge("dq:baseline_adc")
    assert book.listing() == []


def test_acknowledged_alarms_stay_while_active_and_escalation_needs_a_new_acknowledgement() -> None:
    book = AlarmBook()
    book.update([cond("process:builder")], now=1.0)
    book.acknowledge_all()
    (a,) = book.listing()
    assert a.active and a.acknowledged and book.unacknowledged() == []
    book.update([cond("process:builder", Severity.ERROR)], now=2.0)
    assert book.listing()[0].severity is Severity.ERROR and not book.listing()[0].acknowledged
    book.acknowledge_all()
    book.update([], now=3.0)
    assert book.listing() == []  # cleared and acknowledged: gone
    book.update([cond("process:builder")], now=4.0)
    assert book.listing()[0].count == 1 and [h.key for h in book.history] == ["process:builder"] * 2  # a new one


def test_an_alarm_that_comes_back_before_acknowledgement_counts_up() -> None:
    book = AlarmBook()
    for t in (1.0, 3.0, 5.0):
        book.update([cond("dq:veto_fraction")], now=t)
        book.update([], now=t + 1)
    (a,) = book.listing()
    assert a.count == 3 and a.raised == 5.0 and a.state == "cleared, unack"


def test_events_wait_for_acknowledgement_and_scopes_do_not_clear_each_other() -> None:
    book = AlarmBook()
    book.update([cond("process:cuts")], [cond("stream:dropped")], now=1.0, scope=("process:", "stream:"))
    assert {a.key: a.active for a in book.listing()} == {"process:cuts": True, "stream:dropped": False}
    book.update([], now=2.0, scope=("dq:",))  # a DQ update does not clear process alarms
    assert book.alarms["process:cuts"].active
    assert book.worst() is Severity.WARNING


def test_the_monitor_checks_every_dq_row_of_a_run_at_its_own_time(cfg, make_dq) -> None:  # noqa: ANN001
    model = MonitorModel(cfg)
    model.ingest(make_dq([5.0, 10.0, 15.0], seq=0))
    model.ingest(make_dq([20.0], seq=1, baseline_adc=70.0))  # an excursion ...
    model.ingest(make_dq([25.0], seq=2))  # ... that is over by the end of the file
    monitor = AlarmMonitor(cfg, live=False)
    assert monitor.evaluate(model)
    (a,) = monitor.book.listing()
    assert a.key == "dq:baseline_adc" and not a.active and a.severity is Severity.ERROR
    assert a.raised == pytest.approx(model.dq()["time"][3] / 1e9)
    assert not monitor.evaluate(model)  # nothing new
