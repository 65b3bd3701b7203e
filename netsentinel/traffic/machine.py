"""A trigger's states and every transition between them, in one table.

``standby`` waits for a packet; ``starting`` and ``stopping`` are the time the
user's command runs, so a start is never run twice and a stop never overlaps
it; ``cancelling`` remembers a forced standby that arrived while ``start`` was
still running.  An input missing from the table is ignored in that state.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    STANDBY = "standby"
    STARTING = "starting"
    ACTIVE = "active"
    CANCELLING = "cancelling"
    STOPPING = "stopping"


class Input(enum.Enum):
    PACKET = "packet"            # a matching packet that counts in this state
    STARTED = "started"          # `command start` ended, whatever its exit code
    IDLE = "idle"                # no counted packet for `idle` seconds
    STANDBY = "standby"          # forced: `trigger standby NAME` or daemon exit
    STOPPED = "stopped"          # `command stop` ended, whatever its exit code


class Effect(enum.Enum):
    NOTHING = "nothing"
    RUN_START = "run start"
    RUN_STOP = "run stop"


TRANSITIONS: dict[tuple[State, Input], tuple[State, Effect]] = {
    (State.STANDBY, Input.PACKET): (State.STARTING, Effect.RUN_START),
    (State.STARTING, Input.STARTED): (State.ACTIVE, Effect.NOTHING),
    (State.STARTING, Input.STANDBY): (State.CANCELLING, Effect.NOTHING),
    (State.CANCELLING, Input.STARTED): (State.STOPPING, Effect.RUN_STOP),
    (State.ACTIVE, Input.IDLE): (State.STOPPING, Effect.RUN_STOP),
    (State.ACTIVE, Input.STANDBY): (State.STOPPING, Effect.RUN_STOP),
    (State.STOPPING, Input.STOPPED): (State.STANDBY, Effect.NOTHING),
}

# states in which the service is (being) brought up: packets refresh the idle time
UP = frozenset({State.STARTING, State.ACTIVE})


def step(state: State, event: Input) -> tuple[State, Effect]:
    """The next state and what to do for ``event``; unknown pairs change nothing."""
    return TRANSITIONS.get((state, event), (state, Effect.NOTHING))
