"""What an updown instance reports: its state, the streak toward the next, the last replies."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from twisted.web.template import Tag, tags

from netsentinel.checks.hysteresis import LinkState
from netsentinel.checks.stats import ProbeStatus
from netsentinel.metrics import Family, gauge, one_hot
from netsentinel.page import grid

STATE = gauge("netsentinel_updown_state",
              "1 for the link's current state (unknown until the first check, online, "
              "offline), 0 for the others.", "name", "state")
ALIVE = gauge("netsentinel_updown_targets_alive",
              "Targets that answered the last check (online needs quorum of them).", "name")


@attrs.frozen
class UpdownStatus:
    """One updown instance; ``last`` holds a result per target of the last check."""

    state: str
    targets: tuple[str, ...]
    quorum: int
    streak: int
    refuted_by_dns: bool
    last: tuple[ProbeStatus, ...]
    addping: tuple[ProbeStatus, ...]

    @property
    def alive(self) -> int:
        return sum(r.alive for r in self.last)

    def problems(self, name: str) -> list[str]:
        return [f"updown {name}: offline"] if self.state == LinkState.DOWN.value else []

    def metrics(self, name: str) -> list[Family]:
        return [one_hot(STATE, [s.value for s in LinkState], self.state, name),
                ALIVE.of(self.alive, name)]


def updown_grid(updown: Mapping[str, UpdownStatus]) -> list[Tag]:
    """The updown instances, one row each, those offline marked."""
    return [tags.h3("updown"), grid(
        ("name", "state", "targets", "alive", "quorum", "streak"),
        [(n, u.state, " ".join(u.targets), u.alive, u.quorum, u.streak)
         for n, u in updown.items()],
        [u.state == LinkState.DOWN.value for u in updown.values()], id="updown")]
