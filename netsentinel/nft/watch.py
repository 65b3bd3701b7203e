"""Sets that heal: the daemon's one nftables monitor, shared by every set writer.

Each feature's :class:`~netsentinel.nft.writer.SetWriter` asks to be told (``watch``)
when someone else changes its table or sets: ``nft -f`` re-declaring them empty,
``nft flush set``, an element deleted by hand, a table deleted and re-created.  One
:class:`~netsentinel.nft.monitor.RulesetMonitor` serves them all; it is opened with the
first writer and closed with the last.  A writer that is told asks its feature for a
sync (the feature's debounced ``resync``), so the sets are read back and put right
through the same path as any other change.  Our own transactions never come back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
from twisted.internet.interfaces import IReactorFDSet
from twisted.logger import Logger

from netsentinel.metrics import Family, counter, gauge
from netsentinel.nft.monitor import RulesetMonitor, Touched

log = Logger()

OUTSIDE = counter("netsentinel_nft_outside_changes_total",
                  "nftables transactions by another program that touched a managed table "
                  "or set (each asks the owning features to read their sets back).")
OWN = counter("netsentinel_nft_own_transactions_total",
              "Our own nftables transactions seen on the monitor and ignored.")
LOST = counter("netsentinel_nft_monitor_overflows_total",
               "Times nftables notifications were lost (receive buffer full); each is "
               "answered by reading every managed set back.")
REPAIRS = counter("netsentinel_nft_set_repairs_total",
                  "Times a managed set was put right after another program changed it "
                  "(nft -f, nft flush set, an element deleted by hand).", "set")
MONITORING = gauge("netsentinel_nft_monitor_listening",
                   "1 while the nftables monitor socket is open.")


class Watcher(Protocol):
    """A set writer as the watch sees it."""

    @property
    def repairs(self) -> Mapping[str, int]: ...
    @property
    def where(self) -> tuple[str, str] | None: ...    # family, table it writes       # "family table set" -> outside changes undone
    def touched_by(self, touched: frozenset[Touched]) -> bool: ...
    def outside_change(self) -> None: ...


@attrs.frozen
class WatchStatus:
    """The ``nftables`` section of ``status``."""

    listening: bool
    writers: int
    outside_changes: int
    own_transactions: int
    overflows: int
    error: str | None
    repairs: dict[str, int] = attrs.field(factory=dict)

    def metrics(self) -> list[Family]:
        return [MONITORING.of(self.listening), OUTSIDE.of(self.outside_changes),
                OWN.of(self.own_transactions), LOST.of(self.overflows),
                REPAIRS.with_samples(((where,), n) for where, n in self.repairs.items())]


class SetsWatch:
    """Tells each registered writer about outside changes to its sets."""

    def __init__(self, reactor: Any,
                 monitor: Callable[..., RulesetMonitor] = RulesetMonitor) -> None:
        self.reactor = reactor
        self._make = monitor
        self.monitor: RulesetMonitor | None = None
        self.writers: list[Watcher] = []
        self.error: str | None = None
        self.counts = {"outside": 0, "own": 0, "overflows": 0}   # of monitors closed before

    def register(self, writer: Watcher) -> Callable[[], None]:
        """Watch for ``writer``; the returned callable stops it."""
        self.writers.append(writer)
        if self.monitor is None and IReactorFDSet.providedBy(self.reactor):
            self._open()
        self.moved()

        def unregister() -> None:
            if writer in self.writers:
                self.writers.remove(writer)
            self.moved()
            if not self.writers:
                self._close()
        return unregister

    def moved(self) -> None:
        """A writer's table is known or changed: the monitor looks only at those tables."""
        if self.monitor is not None:
            self.monitor.tables = frozenset(
                w.where[1].encode() for w in self.writers if w.where is not None)

    def _open(self) -> None:
        try:
            self.monitor = self._make(self._changed, self.reactor)
        except OSError as e:
            self.error = f"cannot watch nftables: {e.strerror or e}"
            log.error("{error}; managed sets are still read back every nftables.verify "
                      "seconds", error=self.error)
            return
        self.error = None
        self.moved()
        self.monitor.startReading()

    def _close(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            self.counts["outside"] += monitor.transactions
            self.counts["own"] += monitor.own
            self.counts["overflows"] += monitor.overflows
            monitor.close()

    def _changed(self, touched: frozenset[Touched] | None) -> None:
        for writer in list(self.writers):
            if touched is None or writer.touched_by(touched):
                writer.outside_change()

    def status(self) -> WatchStatus:
        m = self.monitor
        return WatchStatus(
            listening=m is not None, writers=len(self.writers),
            outside_changes=self.counts["outside"] + (m.transactions if m else 0),
            own_transactions=self.counts["own"] + (m.own if m else 0),
            overflows=self.counts["overflows"] + (m.overflows if m else 0), error=self.error,
            repairs=dict(sorted((where, n) for w in self.writers for where, n in w.repairs.items())))
