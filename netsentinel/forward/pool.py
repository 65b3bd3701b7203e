"""Forward workers seen from the main process (``forward.workers: N``).

The main process accepts and admits every client (blacklist, bans, limits: decided in
one place, so they stay exact), then hands the socket to the worker with the fewest
open connections (channel.py) and keeps a :class:`Remote` record in the service's
table.  The worker's reports update the record and end it, so ``forward stats``,
metrics, events and limits read the same as with one process.  A worker that dies is
logged and restarted; its connections are closed in the books with ``worker-died``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol

import attrs
from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.deferreds import observe
from netsentinel.forward.channel import Channel, Message, pair
from netsentinel.forward.config import WORKER_PRIORITY, ServiceConfig, Timeouts
from netsentinel.forward.owner import Record
from netsentinel.priority import renice

log = Logger()

RESPAWN_DELAY = 1.0     # s before restarting a worker that died within QUICK_DEATH
QUICK_DEATH = 5.0       # s
STOP_GRACE = 5.0        # s a stopping worker gets to exit before SIGKILL
READY_TIMEOUT = 30.0    # s the daemon's readiness waits for its workers to run


class Books(Protocol):
    """What a worker's reports reach: the forwarder the connection belongs to."""

    sid: str

    def backend_failed(self, conn: Record, why: str) -> None: ...

    def closed(self, conn: Record) -> None: ...


class Remote:
    """A connection relayed by a worker, as the main process keeps it."""

    __slots__ = ("worker", "sid", "number", "ip", "port", "started", "up", "down",
                 "last_activity", "half_closed_at", "reason", "dump")

    def __init__(self, worker: WorkerProcess, sid: str, number: int, ip: str, port: int,
                 now: float) -> None:
        self.worker = worker
        self.sid = sid
        self.number = number
        self.ip = ip
        self.port = port
        self.started = self.last_activity = now
        self.up = self.down = 0
        self.half_closed_at: float | None = None
        self.reason = "open"
        self.dump = False

    def note_activity(self, now: float) -> None:
        """The worker stamps activity and reports it every tick."""

    def check_timeouts(self, now: float, timeouts: Timeouts) -> None:
        """The worker enforces the timeouts."""

    def close(self, reason: str) -> None:
        self.worker.channel.send({"t": "close", "sid": self.sid, "n": self.number,
                                  "reason": reason})

    def local_address(self) -> Any:
        return None


def service_message(config: ServiceConfig, dial_options: Any, tick: float) -> Message:
    """What a worker needs of a service to relay its connections."""
    return {"t": "svc", "sid": config.name, "timeouts": attrs.asdict(config.timeouts),
            "dial_options": list(dial_options), "send_proxy": config.send_proxy,
            "print_bytes": config.print_bytes, "print_bytes_max": config.print_bytes_max,
            "tick": tick}


class WorkerProcess(protocol.ProcessProtocol):
    def __init__(self, pool: Pool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.open: dict[tuple[str, int], tuple[Books, Remote]] = {}
        self.started_at = pool.reactor.seconds()
        self.ended: defer.Deferred[None] = defer.Deferred()
        self.pid: int | None = None
        self.readied: defer.Deferred[None] = defer.Deferred()  # its reactor runs
        self._lines = {1: b"", 2: b""}
        main, theirs = pair()
        self.channel = Channel(main, pool.reactor, self.received, lambda: None,
                               f"worker {index}")
        process = pool.reactor.spawnProcess(
            self, sys.executable,
            [sys.executable, "-m", "netsentinel.forward.worker", "3", f"worker-{index}"],
            env=dict(os.environ), childFDs={0: "w", 1: "r", 2: "r", 3: theirs.fileno()})
        theirs.close()
        self.pid = process.pid
        pool.prioritize(self.pid)
        for message in pool.services.values():
            self.channel.send(message)
        log.info("forward: worker {index} started (pid {pid})", index=index, pid=self.pid)

    @property
    def alive(self) -> bool:
        """Ready for connections: running, and its channel open."""
        return self.readied.called and self.channel.open and not self.ended.called

    def hand(self, books: Books, remote: Remote, sock: Any, message: Message) -> None:
        self.open[(books.sid, remote.number)] = (books, remote)
        self.channel.send(message, sock)

    def received(self, message: Message, fds: list[int]) -> None:
        for fd in fds:          # workers send none
            os.close(fd)
        kind = message["t"]
        if kind == "ready":
            if not self.readied.called:
                self.readied.callback(None)
        elif kind == "tick":
            for sid, number, up, down, active, half in message["rows"]:
                entry = self.open.get((sid, number))
                if entry is not None:
                    remote = entry[1]
                    remote.up, remote.down, remote.last_activity = up, down, active
                    remote.half_closed_at = half
        elif kind == "closed":
            entry = self.open.pop((message["sid"], message["n"]), None)
            if entry is not None:
                books, remote = entry
                remote.up, remote.down, remote.reason = message["up"], message["down"], \
                    message["reason"]
                books.closed(remote)
        elif kind == "failed":
            entry = self.open.get((message["sid"], message["n"]))
            if entry is not None:
                entry[0].backend_failed(entry[1], message["why"])

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """The worker's log lines, logged here with its name."""
        *lines, self._lines[childFD] = (self._lines.get(childFD, b"") + data).split(b"\n")
        for line in lines:
            if line.strip():
                log.info("forward worker {index}: {line}", index=self.index,
                         line=line.decode(errors="replace").strip())

    def processEnded(self, reason: Failure) -> None:
        self.channel.close()
        lost = list(self.open.values())
        self.open.clear()
        for books, remote in lost:
            remote.reason = "worker-died"
            books.closed(remote)
        self.ended.callback(None)
        self.pool.ended(self, reason, len(lost))

    def stop(self, grace: float | None = STOP_GRACE) -> defer.Deferred[None]:
        """Ask the worker to exit once its connections are gone; SIGKILL after ``grace``
        (None: it takes as long as its connections do)."""
        if self.ended.called:
            return defer.succeed(None)
        self.channel.send({"t": "stop"})
        timer = self.pool.reactor.callLater(grace, self.kill) if grace is not None else None
        done: defer.Deferred[None] = defer.Deferred()

        def ended(_: object) -> None:
            if timer is not None and timer.active():
                timer.cancel()
            done.callback(None)
        self.ended.addBoth(ended)
        return done

    def kill(self) -> None:
        if self.pid is not None and not self.ended.called:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass


class Pool:
    """N worker processes, restarted when they die, until ``stop``."""

    def __init__(self, count: int, reactor: Any, priority: int = WORKER_PRIORITY) -> None:
        self.count = count
        self.reactor = reactor
        self.priority = priority
        self.workers: dict[int, WorkerProcess] = {}
        self.services: dict[str, Message] = {}
        self.running = False
        self.restarts = 0
        self._respawns: dict[int, Any] = {}

    def start(self) -> None:
        self.running = True
        for index in range(1, self.count + 1):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._respawns.pop(index, None)
        if self.running and index <= self.count:
            self.workers[index] = WorkerProcess(self, index)

    def prioritize(self, pid: int | None) -> None:
        """The worker's nice value (``worker_priority``): above the main process's
        (``control.priority``), whose accept loop and control socket then get the CPU
        first when the box is busy."""
        why = renice(pid, self.priority) if pid is not None else None
        if why is not None:
            log.warn("forward: worker pid {pid}: priority {priority}: {why}", pid=pid,
                     priority=self.priority, why=why)

    def resize(self, count: int, priority: int) -> None:
        """A reload changed ``workers``: start the new ones, let the surplus drain away;
        every worker takes ``priority``."""
        old, self.count = self.count, count
        if priority != self.priority:
            self.priority = priority
            for running in self.workers.values():
                self.prioritize(running.pid)
        for index in range(old + 1, count + 1):
            if self.running and index not in self.workers:
                self._spawn(index)
        for index in range(count + 1, old + 1):
            worker = self.workers.pop(index, None)
            if worker is not None:
                worker.stop(None)       # its connections end on their own

    def configure(self, config: ServiceConfig, dial_options: Any, tick: float) -> None:
        message = service_message(config, dial_options, tick)
        if self.services.get(config.name) != message:
            self.services[config.name] = message
            for worker in self.workers.values():
                worker.channel.send(message)

    def when_ready(self, timeout: float = READY_TIMEOUT) -> defer.Deferred[None]:
        """Fires once every worker runs (or after ``timeout``: the main process relays
        what no worker can take, so readiness never waits for ever on one)."""
        waiting = [w.readied for w in self.workers.values() if not w.readied.called]
        if not waiting:
            return defer.succeed(None)
        result: defer.Deferred[None] = defer.Deferred()

        def fire(_: object = None) -> None:
            if not result.called:
                result.callback(None)
        defer.gatherResults([observe(d) for d in waiting], consumeErrors=True).addBoth(fire)
        timer = self.reactor.callLater(timeout, fire)
        return result.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])

    def pick(self) -> WorkerProcess | None:
        """The ready worker with the fewest open connections; None: none is (the
        caller relays the connection itself)."""
        live = [w for w in self.workers.values() if w.alive]
        return min(live, key=lambda w: len(w.open)) if live else None

    def hand(self, books: Books, number: int, sock: Any, ip: str, port: int, now: float,
             address: tuple[str, int]) -> Remote | None:
        """Pass an admitted client to a worker; None (the caller relays it) when none is up."""
        worker = self.pick()
        if worker is None:
            return None
        remote = Remote(worker, books.sid, number, ip, port, now)
        worker.hand(books, remote, sock, {"t": "conn", "sid": books.sid, "n": number, "ip": ip,
                                          "port": port, "started": now, "host": address[0],
                                          "bport": address[1]})
        return remote

    def ended(self, worker: WorkerProcess, reason: Failure, lost: int) -> None:
        if self.workers.get(worker.index) is not worker:
            return              # stopped on purpose (resize or stop)
        del self.workers[worker.index]
        if not self.running:
            return
        self.restarts += 1
        value = reason.value
        how = f"signal {value.signal}" if isinstance(value, error.ProcessTerminated) and \
            value.signal else f"exit code {getattr(value, 'exitCode', '?')}"
        quick = self.reactor.seconds() - worker.started_at < QUICK_DEATH
        delay = RESPAWN_DELAY if quick else 0.0
        log.warn("forward: worker {index} (pid {pid}) died ({how}); {lost} connections "
                 "closed as worker-died; restarting in {delay}s", index=worker.index,
                 pid=worker.pid, how=how, lost=lost, delay=delay)
        self._respawns[worker.index] = self.reactor.callLater(delay, self._spawn, worker.index)

    def stop(self, grace: float | None = STOP_GRACE) -> defer.Deferred[None]:
        self.running = False
        for call in self._respawns.values():
            if call.active():
                call.cancel()
        self._respawns.clear()
        workers, self.workers = list(self.workers.values()), {}
        stopping = [w.stop(grace) for w in workers]
        return defer.gatherResults(stopping, consumeErrors=True).addBoth(lambda _: None)

    def pids(self) -> dict[int, int | None]:
        return {index: w.pid for index, w in sorted(self.workers.items())}

