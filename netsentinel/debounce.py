"""Coalesce bursts: run once after ``delay`` of quiet, but never later than ``max_delay``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from netsentinel.schema import Section, number


def parse_delays(section: Section) -> tuple[float, float]:
    """``delay`` and ``max_delay`` as every debounced feature reads them from its section."""
    delay = section.get("delay", number(0.001, 60), 0.2)
    max_delay = section.get("max_delay", number(0.001, 600), 5 * delay)
    if max_delay < delay:
        section.problem(f"max_delay ({max_delay}) must not be shorter than delay ({delay})",
                        section.line_of("max_delay"), "max_delay")
    return delay, max_delay


class Debouncer:
    """``poke()`` on every change; ``action`` runs after quiet, bounded by ``max_delay``.

    The bound matters for a flapping link: without it the quiet never comes
    and the firewall would never be updated.
    """

    def __init__(self, clock: IReactorTime, delay: float, max_delay: float,
                 action: Callable[[], Any]) -> None:
        self.clock = clock
        self.delay = delay
        self.max_delay = max(max_delay, delay)
        self.action = action
        self._call: IDelayedCall | None = None
        self._first_poke = 0.0

    @property
    def pending(self) -> bool:
        return self._call is not None

    def poke(self) -> None:
        now = self.clock.seconds()
        if self._call is None:
            self._first_poke = now
            self._call = self.clock.callLater(self.delay, self._fire)
            return
        deadline = self._first_poke + self.max_delay
        self._call.reset(max(0.0, min(now + self.delay, deadline) - now))

    def fire_now(self) -> None:
        self.cancel()
        self.action()

    def cancel(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _fire(self) -> None:
        self._call = None
        self.action()
