"""What one name's A or AAAA answer means for its set, as pure values and functions.

A :class:`Record` is one (set, name, family): the addresses it puts in the set, how
long they count and when to ask again.  The service feeds it answers and failures
through :func:`answered` and :func:`failed`, and :func:`expired` drops a failing
name's last good answer once ``stale_for`` has passed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from twisted.names import dns

from netsentinel.names.config import NameSetConfig

FAMILIES = ("A", "AAAA")
RESULTS = ("ok", "nxdomain", "servfail", "timeout", "refused", "error")
STATES = ("pending", "ok", "stale", "nxdomain", "servfail", "timeout", "refused", "error")
FAILING = frozenset(STATES) - {"pending", "ok"}
MIN_GRACE = 30


@attrs.frozen
class Answer:
    """Addresses of one answer, the lowest TTL along the way, and a CNAME target the
    server named but did not resolve (asked for next)."""

    addresses: frozenset[str]
    ttl: int | None              # None: no record said (an empty answer without SOA)
    follow: str | None = None


def read_answer(name: str, family: str, answers: Sequence[Any],
                authority: Sequence[Any] = ()) -> Answer:
    """Follow the CNAME chain from ``name`` through the answer section, then take the
    A (or AAAA) records of where it ends."""
    want = dns.A if family == "A" else dns.AAAA
    current, seen, ttls = name.lower().rstrip("."), set(), []
    while current not in seen:
        seen.add(current)
        alias = [rr for rr in answers if rr.type == dns.CNAME and _name(rr) == current]
        if not alias:
            break
        ttls.append(alias[0].ttl)
        current = str(alias[0].payload.name).lower().rstrip(".")
    found = [rr for rr in answers if rr.type == want and _name(rr) == current]
    addresses = frozenset(_address(rr) for rr in found)
    ttls += [rr.ttl for rr in found]
    if not found:
        ttls += [min(rr.ttl, rr.payload.minimum) for rr in authority if rr.type == dns.SOA]
    follow = current if not found and current != name.lower().rstrip(".") else None
    return Answer(addresses, min(ttls) if ttls else None, follow)


def _name(rr: Any) -> str:
    return str(rr.name).lower().rstrip(".")


def _address(rr: Any) -> str:
    if rr.type == dns.A:
        return str(rr.payload.dottedQuad())
    return socket.inet_ntop(socket.AF_INET6, rr.payload.address)


def element_timeout(ttl: int) -> int:
    """An element outlives its answer by a grace (at least 30 s) so the set never empties
    between two answers, and a stopped daemon leaves nothing allowed for long."""
    return ttl + max(MIN_GRACE, ttl)


@attrs.frozen
class Record:
    state: str = "pending"
    addresses: frozenset[str] = frozenset()
    ttl: int | None = None               # the last good answer's TTL, clamped
    expires_at: float | None = None      # when that answer's TTL runs out
    next_query: float | None = None
    last_ok: float | None = None
    error: str | None = None
    failures: int = 0                    # in a row, for the retry backoff

    def wake_at(self, config: NameSetConfig) -> float | None:
        """When the service must look at this record again: its next query, or the
        moment its stale answer is dropped."""
        times = [t for t in (self.next_query, self.drop_at(config)) if t is not None]
        return min(times) if times else None

    def drop_at(self, config: NameSetConfig) -> float | None:
        if self.state != "stale" or self.last_ok is None:
            return None
        return self.last_ok + config.stale_for


def answered(record: Record, answer: Answer, now: float, config: NameSetConfig) -> Record:
    ttl = config.clamp(answer.ttl if answer.ttl is not None else config.min_ttl)
    return Record("ok", answer.addresses, ttl, now + ttl, now + ttl, now, None, 0)


def failed(record: Record, result: str, error: str, now: float,
           config: NameSetConfig) -> Record:
    """A failure keeps the last good answer (``stale``) until ``stale_for`` has passed
    since it came; the next query backs off from min_ttl, doubling up to max_ttl."""
    retry = min(config.max_ttl, config.min_ttl * 2 ** min(record.failures, 20))
    keep = record.last_ok is not None and bool(record.addresses) \
        and now < record.last_ok + config.stale_for
    return attrs.evolve(
        record, state="stale" if keep else result,
        addresses=record.addresses if keep else frozenset(),
        next_query=now + retry, error=f"{result}: {error}", failures=record.failures + 1)


def expired(record: Record, now: float, config: NameSetConfig) -> Record:
    """The stale answer dropped once ``stale_for`` has passed (the record unchanged before)."""
    drop = record.drop_at(config)
    if drop is None or now < drop:
        return record
    result = (record.error or "error").split(":", 1)[0]
    return attrs.evolve(record, state=result if result in STATES else "error",
                        addresses=frozenset())


def union(records: Iterable[Record]) -> dict[str, int]:
    """The set's elements and their timeouts (an address two names give: the longer)."""
    out: dict[str, int] = {}
    for record in records:
        if record.ttl is None:
            continue
        timeout = element_timeout(record.ttl)
        for address in record.addresses:
            out[address] = max(out.get(address, 0), timeout)
    return out


def count_states(records: Mapping[Any, Record]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for record in records.values():
        counts[record.state] += 1
    return counts
