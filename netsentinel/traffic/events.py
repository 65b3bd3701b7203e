"""What the traffic triggers tell the bus (and ``watch``)."""

from __future__ import annotations

import attrs

from netsentinel.events import Event


@attrs.frozen
class TriggerChanged(Event):
    """A trigger changed state; ``packet`` describes the one that fired a start."""

    kind = "trigger"
    name: str
    state: str
    previous: str
    cause: str
    packet: str = ""


@attrs.frozen
class TriggerCall:
    """tuninetd's call of its command: ``COMMAND start`` on first traffic, ``COMMAND stop`` after idle."""

    verb: str

    def script_args(self) -> tuple[str, ...]:
        return (self.verb,)
