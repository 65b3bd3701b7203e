"""The one runner for every user script: argv (no shell), timeout, bounded queue.

A hanging or crashing script must never pile up processes or reach the
firewall; it is killed after its timeout, its output and exit code are logged,
and when the queue is full new calls are dropped with a warning.
"""

from __future__ import annotations

import collections
import os
import time
from typing import Any, Sequence

import attrs
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.events import ActionFinished, EventBus

log = Logger()

OUTPUT_LIMIT = 64 * 1024


@attrs.frozen
class ActionResult:
    argv: tuple[str, ...]
    code: int | None      # exit code; None when killed, dropped or failed to start
    reason: str           # "exit", "timeout", "signal", "dropped", "error"
    output: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.code == 0


class _ScriptProtocol(protocol.ProcessProtocol):
    def __init__(self, done: defer.Deferred[tuple[int | None, str]]) -> None:
        self.done = done
        self.chunks: list[bytes] = []
        self.size = 0
        self.timed_out = False

    def outReceived(self, data: bytes) -> None:
        if self.size < OUTPUT_LIMIT:
            self.chunks.append(data[: OUTPUT_LIMIT - self.size])
            self.size += len(data)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        code = getattr(value, "exitCode", None)
        if isinstance(value, error.ProcessTerminated) and value.signal is not None:
            code = None
        self.done.callback((code, b"".join(self.chunks).decode("utf-8", "replace")))


@attrs.define
class _Job:
    argv: tuple[str, ...]
    env: dict[str, str] | None
    timeout: float
    deferred: defer.Deferred[ActionResult]


class ActionRunner:
    """Runs scripts through ``reactor.spawnProcess`` at most ``concurrency`` at a time."""

    def __init__(self, reactor: Any, bus: EventBus | None = None, concurrency: int = 4,
                 queue_limit: int = 100, timeout: float = 30.0) -> None:
        self.reactor: IReactorProcess = reactor
        self.clock: IReactorTime = reactor
        self.bus = bus
        self.concurrency = concurrency
        self.queue_limit = queue_limit
        self.timeout = timeout
        self.running = 0
        self.dropped = 0
        self.finished = 0
        self.failed = 0           # finished with a non-zero exit, killed, dropped or unstarted
        self._queue: collections.deque[_Job] = collections.deque()

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            timeout: float | None = None) -> defer.Deferred[ActionResult]:
        """Queue ``argv``; the Deferred fires with its result and never fails."""
        job = _Job(tuple(argv), env, self.timeout if timeout is None else timeout,
                   defer.Deferred())
        if len(self._queue) >= self.queue_limit:
            self.dropped += 1
            log.warn("action queue full ({limit}), dropped: {argv}",
                     limit=self.queue_limit, argv=" ".join(job.argv))
            return defer.succeed(self._finish(job, None, "dropped", "", 0.0))
        self._queue.append(job)
        self._next()
        return job.deferred

    def status(self) -> dict[str, int]:
        return {"running": self.running, "queued": len(self._queue),
                "finished": self.finished, "failed": self.failed, "dropped": self.dropped}

    def _next(self) -> None:
        while self._queue and self.running < self.concurrency:
            job = self._queue.popleft()
            self.running += 1
            self._start(job).addBoth(self._ended, job)

    def _ended(self, result: ActionResult | Failure, job: _Job) -> None:
        self.running -= 1
        if isinstance(result, Failure):   # a bug of ours, never the script's: still answer
            log.failure("action runner failed on {argv}", result, argv=job.argv)
            result = self._finish(job, None, "error", result.getErrorMessage(), 0.0)
        job.deferred.callback(result)
        self._next()

    @defer.inlineCallbacks
    def _start(self, job: _Job) -> Any:
        started = time.monotonic()
        done: defer.Deferred[tuple[int | None, str]] = defer.Deferred()
        proto = _ScriptProtocol(done)
        env = dict(os.environ if job.env is None else job.env)
        try:
            process = self.reactor.spawnProcess(proto, job.argv[0], list(job.argv), env=env)
        except Exception as e:
            return self._finish(job, None, "error", str(e), 0.0)
        killer = self.clock.callLater(job.timeout, self._kill, process, proto)
        code, output = yield done
        if killer.active():
            killer.cancel()
        reason = "timeout" if proto.timed_out else ("exit" if code is not None else "signal")
        return self._finish(job, code, reason, output, time.monotonic() - started)

    def _kill(self, process: Any, proto: _ScriptProtocol) -> None:
        """TERM first so the script may clean up; KILL two seconds later."""
        proto.timed_out = True
        self._signal(process, "TERM")
        self.clock.callLater(2.0, self._signal, process, "KILL")

    @staticmethod
    def _signal(process: Any, sig: str) -> None:
        try:
            process.signalProcess(sig)
        except error.ProcessExitedAlready:
            pass

    def _finish(self, job: _Job, code: int | None, reason: str, output: str,
                duration: float) -> ActionResult:
        result = ActionResult(job.argv, code, reason, output.strip(), duration)
        self.finished += 1
        if not result.ok:
            self.failed += 1
        shown = " ".join(job.argv)
        if code == 0:
            log.info("action {argv} exited 0 in {duration:.2f}s{out}", argv=shown,
                     duration=duration, out=f": {result.output}" if result.output else "")
        else:
            log.warn("action {argv} failed ({reason}, code {code}) after {duration:.2f}s: "
                     "{output}", argv=shown, reason=reason, code=code, duration=duration,
                     output=result.output or "(no output)")
        if self.bus is not None:
            self.bus.publish(ActionFinished(job.argv, code, reason, duration))
        return result
