"""Run a check now and then again and again, never two at once.

The next check starts ``delay()`` seconds after the previous one started (or
at once if it took longer), so a slow check never piles up behind itself and
a monitor may change its pace between checks (faster while a state changes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

log = Logger()


class Periodic:
    def __init__(self, clock: IReactorTime, check: Callable[[], defer.Deferred[Any]],
                 delay: Callable[[], float], name: str) -> None:
        self.clock = clock
        self.check = check
        self.delay = delay
        self.name = name
        self.checks = 0
        self._call: IDelayedCall | None = None
        self._running = False

    def start(self, first_delay: float = 0.0) -> None:
        self._running = True
        self._call = self.clock.callLater(first_delay, self._run)

    def stop(self) -> None:
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _run(self) -> None:
        self._call = None
        started = self.clock.seconds()
        d = defer.maybeDeferred(self.check)
        d.addErrback(lambda f: log.failure("check {name} failed", f, name=self.name))
        d.addCallback(self._schedule, started)

    def _schedule(self, _: object, started: float) -> None:
        self.checks += 1
        if self._running:
            wait = max(0.0, started + self.delay() - self.clock.seconds())
            self._call = self.clock.callLater(wait, self._run)
