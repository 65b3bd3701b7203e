"""A forward worker process: relays the connections the main process admitted and hands over.

``python -m netsentinel.forward.worker FD`` with FD its end of the channel (channel.py).
The main process keeps accepting and admitting; the worker dials the backend it is told
and relays with ``relay.Connection`` unchanged (this module is its ``Owner``), enforces
the service's timeouts with one sweep per service, and reports back: each close (bytes,
reason), each backend failure, and every ``TICK`` the byte counts and activity of the
connections that moved, so the main process's stats are the sum over workers.  It exits
when the channel closes (the main process went away) or after ``stop`` once empty.
"""

from __future__ import annotations

import _socket
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from netsentinel.forward import proxyheader
from netsentinel.forward.buffers import PipePool
from netsentinel.forward.channel import Channel, Message
from netsentinel.forward.config import Timeouts
from netsentinel.forward.hexdump import hexdump
from netsentinel.forward.owner import Record
from netsentinel.forward.relay import Connection
from netsentinel.gcfreeze import freeze_startup

log = Logger()

TICK = 0.25     # s between reports of moving byte counts


class ServiceOwner:
    """One service's connections in this worker: the relay's :class:`Owner`."""

    def __init__(self, worker: Worker, sid: str, reactor: Any, pipes: PipePool) -> None:
        self.worker = worker
        self.sid = sid
        self.reactor = self.clock = reactor
        self.pipes = pipes
        self.connections: dict[int, Connection] = {}
        self.timeouts = Timeouts()
        self.dial_options: Sequence[tuple[int, int, int]] = ()
        self.send_proxy: str | None = None
        self.print_bytes = False
        self.print_bytes_max = 256
        self.sweeper: LoopingCall | None = None

    def configure(self, message: Message) -> None:
        self.timeouts = Timeouts(**message["timeouts"])
        self.dial_options = [(o[0], o[1], o[2]) for o in message["dial_options"]]
        self.send_proxy = message["send_proxy"]
        self.print_bytes = message["print_bytes"]
        self.print_bytes_max = message["print_bytes_max"]
        for conn in self.connections.values():
            conn.dump = self.print_bytes
        if self.sweeper is not None:
            self.sweeper.stop()
        self.sweeper = LoopingCall(self.sweep)
        self.sweeper.clock = self.reactor
        self.sweeper.start(message["tick"], now=False)

    def adopt(self, message: Message, fd: int) -> None:
        sock = _socket.socket(fileno=fd)      # the family and type come from the socket
        sock.setblocking(False)
        conn = Connection(self, message["n"], sock, message["ip"], message["port"],
                          message["started"], self.print_bytes)
        self.connections[conn.number] = conn
        conn.dial(message["host"], message["bport"], self.reactor.seconds())

    def sweep(self) -> None:
        now = self.reactor.seconds()
        for conn in list(self.connections.values()):
            conn.note_activity(now)
            conn.check_timeouts(now, self.timeouts)

    # -- Owner

    def proxy_header(self, conn: Record) -> bytes:
        if self.send_proxy is None:
            return b""
        local = conn.local_address()
        return proxyheader.header(self.send_proxy, conn.ip, conn.port, local[0], local[1])

    def dump(self, conn: Record, direction: str, data: bytes) -> None:
        arrow = "client->backend" if direction == "up" else "backend->client"
        for line in hexdump(data, self.print_bytes_max):
            log.info("forward {name} #{conn} {arrow} {line}", name=self.sid,
                     conn=conn.number, arrow=arrow, line=line)

    def backend_failed(self, conn: Record, why: str) -> None:
        self.worker.channel.send({"t": "failed", "sid": self.sid, "n": conn.number, "why": why})

    def closed(self, conn: Record) -> None:
        if self.connections.pop(conn.number, None) is None:
            return
        self.worker.channel.send({"t": "closed", "sid": self.sid, "n": conn.number,
                                  "up": conn.up, "down": conn.down, "reason": conn.reason})
        self.worker.maybe_exit()


class Worker:
    def __init__(self, fd: int, reactor: Any) -> None:
        self.reactor = reactor
        self.pipes = PipePool()
        self.services: dict[str, ServiceOwner] = {}
        self.stopping = False
        self.channel = Channel(socket.socket(fileno=fd), reactor, self.received, self.lost,
                               "worker")
        self.ticker = LoopingCall(self.tick)
        self.ticker.clock = reactor
        self.ticker.start(TICK, now=False)
        # running: the main process may hand it connections now (until then it relays
        # them itself, so a worker still importing delays nobody)
        reactor.callWhenRunning(self.channel.send, {"t": "ready"})

    def received(self, message: Message, fds: list[int]) -> None:
        kind = message["t"]
        if kind == "conn":
            owner = self.services.get(message["sid"])
            if owner is None or not fds:
                for fd in fds:
                    socket.close(fd)
                return
            owner.adopt(message, fds[0])
        elif kind == "svc":
            owner = self.services.get(message["sid"])
            if owner is None:
                owner = self.services[message["sid"]] = ServiceOwner(
                    self, message["sid"], self.reactor, self.pipes)
            owner.configure(message)
        elif kind == "close":
            owner = self.services.get(message["sid"])
            conn = owner.connections.get(message["n"]) if owner is not None else None
            if conn is not None:
                conn.close(message["reason"])
        elif kind == "stop":
            self.stopping = True
            self.maybe_exit()

    def tick(self) -> None:
        """Byte counts and activity of every connection that moved since the last tick."""
        rows: list[list[Any]] = []
        now = self.reactor.seconds()
        for owner in self.services.values():
            for conn in owner.connections.values():
                if conn.up + conn.down != conn.seen or conn.half_closed_at is not None:
                    conn.note_activity(now)
                    rows.append([owner.sid, conn.number, conn.up, conn.down,
                                 conn.last_activity, conn.half_closed_at])
        for at in range(0, len(rows), 500):         # packets stay well under MAX_PACKET
            self.channel.send({"t": "tick", "rows": rows[at:at + 500]})

    def maybe_exit(self) -> None:
        if self.stopping and not any(o.connections for o in self.services.values()):
            self.tick()
            self.channel.finish()

    def lost(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


def main(argv: list[str]) -> None:
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr, timeFormat="")],
                                     redirectStandardIO=False)
    # a signal to the process group (systemd's stop, ^C) is the main process's to act on:
    # it drains the services, then tells the workers to go
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    Worker(int(argv[1]), reactor)
    freeze_startup()            # no connection yet: the first comes after "ready"
    reactor.run(installSignalHandlers=False)  # type: ignore[call-arg]


if __name__ == "__main__":
    main(sys.argv)
