"""The names feature's sets, written through one :class:`SetWriter` per nft table.

A writer remembers the one table it writes (for the healing watch), and names' sets
may live in several; this keeps a writer per table and speaks for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.internet import defer

from netsentinel.nft.client import NftClient
from netsentinel.nft.sets import SetSpec, SetStatus
from netsentinel.nft.watch import SetsWatch
from netsentinel.nft.writer import InThread, SetWriter

Table = tuple[str, str]                     # family, table
Group = tuple[str, str, bool]               # family, table, create


class TableWriters:
    def __init__(self, bus: Any, reactor: Any, nft: Callable[[], NftClient] = NftClient,
                 in_thread: InThread[Any] | None = None) -> None:
        self.bus, self.reactor = bus, reactor
        self._nft = nft
        self._in_thread = in_thread
        self.writers: dict[Table, SetWriter] = {}
        self._watching: tuple[SetsWatch, Callable[[], None]] | None = None

    def writer(self, table: Table) -> SetWriter:
        if table not in self.writers:
            writer = SetWriter(f"names nftables {' '.join(table)}", self.bus, self.reactor,
                               self._nft(), self._in_thread)
            if self._watching is not None:
                writer.watch(*self._watching)
            self.writers[table] = writer
        return self.writers[table]

    def watch(self, watch: SetsWatch, resync: Callable[[], None]) -> None:
        """An outside change to any of the tables' sets calls ``resync``."""
        self._watching = (watch, resync)
        for writer in self.writers.values():
            writer.watch(watch, resync)

    def unwatch(self) -> None:
        self._watching = None
        for writer in self.writers.values():
            writer.unwatch()

    def retire(self, table: Table, specs: Iterable[SetSpec]) -> None:
        self.writer(table).retire(specs)

    def write(self, groups: Mapping[Group, Mapping[SetSpec, frozenset[str]]],
              timeouts: Mapping[SetSpec, Mapping[str, int]]) -> defer.Deferred[Any]:
        """Every group's sets (one transaction per table and ``create``), and the sets
        of tables no group names any more emptied."""
        pending = []
        for (family, table, create), desired in sorted(groups.items()):
            pending.append(self.writer((family, table)).write(
                family, table, create, desired, {s: timeouts.get(s, {}) for s in desired}))
        named = {(family, table) for family, table, _ in groups}
        for where, writer in sorted(self.writers.items()):
            if where not in named and writer.retired:
                pending.append(writer.write(where[0], where[1], True, {}))
        return defer.gatherResults(pending, consumeErrors=True)

    def failing(self) -> bool:
        return any(w.failing() for w in self.writers.values())

    @property
    def transactions(self) -> int:
        return sum(w.nft.transactions for w in self.writers.values())

    def snapshot(self) -> dict[str, SetStatus]:
        return dict(sorted((name, status) for w in self.writers.values()
                           for name, status in w.snapshot().items()))
