"""The address monitor service: netlink says "changed", a dump says what is, sinks converge.

Every sync derives the whole desired state from a fresh dump and compares it
with what the kernel and the disk hold, so a lost message, a restart or a set
flushed by hand is repaired by the next sync, and a sync that finds nothing
different does nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Cooperator, TaskStopped
from twisted.logger import Logger

from netsentinel.addresses import files, proxy, zones
from netsentinel.addresses.config import AddressesConfig
from netsentinel.addresses.events import AddressesChanged
from netsentinel.addresses.report import (
    AddressesStatus,
    FileStatus,
    InterfaceStatus,
    NetlinkStatus,
)
from netsentinel.atomic import write_if_changed
from netsentinel.debounce import Debouncer
from netsentinel.deferreds import in_thread, observe
from netsentinel.events import SyncFailed
from netsentinel.features import CommandHandler, Context
from netsentinel.metrics import Family
from netsentinel.netlink.reader import RouteDumper, RouteMonitor
from netsentinel.netlink.table import AddressTable, InterfaceChange, changes
from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.sets import SetSpec
from netsentinel.nft.writer import SetWriter

log = Logger()

RETRY_FIRST = 1.0         # a set in error: retried after 1 s, doubling...
RETRY_MAX = 30.0          # ...up to 30 s

@attrs.define
class SinkState:
    written_at: float | None = None
    error: str | None = None


class AddressMonitor(service.Service):
    def __init__(self, config: AddressesConfig, context: Context,
                 nft: NftClient | None = None) -> None:
        self.config = config
        self.context = context
        self.nft = nft or NftClient()
        self.table = AddressTable()          # what the last dump found (as configured)
        self._dumped = AddressTable()        # ...and as it came, link-local included
        self.announced = AddressTable()      # what the last effective change reported
        self.sets = SetWriter("nftables", context.bus, context.reactor, self.nft)
        self.sinks: dict[str, SinkState] = {}
        self._proxy_reload_failed = False
        self.syncs = 0
        self.last_sync: float | None = None
        self.monitor: RouteMonitor | None = None
        self.dumper: RouteDumper | None = None
        self.debouncer = self._debouncer()
        self._ready: defer.Deferred[None] = defer.Deferred()
        self._running: defer.Deferred[Any] | None = None
        self._waiting: list[defer.Deferred[None]] = []
        self._check: IDelayedCall | None = None
        self._backoff = 0.0
        self._cooperator = self._new_cooperator()

    def _new_cooperator(self) -> Cooperator:
        # one step per reactor turn (the default cooperator would run steps for 10 ms)
        return Cooperator(terminationPredicateFactory=lambda: lambda: True,
                          scheduler=lambda step: self.context.reactor.callLater(0, step))

    def _debouncer(self) -> Debouncer:
        return Debouncer(self.context.reactor, self.config.delay, self.config.max_delay,
                         self.sync)

    # -- life cycle

    def startService(self) -> None:
        super().startService()
        reactor = self.context.reactor
        self._cooperator = self._new_cooperator()
        # subscribe before the first dump, so no change can fall between the two
        self.monitor = RouteMonitor(self._changed, reactor)
        self.monitor.startReading()
        self.dumper = RouteDumper(reactor)
        self._watch_sets()
        self._ready_after(self.sync())

    def _ready_after(self, sync: defer.Deferred[None]) -> None:
        """Ready once ``sync`` (the first, or the one a reload asked for) is applied:
        the daemon's reload answers only then."""
        ready = self._ready
        sync.addCallback(lambda _: None if ready.called else ready.callback(None))

    def _watch_sets(self) -> None:
        """An outside nft change to our sets is read back at once (debounced)."""
        if self.config.nftables is None:
            self.sets.unwatch()
        else:
            self.sets.watch(self.context.sets_watch, lambda: self.debouncer.poke())

    def stopService(self) -> None:
        super().stopService()
        self.sets.unwatch()
        self.debouncer.cancel()
        self._cooperator.stop()
        if self._check is not None and self._check.active():
            self._check.cancel()
        self._check = None
        for reader in (self.monitor, self.dumper):
            if reader is not None:
                reader.close()
        self.monitor = self.dumper = None

    def when_ready(self) -> defer.Deferred[None]:
        return observe(self._ready)

    def reconfigure(self, config: AddressesConfig) -> bool:
        old = set(self._desired_specs(self.config))
        self.config = config
        self.sets.retire(old - set(self._desired_specs(config)))
        self.debouncer.cancel()
        self.debouncer = self._debouncer()
        self.announced = AddressTable()   # a new view: report every address once more
        if self.running:
            self._watch_sets()
        if self._ready.called:
            self._ready = defer.Deferred()
        self._ready_after(self.sync())
        return True

    # -- syncing

    def _changed(self, overflow: bool) -> None:
        self.debouncer.poke()

    def sync(self) -> defer.Deferred[None]:
        """Dump and converge now; a sync asked for during one runs right after it."""
        self.debouncer.cancel()
        done: defer.Deferred[None] = defer.Deferred()
        self._waiting.append(done)
        if self._running is None:
            self._start_sync()
        return done

    def _start_sync(self) -> None:
        waiting, self._waiting = self._waiting, []
        if self.dumper is None:
            for d in waiting:
                d.callback(None)
            return
        running = self._running = self.dumper.dump()
        running.addCallback(self.apply)
        running.addErrback(self.context.faults.errback("addresses", "sync"))
        running.addBoth(self._sync_done, waiting)

    def _sync_done(self, _: object, waiting: list[defer.Deferred[None]]) -> None:
        self._running = None
        for d in waiting:
            d.callback(None)
        if self._waiting:
            self._start_sync()

    def apply(self, table: AddressTable) -> defer.Deferred[None]:
        """Bring every sink in line with ``table`` (the pure parts decide what differs).

        Each sink runs in a reactor turn of its own, and the heavy parts (the set
        writer's libnftables work, rendering the files) run in the thread pool:
        with 20,000 addresses the control socket is answered all along
        (bench/addresses_large.py).
        """
        if not table.complete:
            table = table.keeping(self._dumped)
        self._dumped = table
        self.table = table if self.config.link_local else table.without_link_local()
        self.syncs += 1
        self.last_sync = time.time()
        task = self._cooperator.cooperate(self._sinks())
        done: defer.Deferred[None] = task.whenDone().addCallback(lambda _: None)
        done.addErrback(lambda f: f.trap(TaskStopped))
        return done.addCallback(lambda _: self._schedule_check())

    def _sinks(self) -> Iterator[defer.Deferred[Any]]:
        sinks = [("nftables", self._sync_nft, self.config.nftables is not None),
                 ("files", self._sync_files, self.config.files is not None),
                 ("proxy", self._sync_proxy, self.config.proxy is not None),
                 ("action", self._announce, True)]
        for name, sink, configured in sinks:
            if configured and self.running:   # one sink failing stops none of the others
                yield defer.maybeDeferred(sink).addErrback(
                    self.context.faults.errback("addresses", f"sync {name}"))

    def _schedule_check(self) -> None:
        """A set in error is retried with backoff (1 s doubling to 30 s) without waiting for
        an address change; otherwise every ``nftables.verify`` seconds the kernel's sets are read back
        and put right (someone ran ``nft flush set`` or ``nft -f``)."""
        if self._check is not None and self._check.active():
            self._check.cancel()
        if self.config.nftables is None or not self.running:
            self._check = None
            return
        if self.sets.failing():
            self._backoff = min(self._backoff * 2, RETRY_MAX) if self._backoff else RETRY_FIRST
            delay = self._backoff
        else:
            self._backoff, delay = 0.0, self.config.nftables.verify
        self._check = self.context.reactor.callLater(delay, self.debouncer.poke)

    def _watched(self, table: AddressTable) -> AddressTable:
        return AddressTable({n: i for n, i in table.interfaces.items()
                             if self.config.watches(n)})

    def _watched_names(self) -> set[str]:
        return {n for n in self.table.interfaces if self.config.watches(n)} | {
            n for n, _ in self.config.interfaces}

    def _desired_specs(self, config: AddressesConfig) -> list[SetSpec]:
        if config.nftables is None:
            return []
        return [spec for zone in config.zones for spec in zones.zone_sets(zone, config.nftables.networks)]

    @defer.inlineCallbacks
    def _sync_nft(self) -> Any:
        nft = self.config.nftables
        assert nft is not None
        table, chosen = self.table, self.config.zones
        desired = yield in_thread(self.context.reactor,
                                  lambda: zones.desired_sets(table, chosen, nft))
        yield self.sets.write(nft.family, nft.table, nft.create, desired)

    @defer.inlineCallbacks
    def _sync_files(self) -> Any:
        config = self.config.files
        assert config is not None
        table, names = self.table, self._watched_names()

        def render() -> tuple[str, str]:   # pure, on frozen values: in the thread pool
            found = files.entries(table, names)
            return files.render_vars(found), files.render_sets(found)
        texts = dict(zip(("vars", "sets"), (yield in_thread(self.context.reactor, render)), strict=True))
        written = False
        for key, path in (("vars", config.vars), ("sets", config.sets)):
            if path is not None:
                written |= self._write(key, path, texts[key])
        if config.reload_ruleset is None:
            return
        state = self.sinks.setdefault("ruleset", SinkState())
        if not written and state.error is None:
            return   # nothing new, and the last load succeeded
        try:
            self.nft.run_file(config.reload_ruleset)
        except NftError as e:
            # kept as an error so the next sync loads it again, even without new content
            state.error = f"{config.reload_ruleset}: {e}"
            log.error("ruleset {path} failed to load: {error}",
                      path=config.reload_ruleset, error=e)
            return
        state.written_at, state.error = time.time(), None
        log.info("ruleset {path} reloaded", path=config.reload_ruleset)
        if self.config.nftables is not None:
            # our own load may have declared our sets anew, empty: refill them now,
            # which is not an outside change
            self.sets.expect_refill()
            self.debouncer.poke()

    def _sync_proxy(self) -> None:
        config = self.config.proxy
        assert config is not None
        state = self.sinks.setdefault("proxy", SinkState())
        try:
            with open(config.template, encoding="utf-8") as f:
                text = proxy.render_proxy(f.read(), self.table, self._watched_names())
        except (OSError, KeyError, ValueError) as e:
            state.error = f"template {config.template}: {e}"
            log.error("proxy config not rendered: {error}", error=state.error)
            return
        written = self._write("proxy", config.output, text)
        if config.reload is not None and (written or self._proxy_reload_failed):
            self.context.runner.run(config.reload).addCallback(self._proxy_reloaded)

    def _proxy_reloaded(self, result: Any) -> None:
        # a failed reload is retried at the next sync even if the file is unchanged
        self._proxy_reload_failed = not result.ok
        if not result.ok:
            self.sinks["proxy"].error = f"reload command failed ({result.reason} {result.code})"

    def _write(self, key: str, path: str, text: str) -> bool:
        state = self.sinks.setdefault(key, SinkState())
        try:
            written = write_if_changed(path, text.encode())
        except OSError as e:
            state.error = f"{path}: {e.strerror}"
            log.error("cannot write {path}: {error}", path=path, error=e.strerror)
            self.context.bus.publish(SyncFailed(key, state.error))
            return False
        state.error = None
        if written:
            state.written_at = time.time()
            log.info("{path} written", path=path)
        return written

    def _announce(self) -> None:
        new = self._watched(self.table)
        found: list[InterfaceChange] = changes(self.announced, new)
        self.announced = new
        for change in found:
            added = sorted(str(a) for a in change.added)
            removed = sorted(str(a) for a in change.removed)
            log.info("{interface}: added {added}, removed {removed}", interface=change.interface,
                     added=" ".join(added) or "-", removed=" ".join(removed) or "-")
            event = AddressesChanged(change.interface, tuple(added), tuple(removed))
            self.context.bus.publish(event)
            if self.config.action is not None:
                self.context.runner.call(self.config.action, event)

    # -- control

    def status(self) -> AddressesStatus:
        return AddressesStatus(
            interfaces={name: InterfaceStatus(i.index, i.up, tuple(sorted(map(str, i.addresses))))
                        for name, i in sorted(self._watched(self.table).interfaces.items())},
            sets=self.sets.snapshot(),
            files={key: FileStatus(state.written_at, state.error)
                   for key, state in sorted(self.sinks.items())},
            syncs=self.syncs,
            transactions=self.nft.transactions,
            last_sync=self.last_sync,
            pending=bool(self.debouncer.pending or self._running is not None),
            netlink=NetlinkStatus(
                messages=self.monitor.messages if self.monitor else 0,
                overflows=self.monitor.overflows if self.monitor else 0,
                interrupted=self.dumper.interrupted if self.dumper else 0))

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"addresses sync": lambda args: self.sync().addCallback(lambda _: "OK: synced")}
