"""The last hour of a few metric families, kept in memory for the status page's graphs.

Feature-agnostic: every ``control.history_every`` seconds the sampler reads the
daemon's metric families (what ``/metrics`` serves) and keeps the samples of the
families in :data:`KEPT`, one series per family and label set.  Memory is bounded
(docs/status-page.md): all series share one ring of sample times, each holds a fixed
array of ``history_points`` floats (NaN where it had no value), and at most
:data:`MAX_SERIES` series are kept; a series without a value in the whole window is
dropped, which frees its place.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import Any, Protocol

import attrs
from twisted.application.service import Service
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from netsentinel.config import Config, history_points
from netsentinel.metrics import Family

log = Logger()

MAX_SERIES = 256    # 256 series × 1441 points × 8 bytes: at most 3 MB, and 361 points by default
PING_RTT = "netsentinel_ping_last_rtt_seconds"
PING_LOSS = "netsentinel_ping_loss_ratio"
UPLINK_UP = "netsentinel_failover_uplink_up"
UPLINK_ACTIVE = "netsentinel_failover_active"
UPLINK_SHARE = "netsentinel_failover_uplink_share"
FORWARD_BYTES = "netsentinel_forward_bytes_total"
FORWARD_OPEN = "netsentinel_forward_open_connections"
SET_ELEMENTS = ("netsentinel_addresses_set_elements", "netsentinel_docker_set_elements",
                "netsentinel_names_set_elements")
KEPT = frozenset({PING_RTT, PING_LOSS, UPLINK_UP, UPLINK_ACTIVE, UPLINK_SHARE, FORWARD_BYTES,
                  FORWARD_OPEN, *SET_ELEMENTS})

Key = tuple[str, tuple[str, ...]]       # family name, label values
Point = tuple[float, float]             # Unix time, value (NaN: no value then)


@attrs.frozen
class Series:
    """One family's series for one label set, oldest point first."""

    family: str
    kind: str                           # "gauge" or "counter"
    labels: dict[str, str]
    points: tuple[Point, ...]

    def values(self) -> tuple[Point, ...]:
        """The gauge's values, or a counter's rate per second between two samples (NaN
        across a gap or a reset: a service rebuilt by a reload counts from zero)."""
        if self.kind != "counter":
            return self.points
        rates: list[Point] = []
        for (t0, v0), (t1, v1) in pairwise(self.points):
            ok = t1 > t0 and v1 >= v0
            rates.append((t1, (v1 - v0) / (t1 - t0) if ok else math.nan))
        return tuple(rates)


class History:
    """Ring buffers of ``points`` samples for at most ``max_series`` series."""

    def __init__(self, points: int, kept: Iterable[str] = KEPT,
                 max_series: int = MAX_SERIES) -> None:
        if points < 2:
            raise ValueError("a history needs at least two points")
        self.capacity = points
        self.kept = frozenset(kept)
        self.max_series = max_series
        self.times = array("d", [math.nan] * points)
        self.head = 0           # where the next sample goes
        self.count = 0          # samples held, up to capacity
        self.rings: dict[Key, array[float]] = {}
        self.kinds: dict[str, tuple[str, tuple[str, ...]]] = {}    # name → kind, label names
        self.refused = 0        # samples of series beyond max_series (not kept)

    def record(self, now: float, families: Iterable[Family]) -> None:
        """One sample of every kept series at ``now``."""
        seen: dict[Key, float] = {}
        for family in families:
            if family.name in self.kept:
                self.kinds[family.name] = (family.kind, family.labels)
                for values, value in family.samples:
                    seen[(family.name, values)] = float(value)
        at = self.head
        self.times[at] = now
        for key, value in seen.items():
            ring = self.rings.get(key)
            if ring is None:
                if len(self.rings) >= self.max_series:
                    self.refused += 1
                    continue
                ring = self.rings[key] = array("d", [math.nan] * self.capacity)
            ring[at] = value
        for key, ring in list(self.rings.items()):
            if key not in seen:
                ring[at] = math.nan
                if all(math.isnan(v) for v in ring):
                    del self.rings[key]
        self.head = (at + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def _order(self) -> Iterator[int]:
        start = (self.head - self.count) % self.capacity
        return ((start + i) % self.capacity for i in range(self.count))

    def series(self, family: str) -> list[Series]:
        """The family's series, in label order."""
        if family not in self.kinds:
            return []
        kind, names = self.kinds[family]
        order = list(self._order())
        return [Series(family, kind, dict(zip(names, values, strict=True)),
                       tuple((self.times[i], ring[i]) for i in order))
                for (name, values), ring in sorted(self.rings.items()) if name == family]

    def last_time(self) -> float | None:
        return self.times[(self.head - 1) % self.capacity] if self.count else None


class DaemonSource(Protocol):
    config: Config
    reactor: Any

    def metrics(self) -> list[Family]: ...


class Sampler(Service):
    """Samples the daemon every ``control.history_every`` seconds while the status page
    and its graphs are on; a reload's new settings start a new, empty history."""

    def __init__(self, daemon: DaemonSource, clock: Any = None,
                 now: Callable[[], float] | None = None) -> None:
        self.daemon = daemon
        self.clock = clock if clock is not None else daemon.reactor
        self.now = now if now is not None else self.clock.seconds
        self.history: History | None = None
        self.settings: tuple[int, int] | None = None
        self.loop: LoopingCall | None = None
        self._restart: IDelayedCall | None = None

    def wanted(self) -> tuple[int, int] | None:
        """(history, every) from the running configuration; None while graphs are off."""
        control = self.daemon.config.control
        if not control.status_page or not control.history:
            return None
        return control.history, control.history_every

    def startService(self) -> None:
        super().startService()
        self._start_loop()

    def stopService(self) -> None:
        super().stopService()
        if self._restart is not None and self._restart.active():
            self._restart.cancel()
        self._restart = None
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.loop = None

    def _start_loop(self) -> None:
        self._restart = None
        self.settings = self.wanted()
        self.history = None if self.settings is None else History(history_points(*self.settings))
        every = self.settings[1] if self.settings else self.daemon.config.control.history_every
        self.loop = LoopingCall(self.sample)
        self.loop.clock = self.clock
        self.loop.start(every, now=False).addErrback(
            lambda f: log.failure("graph sampler stopped", f))

    def sample(self) -> None:
        wanted = self.wanted()
        if wanted != self.settings:
            # a reload changed the settings: a new loop, started outside this call
            if self._restart is None and self.loop is not None:
                self.loop.stop()
                self._restart = self.clock.callLater(0, self._start_loop)
            return
        if self.history is not None:
            try:
                self.history.record(self.now(), self.daemon.metrics())
            except Exception:
                log.failure("graph sample failed")
