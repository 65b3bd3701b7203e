"""A ``mode: kernel`` service: nftables forwards its flows, the daemon keeps the books.

The relay's admission (bans, blacklist, ``conn_limit``, ``per_ip_limit``,
``per_ip_rate``) is written as rules (:mod:`kernelnft`) and the kernel forwards
every admitted flow by DNAT: no datagram or segment crosses into the daemon, so a
flow costs what a firewall's port forward costs.  The daemon keeps what the relay
keeps: the flows open now and their bytes (conntrack, every ``POLL`` seconds), the
refusals by reason (NFLOG, :mod:`rejectlog`) with the bans they strike, the same
status, stats, metrics and events.  What only a relay can do (hex dump, PROXY
header, per-connection timeouts, ``ip_limit``) is refused by check-config.

The rules heal like the sets: an ``nft -f`` or a flush that touches our table
puts them back.  A stop removes them: new flows are no longer forwarded, open ones
keep going in conntrack until they end (a restart therefore cuts nothing).
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.deferreds import in_thread, observe
from netsentinel.events import EventBus
from netsentinel.faults import FaultRecorder
from netsentinel.forward import counters, flows, kernelnft
from netsentinel.forward.backend import Backend
from netsentinel.forward.banning import Banning
from netsentinel.forward.blacklist import Entries
from netsentinel.forward.common import Shared
from netsentinel.forward.config import OWN_TABLE, WILDCARDS, ServiceConfig
from netsentinel.forward.events import ConnectionClosed, ConnectionOpened, ConnectionRejected
from netsentinel.forward.flowreader import FlowReader, ReaderGone
from netsentinel.forward.limiter import Limiter
from netsentinel.forward.rejectlog import RejectLog
from netsentinel.forward.status import KernelRules, ServiceStatus, UdpStatus
from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.monitor import Touched
from netsentinel.nft.watch import SetsWatch

log = Logger()

POLL = 1.0          # s between conntrack reads: the stats' and events' resolution...
SHARE = 0.1         # ...longer when a read takes more than this share of it (many flows)


@attrs.define
class LiveFlow:
    """A forwarded flow as the counters see a connection."""

    number: int
    id: int
    ip: str
    port: int
    started: float
    last_activity: float
    up: int = 0
    down: int = 0
    packets_up: int = 0
    packets_down: int = 0
    half_closed_at: float | None = None
    local: str = ""             # the address the client wrote to


class KernelForwarder(Shared, service.Service):
    bound = None            # nothing listens (the feature hands relays their sockets)
    def __init__(self, config: ServiceConfig, reactor: Any, bus: EventBus,
                 group: int, rejections: RejectLog | None = None,
                 reader: FlowReader | None = None,
                 faults: FaultRecorder | None = None,
                 bans: Banning | None = None, watch: SetsWatch | None = None,
                 nft: NftClient | None = None) -> None:
        self.setName(config.name)
        self.sid = config.name
        self.config = config
        self.reactor = self.clock = reactor
        self.bus = bus
        self.group = group
        self.rejections = rejections        # the NFLOG reader (its error is ours too)
        self.reader = reader                # the conntrack reader (a child process)
        self.faults = faults or FaultRecorder(reactor)
        self.bans = bans
        self.mirror = None
        self.watch = watch
        self.nft = nft or NftClient()
        self.entries = Entries(config.blacklist)
        self.limiter = Limiter(config.limits)
        self.counters = counters.ServiceCounters(reactor.seconds())
        self.backend = Backend(reactor, config.backend, self.sid)
        self.flows: dict[int, LiveFlow] = {}
        self.totals = flows.Tally()
        self.read_error: str | None = None
        self.state = "new"
        self.rule_error: str | None = None
        self.closed_packets_up = self.closed_packets_down = 0
        self._numbers = 0
        self._last_summary = 0.0
        self._poller: LoopingCall | None = None
        self._unwatch: Any = None
        self.started: defer.Deferred[None] = defer.succeed(None)   # the rules in place
        self._applied: defer.Deferred[None] = defer.succeed(None)  # the last rule write

    # -- life cycle

    def startService(self) -> None:
        if self.state == "running":
            return
        super().startService()
        self._begin()
        if not flows.accounting():
            log.warn("forward {name}: cannot turn on {path}: flows are counted without bytes",
                     name=self.sid, path=flows.ACCOUNTING)
        self.totals = flows.Tally()
        self.started = observe(self.apply())
        if self.watch is not None:
            self._unwatch = self.watch.register(self)
        self._poller = LoopingCall(self.faults.guarded("forward", f"{self.sid} flows", self.poll))
        self._poller.clock = self.clock
        self._poller.start(POLL, now=False)
        self._sides_start()
        log.info("forward {name}: {protocol} {listen} -> {backend} in the kernel",
                 name=self.sid, protocol=self.config.protocol, listen=str(self.config.listen),
                 backend=str(self.config.backend))

    def stopService(self) -> defer.Deferred[None]:
        """No new flows; the open ones go on in conntrack."""
        super().stopService()
        self._sides_close()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._poller is not None and self._poller.running:
            self._poller.stop()
        self.backend.stop()
        self.state = "stopped"
        commands = kernelnft.removal(self.config)
        return observe(in_thread(self.reactor, lambda: self.nft.each(commands)))

    def reconfigure(self, config: ServiceConfig) -> None:
        """Limits, blacklist and backend: the rules rewritten in one transaction."""
        self._retune(config)
        self.limiter.limits = config.limits     # the kernel counts: no descriptor cap
        if self.running:
            self.apply()

    def apply(self) -> defer.Deferred[None]:
        """The service's rules, in one transaction (from the thread pool)."""
        config, blacklist, group = self.config, tuple(self.blacklist.networks), self.group

        names, tally = kernelnft.names(config), self.totals

        def write() -> int:
            """The rules written; the number of stale UDP flows forgotten."""
            if not tally.based:             # the counters may hold a previous run's
                tally.base(self.nft.counters(*OWN_TABLE), names)
            existing = self.nft.set_names(*OWN_TABLE)
            self.nft.transaction(kernelnft.commands(config, blacklist, group, existing))
            if config.protocol != "udp":
                return 0
            host = None if config.listen.host in WILDCARDS else config.listen.host
            return sum(flows.forget_stale(config.protocol, config.listen.port, version, host)
                       for version in kernelnft.families(config))

        def failed(reason: Any) -> None:
            error = str(reason.value) if reason.check(NftError) else repr(reason.value)
            if self.rule_error != error:
                log.error("forward {name}: kernel rules: {error}", name=self.sid, error=error)
            self.rule_error = error

        def done(stale: int) -> None:
            self.rule_error = None
            if stale:
                log.info("forward {name}: {count} flow(s) from before the rules forgotten",
                         name=config.name, count=stale)
        self._applied = in_thread(self.reactor, write).addCallbacks(done, failed)
        return observe(self._applied)

    def _blacklist_changed(self) -> None:
        if self.running:
            self.apply()

    # -- nft.watch.Watcher: an outside change to our table puts the rules back

    repairs: Mapping[str, int] = {}

    @property
    def where(self) -> tuple[str, str]:
        return OWN_TABLE

    def touched_by(self, touched: frozenset[Touched]) -> bool:
        family, table = OWN_TABLE
        return any(t.family == family and t.table == table and t.set is None for t in touched)

    def outside_change(self) -> None:
        if self.running:
            self.apply()

    # -- refusals (from the NFLOG group) and flows (from conntrack)

    def refused(self, ip: str, reason: str) -> None:
        now = self.clock.seconds()
        self.counters.rejected[reason] += 1
        self.bus.publish(ConnectionRejected(self.sid, ip, reason))
        if self.bans is not None:
            self.bans.strike(ip, reason, now)

    def poll(self) -> defer.Deferred[None] | None:
        """The open flows (the flow reader) and the totals (the named counters), then
        the books; a failed read is the status's ``kernel.flows`` until one succeeds.
        The LoopingCall waits for it, so reads never overlap."""
        if self.reader is None:
            return None
        config, began, version = self.config, self.clock.seconds(), self._version()
        asked = self.reader.read(socket.AF_INET if version == 4 else socket.AF_INET6,
                                 flows.PROTOCOLS[config.protocol], config.listen.port,
                                 config.backend.host, config.backend.port)
        counted = in_thread(self.reactor, lambda: self.nft.counters(*OWN_TABLE))

        def done(results: list[Any]) -> None:
            answer, values = results
            if "error" in answer:
                raise flows.FlowsError(answer["error"])
            now = self.clock.seconds()
            if self._poller is not None:
                self._poller.interval = max(POLL, (now - began) / SHARE)
            self.read_error = None
            self.seen(flows.from_rows(answer["flows"], config.protocol, version),
                      self.totals.update(values, kernelnft.names(config), config.protocol,
                                         version), now)

        def failed(reason: Failure) -> None:
            if isinstance(reason.value, defer.FirstError):
                reason = reason.value.subFailure
            error = reason.value
            if not isinstance(error, flows.FlowsError | ReaderGone | NftError):
                self.faults.record("forward", f"{self.sid} flows", reason)   # a bug
                return
            if self.read_error != str(error):
                log.error("forward {name}: reading flows: {error}", name=self.sid,
                          error=str(error))
            self.read_error = str(error)
        return defer.gatherResults([asked, counted], consumeErrors=True) \
            .addCallback(done).addErrback(failed)

    def _version(self) -> int:
        """The IP version of the service's flows: its backend's (check-config refuses
        a listening address of the other one)."""
        return ipaddress.ip_address(self.config.backend.host).version

    def seen(self, found: Iterable[flows.Flow], totals: flows.Totals, now: float) -> None:
        """The flows open now (new ones opened, missing ones closed: the events) and
        the totals since the start (the counters; a flow that began and ended between
        two reads is in them, though no event told of it)."""
        current = {flow.id: flow for flow in found}
        for fid in [fid for fid in self.flows if fid not in current]:
            self._closed(self.flows.pop(fid), now)
        for fid, flow in current.items():
            live = self.flows.get(fid)
            if live is None:
                live = self._opened(flow, now)
            if (flow.up, flow.down) != (live.up, live.down):
                live.last_activity = now
            live.up, live.down = flow.up, flow.down
            live.packets_up, live.packets_down = flow.packets_up, flow.packets_down
            if flow.half_closed and live.half_closed_at is None:
                live.half_closed_at = now
        books, live_flows = self.counters, list(self.flows.values())
        if totals.flows > books.accepted:
            books.accessed_at = now
        books.accepted = max(totals.flows, len(live_flows))
        books.closed = books.accepted - len(live_flows)
        books.closed_up = max(0, totals.up - sum(f.up for f in live_flows))
        books.closed_down = max(0, totals.down - sum(f.down for f in live_flows))
        books.closes = Counter({self._reason(): books.closed} if books.closed else {})
        self.closed_packets_up = max(0, totals.packets_up -
                                     sum(f.packets_up for f in live_flows))
        self.closed_packets_down = max(0, totals.packets_down -
                                       sum(f.packets_down for f in live_flows))

    def _reason(self) -> str:
        return "idle-timeout" if self.config.protocol == "udp" else "done"

    def _opened(self, flow: flows.Flow, now: float) -> LiveFlow:
        self._numbers += 1
        live = self.flows[flow.id] = LiveFlow(self._numbers, flow.id, flow.ip, flow.port,
                                              now, now, local=flow.local)
        if self.bus.wants(ConnectionOpened):
            self.bus.publish(ConnectionOpened(self.sid, live.number, live.ip, live.port))
        if self.config.log_connections:
            log.info("forward {name} #{conn}: {protocol} flow from {ip}:{port}", name=self.sid,
                     conn=live.number, protocol=self.config.protocol, ip=live.ip,
                     port=live.port)
        return live

    def _closed(self, live: LiveFlow, now: float) -> None:
        if self.bus.wants(ConnectionClosed):
            self.bus.publish(ConnectionClosed(self.sid, live.number, live.ip, live.port,
                                              live.up, live.down,
                                              round(now - live.started, 6), self._reason()))

    # -- common.Shared

    def _live(self) -> Iterable[LiveFlow]:
        return self.flows.values()

    def _end_one(self, live: LiveFlow, reason: str) -> None:
        """``reject --close``: the flow goes from conntrack, so its next packet is a new
        flow, which the rules (rewritten with the blacklist before this) refuse."""
        config, version = self.config, self._version()
        clients = [(live.ip, live.port, live.local)]

        def cut(_: Any) -> defer.Deferred[int]:      # after the rules that refuse it
            return in_thread(self.reactor, lambda: flows.forget(
                config.protocol, config.listen.port, version, clients))
        observe(self._applied).addBoth(cut).addErrback(
            lambda reason: log.error("forward {name}: cutting {ip}: {error}", name=self.sid,
                                     ip=live.ip, error=str(reason.value)))

    # -- views

    def status(self) -> ServiceStatus:
        return self._status(self.clock.seconds())

    def stats(self) -> dict[str, Any]:
        now = self.clock.seconds()
        return {**self._status(now).to_json(), **counters.detail(self.flows.values(), now),
                "mode": "kernel"}

    def _status(self, now: float) -> ServiceStatus:
        live = list(self.flows.values())
        udp = UdpStatus(
            datagrams_up=self.closed_packets_up + sum(f.packets_up for f in live),
            datagrams_down=self.closed_packets_down + sum(f.packets_down for f in live),
            evicted=0, dropped=sum(self.counters.rejected.values()),
            session_idle=flows.udp_idle()) if self.config.protocol == "udp" else None
        status = counters.status(self._service(udp), self.counters, live, now)
        refusals = self.rejections.error if self.rejections is not None else None
        return attrs.evolve(status, kernel=KernelRules(self.rule_error, refusals,
                                                       self.read_error))
