"""The one runner for every user script: argv (no shell), timeout, bounded queue.

A hanging or crashing script must never pile up processes or reach the
firewall; it is killed after its timeout, its output and exit code are logged,
and when the queue is full new calls are dropped with a warning.

A script is finished when **its process exits**, as tuninetd and imon saw it:
a child it leaves running (``ssh -f`` in tuninetd's runtunnel.sh) may keep the
output pipes open as long as it likes; its later output is read and dropped and
one warning names it.  Each script starts in its own session (``setsid``, which
execs in place: the pid is the script's), so at the timeout, and at daemon stop,
TERM and then KILL go to its whole process group: a ``sleep`` under ``sh`` or a
backgrounded child dies with it, and the slot is free.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.events import ActionFinished, EventBus
from netsentinel.metrics import Family, counter, gauge

log = Logger()

OUTPUT_LIMIT = 64 * 1024
KILL_GRACE = 2.0          # seconds between TERM and KILL
LINGER_CHECK = 1.0        # seconds after exit before a child holding the pipes is reported
SETSID = shutil.which("setsid") or "/usr/bin/setsid"   # util-linux, essential on Debian
# Linux refuses one argument over 128 KiB (MAX_ARG_STRLEN) and all of them over about 2 MiB
# with "Argument list too long"; 20,000 addresses in one comma-joined list pass that.
ARG_LIMIT = 32 * 1024



class ScriptCall(Protocol):
    """What one call tells a user's action script: the words after the script's own argv.

    Each feature's call type says it once (imon's ``INSTANCE FLAG EVENT ARGS...``,
    ``INTERFACE ADDED REMOVED``, ``CHANGE CONTAINER IPS``, tuninetd's ``start``/``stop``).
    """

    def script_args(self) -> tuple[str, ...]: ...


def script_argv(script: Sequence[str], call: ScriptCall) -> tuple[str, ...]:
    """The one way a script's argv is built: the configured argv, then the call's words."""
    return (*script, *call.script_args())


def spill_long_arguments(argv: Sequence[str], directory: str | None = None
                         ) -> tuple[list[str], list[str]]:
    """``argv`` with every argument longer than ARG_LIMIT written to a private file and
    replaced by ``@PATH`` (curl's convention); returns the argv and the files to remove."""
    out, files = [argv[0]], []
    for arg in argv[1:]:
        if len(arg.encode()) <= ARG_LIMIT:
            out.append(arg)
            continue
        fd, path = tempfile.mkstemp(prefix="netsentinel-arg-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:     # mkstemp: mode 0600
            f.write(arg)
        files.append(path)
        out.append("@" + path)
    return out, files


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
    """Fires ``done`` when the process exits; the pipes may stay open after that."""

    def __init__(self, done: defer.Deferred[tuple[int | None, str]]) -> None:
        self.done = done
        self.chunks: list[bytes] = []
        self.size = 0
        self.timed_out = False
        self.exited = False
        self.pipes_closed = False

    def outReceived(self, data: bytes) -> None:
        if self.size < OUTPUT_LIMIT:
            self.chunks.append(data[: OUTPUT_LIMIT - self.size])
            self.size += len(data)

    errReceived = outReceived

    def processExited(self, reason: Failure) -> None:
        self.exited = True
        self._drain()
        value = reason.value
        code = getattr(value, "exitCode", None)
        if isinstance(value, error.ProcessTerminated) and value.signal is not None:
            code = None
        self.done.callback((code, b"".join(self.chunks).decode("utf-8", "replace")))

    def processEnded(self, reason: Failure) -> None:
        self.pipes_closed = True

    def _drain(self) -> None:
        """What the script wrote just before it exited can still wait in its pipes: the
        reactor may see the exit first.  Read what is there now, never waiting for more
        (a descendant may hold the pipe open); at most the output limit."""
        pipes = getattr(self.transport, "pipes", {})    # twisted's Process: childFD → reader
        for child_fd in (1, 2):
            reader = pipes.get(child_fd)
            while reader is not None and self.size < OUTPUT_LIMIT:
                try:
                    data = os.read(reader.fileno(), OUTPUT_LIMIT)
                except OSError:         # EAGAIN: nothing more there now
                    break
                if not data:
                    break
                self.outReceived(data)


def _shown(argv: Sequence[str]) -> str:
    """The argv for a log line: a 20,000-address list is shown by its size, not in full."""
    return " ".join(a if len(a) <= 200 else f"{a[:60]}...({len(a)} characters)" for a in argv)


def _remove(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


@attrs.define
class _Job:
    argv: tuple[str, ...]
    env: dict[str, str] | None
    timeout: float
    deferred: defer.Deferred[ActionResult]


ACTIONS_RUN = counter("netsentinel_actions_run_total",
                      "User scripts finished, whatever the outcome (dropped ones included).")
ACTIONS_FAILED = counter("netsentinel_actions_failed_total",
                         "User scripts that exited non-zero, were killed, dropped or "
                         "could not start.")
ACTIONS_DROPPED = counter("netsentinel_actions_dropped_total",
                          "User scripts dropped because the queue was full.")
ACTIONS_RUNNING = gauge("netsentinel_actions_running", "User scripts running now.")
ACTIONS_QUEUED = gauge("netsentinel_actions_queued", "User scripts waiting to run.")


@attrs.frozen
class ActionsStatus:
    """The ``actions`` section of ``status``: scripts by where they are."""

    running: int
    queued: int
    finished: int
    failed: int
    dropped: int
    lingering: int

    def metrics(self) -> list[Family]:
        return [ACTIONS_RUN.of(self.finished), ACTIONS_FAILED.of(self.failed),
                ACTIONS_DROPPED.of(self.dropped), ACTIONS_RUNNING.of(self.running),
                ACTIONS_QUEUED.of(self.queued)]


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
        self.lingering = 0        # scripts that exited leaving a child holding their output
        self.stopping = False
        # each script's pid once started (the daemon puts it back to its starting nice)
        self.spawned: Callable[[int | None], None] = lambda pid: None
        self._queue: collections.deque[_Job] = collections.deque()
        self._processes: dict[int, tuple[Any, _ScriptProtocol]] = {}   # pid → running script
        self._idle: list[defer.Deferred[None]] = []

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            timeout: float | None = None) -> defer.Deferred[ActionResult]:
        """Queue ``argv``; the Deferred fires with its result and never fails."""
        job = _Job(tuple(argv), env, self.timeout if timeout is None else timeout,
                   defer.Deferred())
        if self.stopping:
            log.warn("daemon stopping, not started: {argv}", argv=_shown(job.argv))
            return defer.succeed(self._finish(job, None, "stopped", "", 0.0))
        if len(self._queue) >= self.queue_limit:
            self.dropped += 1
            log.warn("action queue full ({limit}), dropped: {argv}",
                     limit=self.queue_limit, argv=_shown(job.argv))
            return defer.succeed(self._finish(job, None, "dropped", "", 0.0))
        self._queue.append(job)
        self._next()
        return job.deferred

    def call(self, script: Sequence[str], call: ScriptCall, env: dict[str, str] | None = None,
             timeout: float | None = None) -> defer.Deferred[ActionResult]:
        """Run a feature's action script for one call (see :class:`ScriptCall`)."""
        return self.run(script_argv(script, call), env, timeout)

    def status(self) -> ActionsStatus:
        return ActionsStatus(self.running, len(self._queue), self.finished, self.failed,
                             self.dropped, self.lingering)

    def stop(self) -> defer.Deferred[None]:
        """At daemon stop: no queued script starts, running ones get TERM then KILL (their
        whole process group); fires when every one has exited, so none is orphaned."""
        self.stopping = True
        while self._queue:
            job = self._queue.popleft()
            job.deferred.callback(self._finish(job, None, "stopped", "", 0.0))
        for process, proto in list(self._processes.values()):
            self._kill(process, proto)
        if self.running == 0:
            return defer.succeed(None)
        idle: defer.Deferred[None] = defer.Deferred()
        self._idle.append(idle)
        return idle

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
        if self.running == 0:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)

    @defer.inlineCallbacks
    def _start(self, job: _Job) -> Any:
        started = time.monotonic()
        done: defer.Deferred[tuple[int | None, str]] = defer.Deferred()
        proto = _ScriptProtocol(done)
        env = dict(os.environ if job.env is None else job.env)
        argv, spilled = spill_long_arguments(job.argv)
        try:
            process = self.reactor.spawnProcess(proto, SETSID, [SETSID, *argv], env=env)
        except Exception as e:
            _remove(spilled)
            return self._finish(job, None, "error", str(e), 0.0)
        pid = process.pid
        self.spawned(pid)
        self._processes[pid] = (process, proto)
        killer = self.clock.callLater(job.timeout, self._kill, process, proto)
        try:
            code, output = yield done
        finally:
            self._processes.pop(pid, None)
            _remove(spilled)
            if killer.active():
                killer.cancel()
        if not proto.pipes_closed:
            self.clock.callLater(LINGER_CHECK, self._check_linger, job, pid, proto)
        if code == 127 and not output and not os.access(job.argv[0], os.X_OK):
            output = f"cannot execute {job.argv[0]}"    # setsid's own exit status
        reason = ("stopped" if proto.timed_out and self.stopping else "timeout"
                  if proto.timed_out else "exit" if code is not None else "signal")
        return self._finish(job, code, reason, output, time.monotonic() - started)

    def _check_linger(self, job: _Job, pid: int, proto: _ScriptProtocol) -> None:
        if proto.pipes_closed:
            return
        self.lingering += 1
        log.warn("action {argv} (pid {pid}) has exited, but a process it started still holds "
                 "its output; the action counts as finished, that process is left running and "
                 "its output is discarded", argv=_shown(job.argv), pid=pid)

    def _kill(self, process: Any, proto: _ScriptProtocol) -> None:
        """TERM to the script's process group so it may clean up; KILL to it later."""
        if proto.timed_out:
            return
        proto.timed_out = True
        pgid = process.pid
        self._signal(pgid, signal.SIGTERM)
        self.clock.callLater(KILL_GRACE, self._signal, pgid, signal.SIGKILL)

    @staticmethod
    def _signal(pgid: int | None, sig: int) -> None:
        if pgid is None:
            return
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _finish(self, job: _Job, code: int | None, reason: str, output: str,
                duration: float) -> ActionResult:
        result = ActionResult(job.argv, code, reason, output.strip(), duration)
        self.finished += 1
        if not result.ok:
            self.failed += 1
        shown = _shown(job.argv)
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
