"""Run-control state machine: every allowed transition works, every other one is refused."""

from __future__ import annotations

import pytest

from daq.control.run_state import EVENTS, TRANSITIONS, RunState, RunStateMachine, TransitionError

# a path of events from IDLE into each state
PATH_TO = {
    RunState.IDLE: [],
    RunState.LAUNCHING: ["launch"],
    RunState.READY: ["launch", "ready"],
    RunState.RUNNING: ["launch", "ready", "start"],
    RunState.STOPPING: ["launch", "ready", "start", "stop"],
    RunState.ERROR: ["launch", "fail"],
}


def machine_in(state: RunState) -> RunStateMachine:
    m = RunStateMachine()
    for event in PATH_TO[state]:
        m.fire(event)
    assert m.state is state
    return m


@pytest.mark.parametrize(("source", "event"), list(TRANSITIONS))
def test_every_allowed_transition(source: RunState, event: str) -> None:
    m = machine_in(source)
    assert m.fire(event) is TRANSITIONS[(source, event)]
    assert m.history[-1] == (source, event, TRANSITIONS[(source, event)])


@pytest.mark.parametrize("source", list(RunState))
@pytest.mark.parametrize("event", EVENTS)
def test_every_other_transition_is_refused(source: RunState, event: str) -> None:
    if (source, event) in TRANSITIONS:
        return
    m = machine_in(source)
    with pytest.raises(TransitionError, match=f"cannot '{event}' while {source.value}"):
        m.fire(event)
    assert m.state is source


def test_error_is_left_only_by_reset_or_shutdown() -> None:
    leaving = {e for (s, e) in TRANSITIONS if s is RunState.ERROR}
    assert leaving == {"reset", "shutdown"}


def test_state_is_read_only() -> None:
    m = RunStateMachine()
    with pytest.raises(AttributeError):
        m.state = RunState.RUNNING  # type: ignore[misc]


def test_a_full_run_cycle() -> None:
    m = RunStateMachine()
    for event in ["launch", "ready", "start", "stop", "stopped", "start", "stop", "stopped", "shutdown"]:
        m.fire(event)
    assert m.state is RunState.IDLE
