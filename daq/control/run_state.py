"""The run-control state machine: states, the table of allowed transitions, nothing else.

::

    IDLE --launch--> LAUNCHING --ready--> READY --start--> RUNNING --stop--> STOPPING --stopped--> READY
    any of LAUNCHING, READY, RUNNING, STOPPING --fail--> ERROR
    ERROR --reset--> IDLE;  READY, ERROR --shutdown--> IDLE

ERROR is terminal for runs: nothing but ``reset`` or ``shutdown`` leaves it, so a fault
is never papered over by a new start.
"""

from __future__ import annotations

import enum


class RunState(enum.Enum):
    IDLE = "idle"  # no DAQ processes
    LAUNCHING = "launching"  # processes started, waiting for all to report
    READY = "ready"  # all processes alive, no run
    RUNNING = "running"
    STOPPING = "stopping"  # end of run travelling down the pipeline
    ERROR = "error"


class TransitionError(RuntimeError):
    """A command not allowed in the current state."""


S = RunState
TRANSITIONS: dict[tuple[RunState, str], RunState] = {
    (S.IDLE, "launch"): S.LAUNCHING,
    (S.LAUNCHING, "ready"): S.READY,
    (S.LAUNCHING, "fail"): S.ERROR,
    (S.READY, "start"): S.RUNNING,
    (S.READY, "fail"): S.ERROR,
    (S.READY, "shutdown"): S.IDLE,
    (S.RUNNING, "stop"): S.STOPPING,
    (S.RUNNING, "fail"): S.ERROR,
    (S.STOPPING, "stopped"): S.READY,
    (S.STOPPING, "fail"): S.ERROR,
    (S.ERROR, "reset"): S.IDLE,
    (S.ERROR, "shutdown"): S.IDLE,
}
EVENTS = sorted({event for _, event in TRANSITIONS})


class RunStateMachine:
    """Holds the run state; changes it only through :meth:`fire`."""

    def __init__(self) -> None:
        self._state = RunState.IDLE
        self.history: list[tuple[RunState, str, RunState]] = []

    @property
    def state(self) -> RunState:
        return self._state

    def allowed(self, event: str) -> bool:
        return (self._state, event) in TRANSITIONS

    def fire(self, event: str) -> RunState:
        """Apply ``event``; raise TransitionError if the table does not allow it."""
        target = TRANSITIONS.get((self._state, event))
        if target is None:
            allowed = [e for (s, e) in TRANSITIONS if s is self._state]
            raise TransitionError(f"cannot {event!r} while {self._state.value} (allowed: {', '.join(allowed)})")
        self.history.append((self._state, event, target))
        self._state = target
        return target
