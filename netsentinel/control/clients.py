"""The clients of the control socket and of the metrics/status HTTP listener: how many may
be connected, how much may wait for each, and the count of those refused or dropped.

Every per-client buffer has a bound.  A client that sends requests faster than it reads
the replies is paused (its socket is not read) until its output drains; a watcher that
cannot keep up with the events is dropped once ``WATCH_BACKLOG`` bytes wait for it.
A listener holds at most its share of the descriptor reserve (see ``fdbudget``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import attrs
from twisted.logger import Logger

from netsentinel.fdbudget import BUDGET, FdBudget, control_cap, http_cap
from netsentinel.metrics import Family, counter, gauge

log = Logger()

WATCH_BACKLOG = 1 << 20     # bytes of events waiting for a watcher before it is dropped
MAX_PENDING = 8             # requests of one client being worked on before it is paused
MAX_BOX = 1 << 20           # bytes of one AMP box (keys and values) before it is closed
HEADER_TIMEOUT = 10.0       # s from a request's first byte to its last header
IDLE_TIMEOUT = 60.0         # s an HTTP connection may sit idle between requests

REASONS = ("connection_cap", "fd_reserve", "slow", "line_too_long", "box_too_large",
           "header_timeout")

DROPPED = counter("netsentinel_control_clients_dropped_total",
                  "Control socket and metrics/status HTTP clients refused at connect "
                  "(connection_cap, fd_reserve) or disconnected (slow, line_too_long, "
                  "box_too_large, header_timeout).", "listener", "reason")
CONNECTED = gauge("netsentinel_control_clients", "Clients connected now.", "listener")


@attrs.frozen
class ControlStatus:
    """The ``control`` section of ``status``."""

    dropped: dict[str, dict[str, int]]


class ClientCounters:
    """Kept by the daemon for both listeners, so a rebound metrics port keeps its counts."""

    def __init__(self) -> None:
        self.dropped: dict[str, Counter[str]] = {"socket": Counter(), "http": Counter()}
        self.connected: Counter[str] = Counter(socket=0, http=0)

    def status(self) -> ControlStatus:
        """Refused and dropped clients by listener and reason (who is connected changes
        with the asking, so it is only in the metrics)."""
        return ControlStatus({name: {r: self.dropped[name][r] for r in REASONS}
                              for name in self.dropped})

    def metrics(self) -> list[Family]:
        return [DROPPED.with_samples(((name, r), self.dropped[name][r])
                                     for name in self.dropped for r in REASONS),
                CONNECTED.with_samples(((name,), n) for name, n in self.connected.items())]


class Clients:
    """One listener's admission: a connection cap and the descriptor reserve."""

    def __init__(self, name: str, counters: ClientCounters, cap: Callable[[int], int],
                 budget: FdBudget = BUDGET) -> None:
        self.name = name
        self.counters = counters
        self.cap = cap
        self.budget = budget

    @classmethod
    def socket(cls, counters: ClientCounters) -> Clients:
        return cls("socket", counters, control_cap)

    @classmethod
    def http(cls, counters: ClientCounters) -> Clients:
        return cls("http", counters, http_cap)

    def admit(self) -> bool:
        """Count one more client, or count why it is refused (its socket is closed)."""
        keep = self.budget.reserve() // 4          # the daemon's own last descriptors
        if self.counters.connected[self.name] >= self.cap(self.budget.limit):
            return self._refuse("connection_cap")
        if not self.budget.has_room(keep):
            return self._refuse("fd_reserve")
        self.counters.connected[self.name] += 1
        self.budget.opened()
        return True

    def _refuse(self, reason: str) -> bool:
        self.dropped(reason)
        return False

    def release(self) -> None:
        self.counters.connected[self.name] -= 1
        self.budget.closed()

    def dropped(self, reason: str) -> None:
        counts = self.counters.dropped[self.name]
        if not counts[reason]:      # one line per reason: a flood must not fill the log
            log.warn("control {listener}: client {reason} (first time; counted in "
                     "status and metrics from now on)", listener=self.name, reason=reason)
        counts[reason] += 1


class Backlog:
    """Bytes written to a client while its transport said it was full."""

    def __init__(self, bound: int = WATCH_BACKLOG) -> None:
        self.bound = bound
        self.full = False
        self.waiting = 0

    def pause(self) -> None:
        self.full = True

    def resume(self) -> None:
        self.full, self.waiting = False, 0

    def fits(self, sizes: Iterable[int]) -> bool:
        """Note what is written now; False once more than ``bound`` waits."""
        if self.full:
            self.waiting += sum(sizes)
        return self.waiting <= self.bound
