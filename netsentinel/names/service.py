"""The names service: asks the resolvers, keeps each name's answer for its TTL, and
keeps the sets equal to the union of what every name resolves to.

Each (set, name, family) is one :class:`~netsentinel.names.records.Record` with one
timer: its next query when the answer's TTL (clamped) runs out, or the moment a
failing name's last good answer is dropped.  Answers that change a set poke a
debouncer; the write derives every set from all records and hands the set writer the
whole desired contents, with element timeouts it refreshes while we run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from twisted.application import service
from twisted.internet import defer
from twisted.internet import error as net_error
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.names import client
from twisted.names import error as dns_error

from netsentinel.debounce import Debouncer
from netsentinel.deferreds import observe
from netsentinel.features import CommandHandler, Context
from netsentinel.metrics import Family
from netsentinel.names import records
from netsentinel.names.config import NamesConfig, NameSetConfig
from netsentinel.names.records import Answer, Record
from netsentinel.names.report import NameSetStatus, NamesStatus, RecordStatus
from netsentinel.names.tables import Group, Table, TableWriters
from netsentinel.nft.client import NftClient
from netsentinel.nft.sets import SetSpec
from netsentinel.nft.writer import InThread

log = Logger()

Key = tuple[str, str, str]       # set key, name, family ("A" | "AAAA")
IN_FLIGHT = 64                   # queries at once (each is a UDP socket of its own)
MAX_CNAMES = 8                   # CNAME targets asked for after the first answer
VERIFY_MAX = 300.0               # sets read back at least this often
RETRY = 5.0                      # ...and after this long while one is in error


class Lookups(Protocol):
    """What a twisted.names resolver offers us (a stand-in in unit tests)."""

    def lookupAddress(self, name: str, timeout: Any = None) -> defer.Deferred[Any]: ...
    def lookupIPV6Address(self, name: str, timeout: Any = None) -> defer.Deferred[Any]: ...


def twisted_resolver(config: NamesConfig, reactor: Any) -> Lookups:
    return client.Resolver(servers=list(config.servers), reactor=reactor)


def result_of(failure: Any) -> str:
    """The ``RESULTS`` word for a failed lookup."""
    for kind, result in ((dns_error.DNSNameError, "nxdomain"), (dns_error.DNSServerError, "servfail"),
                         (dns_error.DNSQueryRefusedError, "refused"),
                         (defer.TimeoutError, "timeout"), (net_error.TimeoutError, "timeout")):
        if failure.check(kind):
            return result
    return "error"


def specs(entry: NameSetConfig) -> tuple[SetSpec, SetSpec]:
    v4, v6 = entry.set_names
    return SetSpec(v4, "ipv4_addr", False, True), SetSpec(v6, "ipv6_addr", False, True)


class NameFollower(service.Service):
    def __init__(self, config: NamesConfig, context: Context,
                 resolver: Callable[[NamesConfig, Any], Lookups] = twisted_resolver,
                 nft: Callable[[], NftClient] = NftClient,
                 in_thread: InThread[Any] | None = None) -> None:
        self.config = config
        self.context = context
        self.clock = context.reactor
        self._resolver_factory = resolver
        self.resolver: Lookups | None = None
        self.sets = TableWriters(context.bus, context.reactor, nft, in_thread)
        self.records: dict[Key, Record] = {}
        self.queries: Counter[str] = Counter()
        self.writes = 0
        self._timers: dict[Key, IDelayedCall] = {}
        self._asking: dict[Key, defer.Deferred[None]] = {}
        self._limit = defer.DeferredSemaphore(IN_FLIGHT)
        self.debouncer = Debouncer(self.clock, 0.05, 0.5, self.write)
        self._verify: IDelayedCall | None = None
        self._ready: defer.Deferred[None] = defer.Deferred()
        self._reset_records()

    def _entries(self) -> dict[str, NameSetConfig]:
        return {entry.key: entry for entry in self.config.sets}

    def _reset_records(self) -> None:
        keys = [(e.key, name, family) for e in self.config.sets for name in e.names
                for family in records.FAMILIES]
        self.records = {key: self.records.get(key, Record()) for key in keys}

    # -- life cycle

    def startService(self) -> None:
        super().startService()
        self.resolver = self._resolver_factory(self.config, self.clock)
        self.sets.watch(self.context.sets_watch, lambda: self.debouncer.poke())
        self.sync().addCallback(lambda _: None if self._ready.called else self._ready.callback(None))

    def stopService(self) -> None:
        super().stopService()
        self.sets.unwatch()
        self.debouncer.cancel()
        for key in list(self._timers):
            self._cancel(key)
        if self._verify is not None and self._verify.active():
            self._verify.cancel()
        self._verify = None

    def when_ready(self) -> defer.Deferred[None]:
        return observe(self._ready)

    def reconfigure(self, config: NamesConfig) -> bool:
        old = {(e.family, e.table): set(specs(e)) for e in self.config.sets}
        new: dict[Table, set[SetSpec]] = {}
        for e in config.sets:
            new.setdefault((e.family, e.table), set()).update(specs(e))
        for table, gone in old.items():
            if gone - new.get(table, set()):
                self.sets.retire(table, gone - new.get(table, set()))
        self.config = config
        for key in list(self._timers):
            self._cancel(key)
        self._reset_records()
        if self.running:
            self.resolver = self._resolver_factory(config, self.clock)
            self.sync()
        return True

    # -- asking

    def sync(self) -> defer.Deferred[Any]:
        """Ask for every name now; fires after the sets were written with the answers."""
        asked = [self.query(key) for key in list(self.records)]
        done = defer.gatherResults(asked, consumeErrors=True)
        done.addErrback(self.context.faults.errback("names", "sync"))
        return done.addCallback(lambda _: self.write())

    def query(self, key: Key) -> defer.Deferred[None]:
        if key in self._asking:
            return observe(self._asking[key])
        self._cancel(key)
        _, name, family = key
        asking = self._asking[key] = self._limit.run(self._lookup, name, family)
        asking.addCallbacks(lambda answer: self._answered(key, answer),
                            lambda failure: self._failed(key, failure))
        asking.addErrback(self.context.faults.errback("names", f"query {name} {family}"))
        asking.addBoth(lambda _: self._asking.pop(key, None) and None)
        return observe(asking)

    @defer.inlineCallbacks
    def _lookup(self, name: str, family: str) -> Any:
        """One answer, following CNAME targets the server left unresolved."""
        assert self.resolver is not None
        timeout = (self.config.timeout / 4, self.config.timeout * 3 / 4)
        lookup = self.resolver.lookupAddress if family == "A" else self.resolver.lookupIPV6Address
        ttls: list[int] = []
        for _ in range(MAX_CNAMES + 1):
            answers, authority, _additional = yield lookup(name, timeout=timeout)
            answer = records.read_answer(name, family, answers, authority)
            ttls += [answer.ttl] if answer.ttl is not None else []
            if answer.follow is None:
                break
            name = answer.follow
        return Answer(answer.addresses, min(ttls) if ttls else None)

    def _answered(self, key: Key, answer: Answer) -> None:
        self.queries["ok"] += 1
        if key in self.records:
            entry = self._entries()[key[0]]
            self._settle(key, records.answered(self.records[key], answer, self.clock.seconds(), entry))

    def _failed(self, key: Key, failure: Any) -> None:
        result = result_of(failure)
        self.queries[result] += 1
        if key in self.records:
            entry = self._entries()[key[0]]
            message = failure.getErrorMessage() or type(failure.value).__name__
            self._settle(key, records.failed(self.records[key], result, message,
                                             self.clock.seconds(), entry))

    def _settle(self, key: Key, new: Record) -> None:
        old, self.records[key] = self.records[key], new
        if old.state != new.state:
            self._log_state(key, old, new)
        if self.running and (old.addresses != new.addresses or old.ttl != new.ttl):
            self.debouncer.poke()
        self._schedule(key)

    def _log_state(self, key: Key, old: Record, new: Record) -> None:
        where, name, family = key
        if new.state == "ok":
            log.info("names: {name} {family} ({set}) resolves: {addresses} (ttl {ttl})",
                     name=name, family=family, set=where, ttl=new.ttl,
                     addresses=" ".join(sorted(new.addresses)) or "no addresses")
        elif new.state == "stale":
            log.warn("names: {name} {family} ({set}) {error}; keeping {count} addresses "
                     "until stale_for passes", name=name, family=family, set=where,
                     error=new.error, count=len(new.addresses))
        else:
            log.error("names: {name} {family} ({set}) {error}{dropped}", name=name,
                      family=family, set=where, error=new.error,
                      dropped="; last good answer dropped" if old.addresses else "")

    def _schedule(self, key: Key) -> None:
        self._cancel(key)
        wake = self.records[key].wake_at(self._entries()[key[0]])
        if wake is not None and self.running:
            delay = max(0.0, wake - self.clock.seconds())
            self._timers[key] = self.clock.callLater(delay, self._wake, key)

    def _cancel(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _wake(self, key: Key) -> None:
        self._timers.pop(key, None)
        record, now = self.records.get(key), self.clock.seconds()
        if record is None:
            return
        dropped = records.expired(record, now, self._entries()[key[0]])
        if record.next_query is not None and now >= record.next_query:
            if dropped != record:
                self._settle(key, dropped)
            self.query(key)
        else:
            self._settle(key, dropped)      # logs a drop, and sets the next timer

    # -- writing

    def desired(self) -> tuple[dict[Group, dict[SetSpec, frozenset[str]]],
                               dict[SetSpec, dict[str, int]]]:
        groups: dict[Group, dict[SetSpec, frozenset[str]]] = {}
        timeouts: dict[SetSpec, dict[str, int]] = {}
        for entry in self.config.sets:
            group = groups.setdefault((entry.family, entry.table, entry.create), {})
            for spec, family in zip(specs(entry), records.FAMILIES, strict=True):
                found = records.union(self.records[(entry.key, name, family)]
                                      for name in entry.names)
                group[spec], timeouts[spec] = frozenset(found), found
        return groups, timeouts

    def write(self) -> defer.Deferred[Any]:
        """Every set made equal to its names' answers (the writer skips what is right)."""
        self.debouncer.cancel()
        groups, timeouts = self.desired()
        self.writes += 1
        done = self.sets.write(groups, timeouts)
        done.addErrback(self.context.faults.errback("names", "write"))
        return done.addCallback(lambda _: self._schedule_verify(timeouts))

    def _schedule_verify(self, timeouts: Mapping[SetSpec, Mapping[str, int]]) -> None:
        """Sets are read back (and element timeouts refreshed) every quarter of the
        shortest timeout, so no element expires while we run; sooner after an error."""
        if self._verify is not None and self._verify.active():
            self._verify.cancel()
        self._verify = None
        if not self.running:
            return
        shortest = min((t for ts in timeouts.values() for t in ts.values()), default=None)
        delay = VERIFY_MAX if shortest is None else min(VERIFY_MAX, max(1.0, shortest / 4))
        if self.sets.failing():
            delay = min(delay, RETRY)
        self._verify = self.clock.callLater(delay, self.debouncer.poke)

    # -- control

    def status(self) -> NamesStatus:
        names: dict[str, NameSetStatus] = {}
        for entry in self.config.sets:
            table = f"{entry.family} {entry.table}"
            found: dict[str, dict[str, RecordStatus]] = {}
            for name in entry.names:
                found[name] = {family: RecordStatus.of(self.records[(entry.key, name, family)])
                               for family in records.FAMILIES}
            names[entry.key] = NameSetStatus(table, entry.stale_for, found)
        return NamesStatus(
            servers=tuple(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.config.servers),
            names=names, sets=self.sets.snapshot(), queries=dict(sorted(self.queries.items())),
            states=records.count_states(self.records), writes=self.writes,
            transactions=self.sets.transactions,
            pending=bool(self._asking) or self.debouncer.pending)

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"names sync": lambda args: self.sync().addCallback(lambda _: self._synced())}

    def _synced(self) -> str:
        failing = sum(1 for r in self.records.values() if r.state in records.FAILING)
        return f"OK: {len(self.records)} lookups, {failing} failing"

