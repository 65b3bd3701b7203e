"""A forwarded UDP service: sessions per client address, admitted like connections.

The first datagram of a client address is admitted as a TCP connection is (the
blacklist, bans, ``conn_limit`` counting sessions, ``ip_limit``, ``per_ip_limit``,
``per_ip_rate``) and opens a session: a socket of its own to the backend.  A session
ends after ``session_idle`` seconds without a datagram either way.  Memory is
bounded under a flood of spoofed sources: at the session cap (``conn_limit``, by
default what the descriptors carry) the least recently active session is ended
for the newcomer, or with ``conn_limit_action: reject`` the newcomer is dropped.
Refusals are counted, never answered.  A stop takes no new clients and lets the
sessions run until they go idle or ``wait_timeout`` passes.
"""

from __future__ import annotations

import _socket
from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from netsentinel.deferreds import observe
from netsentinel.events import EventBus
from netsentinel.faults import FaultRecorder
from netsentinel.fdbudget import BUDGET
from netsentinel.forward import counters
from netsentinel.forward.backend import Backend
from netsentinel.forward.banning import Banning
from netsentinel.forward.blacklist import Entries, client_address
from netsentinel.forward.common import Shared
from netsentinel.forward.config import ServiceConfig
from netsentinel.forward.events import ConnectionClosed, ConnectionOpened, ConnectionRejected
from netsentinel.forward.hexdump import hexdump
from netsentinel.forward.limiter import Limiter, with_default_cap
from netsentinel.forward.poller import Poller
from netsentinel.forward.status import ServiceStatus, UdpStatus
from netsentinel.forward.summary import SUMMARY_INTERVAL, summarize
from netsentinel.forward.udpsession import Session, flow
from netsentinel.forward.udpsocket import Reader, bind_udp

log = Logger()

# s: a session moves to the back of the activity order at most this often, so the order
# (eviction, the idle sweep) is exact to within it and a datagram costs no reordering
REORDER = 1.0


class UdpForwarder(Shared, service.Service):
    """The UDP counterpart of :class:`~netsentinel.forward.listener.Forwarder`, with the
    interface the ``forward`` feature uses."""

    def __init__(self, config: ServiceConfig, reactor: Any, bus: EventBus,
                 mirror: Any = None, bound: _socket.socket | None = None,
                 faults: FaultRecorder | None = None, bans: Banning | None = None) -> None:
        self.setName(config.name)
        self.sid = config.name
        self.config = config
        self.reactor = self.clock = reactor
        self.seconds = reactor.seconds
        self.bus = bus
        self.mirror = mirror
        self.bound = bound
        self.bans = bans
        self.faults = faults or FaultRecorder(reactor)
        self.limiter = Limiter(with_default_cap(config.limits))
        self.entries = Entries(config.blacklist)
        self.sessions: OrderedDict[Any, Session] = OrderedDict()    # least recent first
        self.counters = counters.ServiceCounters(reactor.seconds())
        self.backend = Backend(reactor, config.backend, self.sid)
        self.listener: Reader | None = None
        self.poller: Poller | None = None
        self.sweeper: LoopingCall | None = None
        self.state = "new"
        self.evicted = self.dropped = 0
        self._dumping = bool(config.print_bytes)
        self.closed_datagrams_up = self.closed_datagrams_down = 0
        self._numbers = 0
        self._unreported: Counter[str] = Counter()
        self._last_summary = 0.0
        self._stopping: defer.Deferred[None] | None = None
        self._timer: Any = None

    # -- life cycle

    def startService(self) -> None:
        if self.state in ("running", "stopping"):
            return
        super().startService()
        self._begin()
        sock, self.bound = self.bound, None
        listen = self.config.listen
        sock = sock or bind_udp(listen.host, listen.port, self.config.freebind)
        self.poller = Poller(self.reactor, self.sid, self._fault)
        self.listener = Reader(sock, self.poller, self.received)
        self.listener.start()
        self.sweeper = LoopingCall(self.faults.guarded("forward", f"{self.sid} sweep", self.sweep))
        self.sweeper.clock = self.clock
        self.sweeper.start(max(0.05, min(1.0, self.config.session_idle / 4)), now=False)
        self._sides_start()
        log.info("forward {name}: udp {listen} -> {backend}", name=self.sid,
                 listen=str(listen), backend=str(self.config.backend))

    def stopService(self) -> defer.Deferred[None]:
        """Take no new clients; close when the sessions went idle or ``wait_timeout``."""
        super().stopService()
        self._sides_close()
        stopping = self._stopping
        if stopping is None:
            self.state = "stopping"
            stopping = self._stopping = defer.Deferred()
            if self.sessions:
                self._timer = self.clock.callLater(self.config.timeouts.wait,
                                                   self.close_all, "stopped")
            self._maybe_stopped()       # no session: stopped at once
        return observe(stopping)

    def _maybe_stopped(self) -> None:
        if self.state != "stopping" or self.sessions:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.poller is not None:
            self.poller.close()
            self.poller = None
        if self.sweeper is not None and self.sweeper.running:
            self.sweeper.stop()
        self.backend.stop()
        self.state = "stopped"
        stopping, self._stopping = self._stopping, None
        if stopping is not None:
            stopping.callback(None)

    def close_all(self, reason: str) -> None:
        for session in list(self.sessions.values()):
            self._end(session, reason)

    def reconfigure(self, config: ServiceConfig) -> None:
        """Limits, idle time, blacklist and backend in place; open sessions are kept
        (on the backend they started with)."""
        old = self._retune(config)
        self._dumping = bool(config.print_bytes)
        if self.running and old.session_idle != config.session_idle and self.sweeper:
            self.sweeper.stop()
            self.sweeper.start(max(0.05, min(1.0, config.session_idle / 4)), now=False)
        if self.mirror is not None:
            self.mirror.sync(self.blacklist)

    # -- datagrams

    def received(self, data: bytes, peer: Any, local: bytes | None) -> None:
        key = flow(peer, local)
        session = self.sessions.get(key)
        now = self.seconds()
        if session is None:
            session = self._admit(peer, local, now)
            if session is None:
                self.dropped += 1
                return
        elif now - session.placed > REORDER:
            self.sessions.move_to_end(key)
            session.placed = now
        if self._dumping:
            self._dump(session, "client->backend", data)
        if not session.send(data, now):
            self.dropped += 1

    def _admit(self, peer: Any, local: bytes | None, now: float) -> Session | None:
        if self.state != "running":
            return None
        ip = str(client_address(peer[0]))
        reason = self._admission(ip, now)
        if reason is not None:
            self.counters.rejected[reason] += 1
            self._unreported[reason] += 1
            self.bus.publish(ConnectionRejected(self.sid, ip, reason))
            if self.bans is not None:
                self.bans.strike(ip, reason, now)
            return None
        address = self.backend.address
        if address is None or self.poller is None:
            self.limiter.release(ip)
            self.counters.backend_failures += 1
            return None
        self._numbers += 1
        try:
            session = Session(self._numbers, peer, ip, local, now, address, self.poller, self)
        except OSError as e:
            self.limiter.release(ip)
            self.counters.backend_failures += 1
            log.warn("forward {name}: backend {backend}: {why}", name=self.sid,
                     backend=str(self.config.backend), why=e.strerror)
            return None
        BUDGET.opened(1)
        self.sessions[session.key] = session
        self.counters.accepted += 1
        self.counters.accessed_at = now
        if self.bus.wants(ConnectionOpened):
            self.bus.publish(ConnectionOpened(self.sid, session.number, ip, session.port))
        if self.config.log_connections:
            log.info("forward {name} #{conn}: session from {ip}:{port}", name=self.sid,
                     conn=session.number, ip=ip, port=session.port)
        return session

    def _admission(self, ip: str, now: float) -> str | None:
        if self.blacklist and client_address(ip) in self.blacklist:
            return "blacklist"
        if self.bans is not None and self.bans.refuses(ip, now):
            return "banned"
        limits = self.limiter.limits
        full = bool(limits.conn_limit and self.limiter.total >= limits.conn_limit
                    and limits.conn_limit_action == "wait" and self.sessions)
        reason = self.limiter.admit(ip, now, cap=not full)
        if full and reason is None:
            # the cap: the least recently active session makes room, and only for a
            # newcomer every other limit admits
            self.evicted += 1
            self._end(next(iter(self.sessions.values())), "evicted")
        return reason

    # -- udpsession.Owner

    def reply(self, session: Session, data: bytes) -> None:
        listener = self.listener
        if listener is None:
            return
        session.last_activity = now = self.seconds()
        if now - session.placed > REORDER and session.key in self.sessions:
            self.sessions.move_to_end(session.key)
            session.placed = now
        if self._dumping:
            self._dump(session, "backend->client", data)
        if not listener.send(data, session.peer, session.local):
            self.dropped += 1

    def backend_failed(self, session: Session, e: OSError) -> None:
        self.counters.backend_failures += 1
        self.dropped += 1

    def _fault(self, e: BaseException) -> None:
        self.faults.record("forward", f"{self.sid} datagram", e)

    def _dump(self, session: Session, arrow: str, data: bytes) -> None:
        for line in hexdump(data, self.config.print_bytes_max):
            log.info("forward {name} #{conn} {arrow} {line}", name=self.sid,
                     conn=session.number, arrow=arrow, line=line)

    def _end(self, session: Session, reason: str) -> None:
        if self.sessions.pop(session.key, None) is None:
            return
        session.close(reason)
        BUDGET.closed(1)
        self.limiter.release(session.ip)
        self.counters.connection_closed(session.up, session.down, reason)
        self.closed_datagrams_up += session.datagrams_up
        self.closed_datagrams_down += session.datagrams_down
        if self.bus.wants(ConnectionClosed):
            self.bus.publish(ConnectionClosed(
                self.sid, session.number, session.ip, session.port, session.up, session.down,
                round(self.clock.seconds() - session.started, 6), reason))
        self._maybe_stopped()

    def sweep(self) -> None:
        now = self.clock.seconds()
        idle = self.config.session_idle
        for session in list(self.sessions.values()):    # least recent first
            if now - session.last_activity < idle:
                break
            self._end(session, "idle-timeout")
        if now - self._last_summary >= SUMMARY_INTERVAL:
            self._last_summary = now
            self.limiter.forget_full_buckets(now)
            if self.bans is not None:
                self.bans.book.forget(now)
            summarize(log, self.sid, str(self.config.backend), self._unreported, None,
                      "new clients")

    # -- blacklist (the rest in common.Shared)

    def _live(self) -> Iterable[Session]:
        return self.sessions.values()

    def _end_one(self, live: Session, reason: str) -> None:
        self._end(live, reason)

    # -- views

    def status(self) -> ServiceStatus:
        return self._status(self.clock.seconds())

    def stats(self) -> dict[str, Any]:
        now = self.clock.seconds()
        return {**self._status(now).to_json(), **counters.detail(self.sessions.values(), now)}

    def _status(self, now: float) -> ServiceStatus:
        live = list(self.sessions.values())
        udp = UdpStatus(
            datagrams_up=self.closed_datagrams_up + sum(s.datagrams_up for s in live),
            datagrams_down=self.closed_datagrams_down + sum(s.datagrams_down for s in live),
            evicted=self.evicted, dropped=self.dropped, session_idle=self.config.session_idle)
        return counters.status(self._service(udp), self.counters, live, now)
