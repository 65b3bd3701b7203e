"""The traffic triggers at one moment: their state, their sources, and what is wrong.

``status`` and the status page read the same frozen values; each trigger's sources
are listed in their configured order.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.metrics import Family, one_hot
from netsentinel.page import PageView, grid
from netsentinel.readable import duration
from netsentinel.snapshot import to_json
from netsentinel.traffic.machine import State
from netsentinel.traffic.metrics import ACTIVATIONS, FAILURES, PACKETS, STATE


@attrs.frozen
class SourceStatus:
    """One capture: ``waiting`` for its device, ``listening``, or ``resting`` while its
    trigger is known to be busy."""

    device: str
    filter: str | None
    state: str
    error: str | None
    packets: int

    def text(self) -> str:
        return (f"{self.device} {self.state}, {self.packets} packets"
                + (f" ({self.error})" if self.error else ""))


@attrs.frozen
class TriggerStatus:
    """A trigger's machine and counters; ``idle_for`` is None until its first packet."""

    state: str
    idle: float
    idle_for: float | None
    activations: int
    failures: int
    command: tuple[str, ...]
    sources: tuple[SourceStatus, ...] = ()

    def problems(self, name: str) -> list[str]:
        found = [f"trigger {name}: {self.failures} command failure(s)"] if self.failures else []
        return found + [f"trigger {name}: {s.device}: {s.error}" for s in self.sources if s.error]

    def metrics(self, name: str) -> list[Family]:
        return [one_hot(STATE, [s.value for s in State], self.state, name),
                ACTIVATIONS.of(self.activations, name),
                FAILURES.of(self.failures, name),
                PACKETS.of(sum(s.packets for s in self.sources), name)]


@attrs.frozen
class TrafficStatus:
    """Every trigger by name, in the configured order."""

    triggers: dict[str, TriggerStatus]

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        return [line for name, t in self.triggers.items() for line in t.problems(name)]

    def metrics(self) -> list[Family]:
        return [family for name, t in self.triggers.items() for family in t.metrics(name)]

    def section(self, view: PageView) -> Tag:
        triggers = self.triggers
        return tags.section(tags.h2("traffic"), grid(
            ("trigger", "state", "idle for", "idle after", "activations", "failures", "sources"),
            [(n, t.state, duration(t.idle_for), duration(t.idle), t.activations, t.failures,
              "; ".join(s.text() for s in t.sources)) for n, t in triggers.items()],
            [bool(t.failures) for t in triggers.values()], id="traffic"))
