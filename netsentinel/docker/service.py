"""The Docker monitor: the event stream says "changed", a listing says what is, sets converge.

Events are never applied to a remembered table (rust-network-mgr's way to go
stale): each one only pokes a debounced resync, which lists the running
containers and derives every set from that listing (listed again while it does
not yet show a network connect/disconnect, which Docker and Podman announce
before their listing has it, or a container start, which Podman does).
Podman's Docker-compatible socket is spoken to the same way (docs/docker.md).  On every (re)connect the stream is opened first and the
listing taken after, so nothing falls between.
While Docker is unreachable the sets keep their last content: an empty set
would cut off containers that are still running (live-restore, or a daemon
restarting), and there is nothing better to put in them until Docker answers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from twisted.application import service
from twisted.application.internet import backoffPolicy
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.debounce import Debouncer
from netsentinel.deferreds import observe
from netsentinel.docker.config import DockerConfig
from netsentinel.docker.containers import (
    Container,
    NetworkKey,
    changes,
    desired_sets,
    expect,
    from_api,
    lagging,
    zone_specs,
)
from netsentinel.docker.engine import EngineClient, EventStream
from netsentinel.docker.events import ContainerEvent, DockerConnection
from netsentinel.docker.report import DockerStatus
from netsentinel.features import CommandHandler, Context
from netsentinel.metrics import Family
from netsentinel.nft.client import NftClient
from netsentinel.nft.writer import SetWriter

log = Logger()

FIRST_RETRY = 1.0
LAG_LIMIT = 10.0   # seconds a listing may keep disagreeing with a network event


class DockerMonitor(service.Service):
    def __init__(self, config: DockerConfig, context: Context,
                 nft: NftClient | None = None) -> None:
        self.config = config
        self.context = context
        self.nft = nft or NftClient()
        self.sets = SetWriter("docker nftables", context.bus, context.reactor, self.nft)
        self.containers: dict[str, Container] = {}   # the last listing, by id
        self.announced: dict[str, Container] = {}    # what the last events reported
        self.expected: dict[NetworkKey, int] = {}    # events no listing showed yet
        self._lag_since: float | None = None
        self.listed_at: float | None = None
        self.engine: EngineClient | None = None
        self.stream: EventStream | None = None
        self.connected = False
        self.error: str | None = None
        self.connects = 0
        self.events = 0
        self.syncs = 0
        self.last_sync: float | None = None
        self.debouncer = self._debouncer()
        self._connecting: defer.Deferred[Any] | None = None
        self._retry: IDelayedCall | None = None
        self._attempts = 0       # failed connects in a row: the delay of backoffPolicy
        self._ready: defer.Deferred[None] = defer.Deferred()
        self._running: defer.Deferred[None] | None = None
        self._again: defer.Deferred[None] | None = None

    def _debouncer(self) -> Debouncer:
        return Debouncer(self.context.reactor, self.config.delay, self.config.max_delay,
                         self.sync)

    def _delay(self) -> float:
        """1 s doubling up to ``retry_max`` (Twisted's backoffPolicy, without jitter)."""
        policy = backoffPolicy(initialDelay=min(FIRST_RETRY, self.config.retry_max),
                               maxDelay=self.config.retry_max, factor=2.0, jitter=lambda: 0)
        return float(policy(self._attempts))

    # -- life cycle

    def startService(self) -> None:
        super().startService()
        # an outside nft change to our sets: listed and written again (debounced)
        self.sets.watch(self.context.sets_watch, lambda: self.debouncer.poke())
        self._connect()

    def stopService(self) -> None:
        super().stopService()
        self.sets.unwatch()
        self.debouncer.cancel()
        self._disconnect()

    def when_ready(self) -> defer.Deferred[None]:
        return observe(self._ready)

    def _became_ready(self) -> None:
        if not self._ready.called:
            self._ready.callback(None)

    def reconfigure(self, config: DockerConfig) -> bool:
        old = self.config
        self.config = config
        if (old.nftables.family, old.nftables.table) == (config.nftables.family,
                                                         config.nftables.table):
            self.sets.retire(set(zone_specs(old.zones)) - set(zone_specs(config.zones)))
        self.debouncer.cancel()
        self.debouncer = self._debouncer()
        self._ready = defer.Deferred()
        self.announced = {}   # a new view: report every container once more
        if config.socket != old.socket:
            self._disconnect()
            self.error = None
            self._attempts = 0
            self._connect()
        else:
            self.sync()
        return True

    # -- the connection

    def _connect(self) -> None:
        self._retry = None
        engine = EngineClient(self.context.reactor, self.config.socket)
        connecting = self._connecting = defer.ensureDeferred(
            engine.events(self._event, self._lost))
        connecting.addCallbacks(self._opened, self._failed, callbackArgs=(engine,))

    def _disconnect(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()
        self.connected = False

    def _opened(self, stream: EventStream, engine: EngineClient) -> None:
        self._connecting = None
        self.stream = stream
        self.engine = engine
        self.connected, self.error = True, None
        self.connects += 1
        self._attempts = 0
        log.info("docker: connected to {socket}, listening for container events",
                 socket=self.config.socket)
        self.context.bus.publish(DockerConnection(True, None))
        self.sync()

    def _failed(self, failure: Failure) -> None:
        if self._connecting is None:
            return   # cancelled by _disconnect
        self._connecting = None
        self._unreachable(_reason(failure))

    def _lost(self, stream: EventStream, reason: Failure) -> None:
        if stream is not self.stream:
            return   # closed by us
        self.stream = None
        self._unreachable(f"event stream ended: {reason.getErrorMessage()}")

    def _unreachable(self, error: str) -> None:
        self.connected = False
        if self.error is None:   # once per outage, however many retries
            log.warn("docker: {socket} unreachable ({error}); retrying every {max}s at most, "
                     "sets keep their content", socket=self.config.socket, error=error,
                     max=self.config.retry_max)
            self.context.bus.publish(DockerConnection(False, error))
        self.error = error
        if self.running:
            self._retry = self.context.reactor.callLater(self._delay(), self._connect)
            self._attempts += 1
        self._became_ready()

    def _event(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        self.expected = expect(self.expected, event, self.containers)
        self.debouncer.poke()

    # -- syncing

    def sync(self) -> defer.Deferred[None]:
        """List and converge now; a sync asked for during one runs right after it."""
        self.debouncer.cancel()
        if self._running is not None:
            if self._again is None:
                self._again = defer.Deferred()
            return observe(self._again)
        running = self._running = defer.ensureDeferred(self._sync())
        running.addErrback(self.context.faults.errback("docker", "sync"))
        running.addBoth(self._sync_done)
        return observe(running)

    def _sync_done(self, _: object) -> None:
        self._running = None
        self._became_ready()
        again, self._again = self._again, None
        if again is not None:
            self.sync().chainDeferred(again)

    async def _sync(self) -> None:
        if self.connected and self.engine is not None:
            try:
                items = await self.engine.containers()
            except Exception as e:
                log.warn("docker: listing containers failed ({error}); reconnecting",
                         error=_reason(Failure(e)))
                if self.stream is not None:
                    self.stream.close()   # the reconnect lists again
                return
            if not self.running:
                return   # stopped (or removed by a reload) while the listing was on its way
            self.containers = {c.id: c for c in map(from_api, items)}
            self.listed_at = time.time()
            self._relist_if_lagging()
        if self.listed_at is None:
            return   # Docker never answered: nothing is known, the sets are left alone
        self.syncs += 1
        self.last_sync = time.time()
        await self._sync_nft()
        self._announce()

    def _relist_if_lagging(self) -> None:
        """Docker sends a network (dis)connect before its listing shows it (Podman also a
        container start): while a listing disagrees with such an event, list again after the usual delay (the sets take what
        this listing says meanwhile)."""
        self.expected = lagging(self.expected, self.containers)
        if not self.expected:
            self._lag_since = None
            return
        now = self.context.reactor.seconds()
        if self._lag_since is None:
            self._lag_since = now
        if now - self._lag_since < LAG_LIMIT:
            self.debouncer.poke()
            return
        log.warn("docker: after {limit:g}s the container listing still disagrees with "
                 "events {pending}; left to the next event",
                 limit=LAG_LIMIT, pending=sorted(self.expected))
        self.expected, self._lag_since = {}, None

    def _sync_nft(self) -> defer.Deferred[Any]:
        nft = self.config.nftables
        desired = desired_sets(self.config.zones, self.containers.values())
        return self.sets.write(nft.family, nft.table, nft.create, desired)

    def _announce(self) -> None:
        found = changes(self.announced, self.containers)
        self.announced = dict(self.containers)
        for change in found:
            container = change.container
            log.info("docker: container {name} {change}: {ips}", name=container.name,
                     change=change.kind, ips=" ".join(container.ips) or "-")
            event = ContainerEvent(change.kind, container.name, container.id, container.ips)
            self.context.bus.publish(event)
            if self.config.action is not None:
                self.context.runner.call(self.config.action, event)

    # -- control

    def status(self) -> DockerStatus:
        return DockerStatus(
            socket=self.config.socket,
            connected=self.connected,
            error=self.error,
            connects=self.connects,
            events=self.events,
            listed_at=self.listed_at,
            containers={c.name: c.status() for c in sorted(self.containers.values(),
                                                          key=lambda c: c.name)},
            sets=self.sets.snapshot(),
            syncs=self.syncs,
            last_sync=self.last_sync,
            transactions=self.nft.transactions,
            pending=self.debouncer.pending or self._running is not None,
        )

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"docker sync": lambda args: self.sync().addCallback(self._sync_reply)}

    def _sync_reply(self, _: object) -> str:
        if self.connected:
            return "OK: synced"
        return f"OK: docker unreachable ({self.error}), sets kept at the last listing"


def _reason(failure: Failure) -> str:
    """The innermost error: Agent wraps a refused connect in layers of its own."""
    value = failure.value
    reasons = getattr(value, "reasons", None)
    if reasons:
        return _reason(reasons[0])
    return failure.getErrorMessage() or type(value).__name__
