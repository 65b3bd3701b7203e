"""The process's file descriptors, shared out so that a flood on one listener cannot take
the last ones the control socket, the metrics listener and the daemon's own work need.

Forward listeners stop accepting at ``limit - reserve(limit)``; the control socket and
the HTTP listener each take at most a share of that reserve, and the last quarter is
left for the daemon itself (nft, scripts' pipes, files).  Counting ``/proc/self/fd``
costs 18 ms at 20,000 descriptors, so it is not done per accept: the last exact count
plus what was opened since (less what was closed) is the estimate, and the count is
redone when that estimate reaches a bound (at most every ``RECOUNT_INTERVAL``), and
every ``REFRESH_INTERVAL`` while it is over half of it.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

RECOUNT_INTERVAL = 0.25     # s between exact counts while the estimate says "full"
REFRESH_INTERVAL = 1.0      # s between exact counts while over half the bound: what the
                            # estimate does not see (splice pipes, scripts) is caught too
FDS_PER_FORWARD = 2         # a forwarded connection: the client's and the backend's socket
FDS_PER_FORWARD_CAP = 4     # ... and a splice pipe while it moves bytes: the default cap's unit


def reserve(limit: int) -> int:
    """Descriptors forward listeners leave to the control socket, metrics and the daemon."""
    return max(64, limit // 16)


def control_cap(limit: int) -> int:
    """Connections the control socket holds at once: half the reserve."""
    return reserve(limit) // 2


def http_cap(limit: int) -> int:
    """Connections the metrics/status HTTP listener holds at once: a quarter of it."""
    return reserve(limit) // 4


def default_conn_limit(limit: int) -> int:
    """A forward service's ``conn_limit`` when none is set: what the descriptors left to
    forward listeners can carry (four per connection)."""
    return max(1, (limit - reserve(limit)) // FDS_PER_FORWARD_CAP)


def soft_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def count_open() -> int:
    return len(os.listdir("/proc/self/fd")) - 1     # less the one listdir itself holds


class FdBudget:
    """One per process (``BUDGET``); the OS calls are parameters for unit tests."""

    def __init__(self, limit: Callable[[], int] = soft_limit,
                 count: Callable[[], int] = count_open,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._count = count
        self._clock = clock
        self.limit = 0
        self.counted = 0
        self.changed = 0            # opened less closed since the count
        self.counted_at: float | None = None

    def recount(self) -> int:
        self.limit = self._limit()
        self.counted, self.changed = self._count(), 0
        self.counted_at = self._clock()
        return self.counted

    def estimate(self) -> int:
        if self.counted_at is None:
            self.recount()
        return self.counted + self.changed

    def opened(self, fds: int = 1) -> None:
        self.changed += fds

    def closed(self, fds: int = 1) -> None:
        self.changed -= fds

    def has_room(self, keep: int) -> bool:
        """Whether opening one more still leaves ``keep`` descriptors free."""
        estimate, bound = self.estimate(), self.limit - keep
        assert self.counted_at is not None
        age = self._clock() - self.counted_at
        if estimate >= bound and age >= RECOUNT_INTERVAL or \
                estimate >= bound // 2 and age >= REFRESH_INTERVAL:
            self.recount()
        return self.counted + self.changed < self.limit - keep

    def is_reserved(self, fd: int, keep: int) -> bool:
        """Whether descriptor ``fd``, just opened, is inside the last ``keep``: Linux hands
        out the lowest free number, so every one below it is open."""
        if self.counted_at is None:
            self.recount()
        return fd >= self.limit - keep

    def reserve(self) -> int:
        self.estimate()
        return reserve(self.limit)


BUDGET = FdBudget()
