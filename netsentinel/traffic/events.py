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
