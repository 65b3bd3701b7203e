"""One forwarded service: its listening socket, admission, timeouts and graceful stop.

Admission runs as each socket is accepted: a refused client is closed before
anything is built for it, so a flood of refusals costs an ``accept`` and a
``close`` each and never stalls the accept loop.  Timeouts
come from one sweep per service rather than a timer per connection: each sweep
notes which connections moved bytes since the last one, so a chunk costs no
timer work at all and a timeout is exact to within one tick.
"""

from __future__ import annotations

import _socket
import socket
from collections import Counter
from collections.abc import Iterable
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from netsentinel.events import EventBus
from netsentinel.faults import FaultRecorder
from netsentinel.fdbudget import BUDGET
from netsentinel.forward import counters, proxyheader
from netsentinel.forward.backend import Backend
from netsentinel.forward.banning import Banning
from netsentinel.forward.blacklist import Entries, client_address
from netsentinel.forward.buffers import PipePool
from netsentinel.forward.common import Shared
from netsentinel.forward.config import ServiceConfig
from netsentinel.forward.events import (
    BackendFailed,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionRejected,
)
from netsentinel.forward.hexdump import hexdump
from netsentinel.forward.limiter import Limiter, with_default_cap
from netsentinel.forward.owner import Record
from netsentinel.forward.pool import Pool, Remote
from netsentinel.forward.port import ListeningPort
from netsentinel.forward.relay import Connection
from netsentinel.forward.status import ServiceStatus
from netsentinel.forward.summary import SUMMARY_INTERVAL, summarize

log = Logger()



class Forwarder(Shared, service.Service):
    """A listener and its connections; ``reconfigure`` adopts limits and timeouts live."""

    def __init__(self, config: ServiceConfig, reactor: Any, bus: EventBus,
                 mirror: Any = None, bound: _socket.socket | None = None,
                 faults: FaultRecorder | None = None, bans: Banning | None = None,
                 pool: Pool | None = None) -> None:
        self.pool = pool                         # forward workers, or None: relay here
        self.faults = faults or FaultRecorder(reactor)
        self.bans = bans                         # kernel bans (ban:), or None
        self.setName(config.name)
        self.bound = bound                       # bound ahead by a reload; used at start
        self.sid = config.name                   # the name, typed str
        self.config = config
        self.reactor = self.clock = reactor
        self.bus = bus
        self.mirror = mirror                     # nft set that shadows the blacklist, or None
        self.limiter = Limiter(with_default_cap(config.limits, self._relays()))
        self.entries = Entries(config.blacklist)  # the blacklist, ``reject``/``release`` too
        self.connections: dict[int, Connection | Remote] = {}
        self.counters = counters.ServiceCounters(self.clock.seconds())
        self.pipes = PipePool()
        self.backend = Backend(reactor, config.backend, self.sid)
        self.port: ListeningPort | None = None
        self.sweeper: LoopingCall | None = None
        self.state = "new"
        self._numbers = 0
        self._unreported: Counter[str] = Counter()
        # backend failures since the one logged in full, by reason; None: none lately
        self._failures: Counter[str] | None = None
        self._last_summary = 0.0
        self._drained: list[defer.Deferred[None]] = []
        self._stopping: defer.Deferred[None] | None = None

    # -- life cycle

    def startService(self) -> None:
        if self.state in ("running", "stopping"):
            return
        super().startService()
        self._begin()
        self._configure_workers()
        self.port = self._listen()
        self._start_sweeper()
        self._sides_start()
        log.info("forward {name}: {listen} -> {backend}", name=self.sid,
                 listen=str(self.config.listen), backend=str(self.config.backend))

    def _listen(self) -> ListeningPort:
        listen = self.config.listen
        port = ListeningPort(listen.host, listen.port, self.config.backlog, self.reactor,
                             self.accepted, self.sid, self._refused, room=self._room,
                             freebind=self.config.freebind)
        bound, self.bound = self.bound, None
        port.startListening(self.socket_options(), bound)
        return port

    def _configure_workers(self) -> None:
        if self.pool is not None:
            self.pool.configure(self.config, self.dial_options, self._tick())

    def _room(self) -> int | None:
        """With ``conn_limit_action: wait`` the port itself stops at the limit."""
        if self.limiter.limits.conn_limit_action == "wait":
            return self.limiter.room()
        return None

    def _start_sweeper(self) -> None:
        if self.sweeper is not None and self.sweeper.running:
            self.sweeper.stop()
        # a sweep that raises is a fault; the loop would stop, and timeouts with it
        self.sweeper = LoopingCall(self.faults.guarded("forward", f"{self.sid} sweep", self.sweep))
        self.sweeper.clock = self.clock
        self.sweeper.start(self._tick(), now=False)

    def _tick(self) -> float:
        t = self.config.timeouts
        positive = [v for v in (t.read, t.write, t.max_idle, t.fin, t.connect) if v > 0]
        return max(0.05, min([1.0] + [v / 4 for v in positive]))

    def stopService(self) -> defer.Deferred[None]:
        """Stop accepting, let connections finish for ``wait_timeout``, then close the rest."""
        super().stopService()
        self._sides_close()
        if self._stopping is None:
            self._stopping = self._stop()
        waiting: defer.Deferred[None] = defer.Deferred()

        def release(result: object) -> object:
            waiting.callback(None)
            return result
        self._stopping.addBoth(release)
        return waiting

    def _stop(self) -> defer.Deferred[None]:
        self.state = "stopping"
        listening = defer.maybeDeferred(self.port.stopListening) if self.port else \
            defer.succeed(None)
        self.port = None
        waited = self.drained()
        wait = self.config.timeouts.wait
        if self.connections:
            log.info("forward {name}: stopping, {count} connections may run for {wait}s",
                     name=self.sid, count=len(self.connections), wait=wait)
            timer = self.clock.callLater(wait, self.close_all, "stopped")
            waited.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])
        done = defer.gatherResults([listening, waited], consumeErrors=True)
        return done.addCallback(self._stopped)

    def _stopped(self, _: object) -> None:
        self.state = "stopped"
        self._stopping = None
        self.pipes.clear()
        self.backend.stop()
        if self.sweeper is not None and self.sweeper.running:
            self.sweeper.stop()

    def drained(self) -> defer.Deferred[None]:
        """Fires when no connection is left."""
        if not self.connections:
            return defer.succeed(None)
        waiting: defer.Deferred[None] = defer.Deferred()
        self._drained.append(waiting)
        return waiting

    def close_all(self, reason: str) -> None:
        for conn in list(self.connections.values()):
            conn.close(reason)

    def reconfigure(self, config: ServiceConfig) -> None:
        """Adopt everything but the listening address; open connections are kept."""
        assert self.config.same_listener(config)
        old = self._retune(config)
        if self.port is not None:
            self.port.set_options(self.socket_options())
            self._resume_accepting()
        if self.running and old.timeouts != config.timeouts:
            self._start_sweeper()
        self._configure_workers()
        if self.mirror is not None:
            self.mirror.sync(self.blacklist)
        for conn in self.connections.values():
            conn.dump = config.print_bytes

    # -- admission

    def accepted(self, sock: _socket.socket, peer: tuple[Any, ...]) -> None:
        """Admit or refuse a socket the port just accepted."""
        now = self.clock.seconds()
        host, port = peer[0], peer[1]
        # an IPv4 peer's text is already canonical; only IPv6 may be a mapped IPv4 one
        ip = host if sock.family == socket.AF_INET else str(client_address(host))
        reason = self.admission(ip, now)
        if reason is not None:
            sock.close()
            self._reject(ip, reason)
            return
        self._numbers += 1
        address = self.backend.address
        handed = self.pool.hand(self, self._numbers, sock, ip, port, now, address) \
            if self.pool is not None and address is not None else None
        conn = handed or Connection(self, self._numbers, sock, ip, port, now,
                                    self.config.print_bytes)
        self.connections[conn.number] = conn
        self.counters.accepted += 1
        self.counters.accessed_at = now
        if self.bus.wants(ConnectionOpened):
            self.bus.publish(ConnectionOpened(self.sid, conn.number, ip, port))
        if self.config.log_connections:
            log.info("forward {name} #{conn}: open from {ip}:{port}", name=self.sid,
                     conn=conn.number, ip=ip, port=port)
        if handed is not None:
            return
        assert isinstance(conn, Connection)
        if address is None:
            conn.dial_failed(self.backend.error or "backend name not resolved yet")
        else:
            conn.dial(address[0], address[1], now)

    def admission(self, ip: str, now: float) -> str | None:
        """Count a new connection from ``ip``, or say why it is refused."""
        if self.blacklist and client_address(ip) in self.blacklist:
            return "blacklist"
        if self.bans is not None and self.bans.refuses(ip, now):
            return "banned"         # counted by the bans, not in monconn's `rejected`
        reason = self.limiter.admit(ip, now)
        if reason == "conn_limit" and self.limiter.limits.conn_limit_action == "wait" \
                and self.port is not None:
            # only reachable when the limit was lowered under load: wait, as configured
            self.port.stopReading()
        return reason

    def _refused(self, peer: tuple[Any, ...]) -> None:
        self._reject(str(client_address(peer[0])), "fd_limit")

    def _reject(self, ip: str, reason: str) -> None:
        self.counters.rejected[reason] += 1
        self._unreported[reason] += 1
        self.bus.publish(ConnectionRejected(self.sid, ip, reason))
        if self.bans is not None:
            self.bans.strike(ip, reason, self.clock.seconds())

    def _resume_accepting(self) -> None:
        if self.port is not None and not self.port.reading:
            room = self.limiter.room()
            if room is None or room > 0:
                self.port.startReading()

    # -- connection life, called by the connections

    def socket_options(self) -> list[tuple[int, int, int]]:
        """Keepalive and nodelay; accepted sockets inherit them from the listening one."""
        return [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(self.config.keepalive)),
                (socket.IPPROTO_TCP, socket.TCP_NODELAY, int(self.config.nodelay))]

    @property
    def config(self) -> ServiceConfig:
        return self._config

    @config.setter
    def config(self, config: ServiceConfig) -> None:
        self._config = config
        # what a new backend socket needs set: it starts with both off
        self.dial_options = [o for o in self.socket_options() if o[2]]

    def proxy_header(self, conn: Record) -> bytes:
        if self.config.send_proxy is None:
            return b""
        local = conn.local_address()
        return proxyheader.header(self.config.send_proxy, conn.ip, conn.port, local[0],
                                  local[1])

    def backend_failed(self, conn: Record, why: str) -> None:
        """Logged in full when the backend was fine lately; a dead backend under load
        is one line per summary interval, not one per client."""
        self.counters.backend_failures += 1
        backend = str(self.config.backend)
        if self._failures is None:
            log.warn("forward {name} #{conn}: backend {backend} failed for {ip}: {why}",
                     name=self.sid, conn=conn.number, backend=backend, ip=conn.ip, why=why)
            self._failures = Counter()
        else:
            self._failures[why] += 1
        self.bus.publish(BackendFailed(self.sid, conn.ip, backend, why))

    def closed(self, conn: Record) -> None:
        if self.connections.pop(conn.number, None) is None:
            return
        self.limiter.release(conn.ip)
        BUDGET.closed()             # the client's socket; its backend's may never have opened
        self.counters.connection_closed(conn.up, conn.down, conn.reason)
        duration = round(self.clock.seconds() - conn.started, 6)
        if self.bus.wants(ConnectionClosed):
            self.bus.publish(ConnectionClosed(self.sid, conn.number, conn.ip, conn.port,
                                              conn.up, conn.down, duration, conn.reason))
        if self.config.log_connections:
            log.info("forward {name} #{conn}: closed ({reason}) after {duration}s, "
                     "up {up} down {down}", name=self.sid, conn=conn.number,
                     reason=conn.reason, duration=duration, up=conn.up, down=conn.down)
        if self.running:
            self._resume_accepting()
        if not self.connections:
            waiting, self._drained = self._drained, []
            for d in waiting:
                d.callback(None)

    def dump(self, conn: Record, direction: str, data: bytes) -> None:
        arrow = "client->backend" if direction == "up" else "backend->client"
        for line in hexdump(data, self.config.print_bytes_max):
            log.info("forward {name} #{conn} {arrow} {line}", name=self.sid, conn=conn.number,
                     arrow=arrow, line=line)

    # -- timeouts and summaries

    def sweep(self) -> None:
        now = self.clock.seconds()
        self._note_activity(now)
        timeouts = self.config.timeouts
        for conn in list(self.connections.values()):
            conn.check_timeouts(now, timeouts)
        if now - self._last_summary >= SUMMARY_INTERVAL:
            self._summarize(now)

    def _note_activity(self, now: float) -> None:
        """Stamp every connection that moved bytes since the last look."""
        for conn in self.connections.values():
            conn.note_activity(now)

    def _summarize(self, now: float) -> None:
        self._last_summary = now
        self.limiter.forget_full_buckets(now)
        if self.bans is not None:
            self.bans.book.forget(now)
        self._failures = summarize(log, self.sid, str(self.config.backend),
                                   self._unreported, self._failures)

    # -- blacklist (the rest in common.Shared)

    def _relays(self) -> int:
        return self.pool.count if self.pool is not None else 1

    def _live(self) -> Iterable[Connection | Remote]:
        return self.connections.values()

    def _end_one(self, live: Connection | Remote, reason: str) -> None:
        live.close(reason)

    # -- views

    def status(self) -> ServiceStatus:
        return self._status(self._look())

    def stats(self) -> dict[str, Any]:
        """``forward stats``: the status, with the per-IP and per-connection tables."""
        now = self._look()
        return {**self._status(now).to_json(), **counters.detail(self.connections.values(), now)}

    def _look(self) -> float:
        now: float = self.clock.seconds()
        self._note_activity(now)
        return now

    def _status(self, now: float) -> ServiceStatus:
        return counters.status(self._service(), self.counters, self.connections.values(), now)
