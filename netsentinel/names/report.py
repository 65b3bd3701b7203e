"""What the names feature reports: its snapshot, problems, metrics and page section."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.metrics import Family, counter, gauge
from netsentinel.names.records import FAILING, RESULTS, STATES, Record
from netsentinel.nft.sets import SetStatus
from netsentinel.nft.writer import sets_metrics, sets_problems
from netsentinel.page import PageView, grid, pairs, sets_grid
from netsentinel.readable import ago, counts
from netsentinel.snapshot import to_json

QUERIES = counter("netsentinel_names_queries_total",
                  "DNS queries answered, by result (ok, nxdomain, servfail, timeout, refused, "
                  "error).", "result")
NAMES = gauge("netsentinel_names_lookups",
              "Names' A and AAAA lookups by state (pending, ok, stale, nxdomain, servfail, "
              "timeout, refused, error).", "state")
SET_ELEMENTS = gauge("netsentinel_names_set_elements",
                     "Elements in the nft set as last synced.", "set")
SET_SYNCED = gauge("netsentinel_names_set_last_sync_timestamp_seconds",
                   "When the set was last found or made right (Unix time).", "set")
SET_ERROR = gauge("netsentinel_names_set_error",
                  "1 while the set's last sync failed (the reason is in status).", "set")
TRANSACTIONS = counter("netsentinel_names_nft_transactions_total",
                       "nft transactions applied (changes and element timeout refreshes).")


@attrs.frozen
class RecordStatus:
    """One name's A or AAAA lookup: what it holds in the set and what comes next."""

    state: str
    addresses: tuple[str, ...] = ()
    ttl: int | None = None
    expires_at: float | None = None
    next_query: float | None = None
    last_ok: float | None = None
    error: str | None = None

    @classmethod
    def of(cls, record: Record) -> RecordStatus:
        return cls(record.state, tuple(sorted(record.addresses)), record.ttl,
                   record.expires_at, record.next_query, record.last_ok, record.error)


@attrs.frozen
class NameSetStatus:
    table: str
    stale_for: int
    names: dict[str, dict[str, RecordStatus]]     # name -> "A" / "AAAA" -> lookup


@attrs.frozen
class NamesStatus:
    """The ``names`` section of ``status``."""

    servers: tuple[str, ...]
    names: dict[str, NameSetStatus]          # by sets: key
    sets: dict[str, SetStatus]               # the nft sets, as the writer left them
    queries: dict[str, int]
    states: dict[str, int]
    writes: int
    transactions: int
    pending: bool

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def lookups(self) -> list[tuple[str, str, str, RecordStatus]]:
        return [(key, name, family, record) for key, entry in self.names.items()
                for name, families in entry.names.items()
                for family, record in families.items()]

    def problems(self) -> list[str]:
        return sets_problems("names", self.sets) + [
            f"names: {name} {family} ({key}): {record.state}: {record.error}"
            for key, name, family, record in self.lookups() if record.state in FAILING]

    def metrics(self) -> list[Family]:
        return [
            QUERIES.with_samples(((r,), self.queries.get(r, 0)) for r in RESULTS),
            NAMES.with_samples(((s,), self.states.get(s, 0)) for s in STATES),
            *sets_metrics(self.sets, SET_ELEMENTS, SET_SYNCED, SET_ERROR),
            TRANSACTIONS.of(self.transactions),
        ]

    def section(self, view: PageView) -> Tag:
        rows = self.lookups()
        parts = [
            tags.h2("names"),
            pairs([("servers", " ".join(self.servers)), ("queries", counts(self.queries)),
                   ("nft transactions", self.transactions), ("pending", self.pending)],
                  id="names"),
            tags.h3("lookups"),
            grid(("set", "name", "family", "state", "addresses", "ttl", "next query",
                  "last ok", "error"),
                 [(key, name, family, r.state, " ".join(r.addresses), r.ttl,
                   _until(r.next_query, view.now), ago(r.last_ok, view.now), r.error)
                  for key, name, family, r in rows],
                 [r.state in FAILING for *_, r in rows], id="names-lookups"),
        ]
        if self.sets:
            parts += [tags.h3("sets"), sets_grid("names", self.sets, view.now)]
        return tags.section(parts)


def _until(stamp: float | None, now: float) -> str | None:
    return None if stamp is None else f"in {max(0, round(stamp - now))} s"
