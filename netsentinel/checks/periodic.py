"""Run a check now and then again and again, never two at once.

The next check starts ``delay()`` seconds after the previous one started (or
at the next beat if it took longer), so a slow check never piles up behind
itself and a monitor may change its pace between checks (faster while a state
changes).  Checks start on the beats of one shared ``Beat``: a thousand
monitors at 1 s are then at most ``Beat.rate`` timers and wake-ups a second,
not a thousand, and the checks due together send their probes in one turn.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

Call = Callable[[int], None]


class Beat:
    """One timer for many periodic calls, which start on a grid of ``1/rate`` s ticks."""

    def __init__(self, clock: IReactorTime, rate: int = 50) -> None:
        self.clock = clock
        self.rate = rate
        self._due: dict[int, list[Call]] = {}
        self._ticks: list[int] = []            # heap of the keys of _due
        self._fired = -1                       # the last tick run
        self._timer: IDelayedCall | None = None

    def tick_after(self, delay: float) -> int:
        """The first tick at least ``delay`` s from now."""
        return math.ceil((self.clock.seconds() + delay) * self.rate - 1e-6)

    def ticks(self, delay: float) -> int:
        """A delay in whole ticks (rounded up: a check never runs early)."""
        return max(1, math.ceil(delay * self.rate - 1e-6))

    def at(self, tick: int, call: Call) -> int:
        """Run ``call(tick)`` at ``tick`` (the next one if it is past); returns the tick."""
        tick = max(tick, self._fired + 1)
        calls = self._due.get(tick)
        if calls is None:
            calls = self._due[tick] = []
            heapq.heappush(self._ticks, tick)
            self._arm()
        calls.append(call)
        return tick

    def cancel(self, tick: int, call: Call) -> None:
        calls = self._due.get(tick)
        if calls is not None and call in calls:
            calls.remove(call)

    def _arm(self) -> None:
        when = self._ticks[0] / self.rate
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= when:
                return
            self._timer.cancel()
        self._timer = self.clock.callLater(max(0.0, when - self.clock.seconds()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        while self._ticks and self._ticks[0] / self.rate <= now:
            tick = heapq.heappop(self._ticks)
            self._fired = tick
            for call in self._due.pop(tick):
                try:
                    call(tick)
                except Exception:   # counted as a fault; the other calls of the tick still run
                    log.failure("periodic call {call!r} failed", call=call)
        if self._ticks:
            self._arm()


def _log_fault(name: str) -> Callable[[Failure], None]:
    return lambda f: log.failure("check {name} failed", f, name=name)


class Periodic:
    """``fault`` gets what a check raised (netsentinel.faults); the next check runs anyway."""

    def __init__(self, beat: Beat, check: Callable[[], defer.Deferred[Any]],
                 delay: Callable[[], float], name: str,
                 fault: Callable[[Failure], None] | None = None) -> None:
        self.fault = fault or _log_fault(name)
        self.beat = beat
        self.clock = beat.clock
        self.check = check
        self.delay = delay
        self.name = name
        self.checks = 0
        self._tick: int | None = None          # when the next check is due, if scheduled
        self._running = False

    def start(self, first_delay: float = 0.0) -> None:
        self._running = True
        self._tick = self.beat.at(self.beat.tick_after(first_delay), self._run)

    def stop(self) -> None:
        self._running = False
        if self._tick is not None:
            self.beat.cancel(self._tick, self._run)
        self._tick = None

    def _run(self, tick: int) -> None:
        self._tick = None
        d = defer.maybeDeferred(self.check)
        d.addErrback(self.fault)
        d.addCallback(self._schedule, tick)
        d.addErrback(self.fault)

    def _schedule(self, _: object, started: int) -> None:
        self.checks += 1
        if self._running:
            # counted from the tick it started on, so a 1 s check keeps its place on the grid
            self._tick = self.beat.at(started + self.beat.ticks(self.delay()), self._run)
