"""The ``ha`` feature's service: keepalived's notices in, master_only features and the
track file's weight out.

The daemon owns every feature's child; this one only asks it (``Context.switch``) to
start or stop the ``master_only`` ones, one transition after another, in the order
keepalived notified them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from netsentinel.atomic import write_atomic
from netsentinel.checks.events import CheckEvent
from netsentinel.features import CommandHandler, Context, FeatureSwitch
from netsentinel.ha.config import HaConfig, switch_key
from netsentinel.ha.notify import FifoReader, parse_line
from netsentinel.ha.report import HaStatus
from netsentinel.ha.weight import Health, track_text, uplink_health
from netsentinel.metrics import Family
from netsentinel.tree import error_line

log = Logger()


def is_local(address: str) -> bool:
    """True if ``address`` is assigned here: only then can a socket bind it without
    IP_FREEBIND."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class HaService(Service):
    def __init__(self, config: HaConfig, context: Context) -> None:
        if context.switch is None:
            raise ValueError("ha needs the daemon's feature switch")
        self.config = config
        self.reactor = context.reactor
        self.bus = context.bus
        self.switch: FeatureSwitch = context.switch
        self.reader = FifoReader(config.notify_fifo, self._line, context.reactor)
        self.state = "unknown"
        self.since: float | None = None
        self.transitions = 0
        self.health = Health(0, 0)
        self.weight: int | None = None
        self.error: str | None = None
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = context.reactor
        self._queue: defer.Deferred[None] = defer.succeed(None)
        self._ready: defer.Deferred[None] = defer.Deferred()
        self._unsubscribe: Any = None

    def startService(self) -> None:
        super().startService()
        self._open()
        self._unsubscribe = self.bus.subscribe(CheckEvent, self._check_event)
        self._loop.start(self.config.interval, now=True)
        # not from inside startService: the daemon is still starting its children
        self.reactor.callLater(0, self._initial)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.reader.close()

    def _initial(self) -> None:
        if self.state == "unknown" and self.config.vip is not None and is_local(self.config.vip):
            log.info("ha: {vip} is already here: acting as MASTER until keepalived says",
                     vip=self.config.vip)
            self._enter("master")
        if not self._ready.called:
            self._queue.addBoth(lambda _: self._ready.callback(None))

    def _open(self) -> None:
        try:
            self.reader.close()
            self.reader.open()
        except OSError as e:
            self._fail(f"cannot open {self.config.notify_fifo}: {e.strerror or e}")

    def _fail(self, reason: str) -> None:
        if reason != self.error:
            log.error("ha: {reason}", reason=reason)
        self.error = reason

    # -- keepalived's notices

    def _line(self, line: str) -> None:
        notice = parse_line(line)
        if notice is None or notice.kind != "INSTANCE" or notice.name != self.config.instance:
            return
        state = notice.state.lower()
        if state != self.state:
            log.info("ha: keepalived {instance} is {state} (was {before})",
                     instance=notice.name, state=notice.state, before=self.state)
            self.transitions += 1
            self._enter(state)

    def _enter(self, state: str) -> None:
        self.state = state
        self.since = time.time()
        want = state == "master"
        self._queue.addCallback(lambda _: defer.ensureDeferred(self._follow(want)))

    async def _follow(self, want: bool) -> None:
        """Start (MASTER) or stop gracefully (any other state) each master_only feature;
        a later notice waits for this one to be applied."""
        if want != (self.state == "master"):
            return          # overtaken by a newer notice already queued
        for name in self.config.master_only:
            key = switch_key(name)
            try:
                await (self.switch.start(key) if want else self.switch.stop(key))
            except Exception as e:
                self._fail(f"{'starting' if want else 'stopping'} {key}: {error_line(e)}")
        log.info("ha: master_only features {what}: {keys}", what="started" if want else
                 "stopped", keys=", ".join(self.config.master_only) or "none")

    def _release(self, _: object, key: str) -> defer.Deferred[None]:
        return self.switch.start(key).addErrback(
            lambda f: self._fail(f"starting {key}: {error_line(f.value)}"))

    # -- the track file

    def _check_event(self, event: CheckEvent) -> None:
        if event.monitor == "failover":
            self._write_weight()

    def _tick(self) -> None:
        if self.reader.fd < 0 or self.reader.stale():
            self._open()
        self._write_weight()

    def _write_weight(self) -> None:
        checks = self.switch.status("checks")
        self.health = uplink_health(checks.to_json() if checks is not None else None)
        weight = self.health.weight(self.config.weight)
        if self.config.track_file is None or weight == self.weight:
            return
        try:
            write_atomic(self.config.track_file, track_text(weight).encode())
        except OSError as e:
            self._fail(f"cannot write {self.config.track_file}: {e.strerror or e}")
            return
        log.info("ha: track weight {weight} ({up} of {total} uplinks up)", weight=weight,
                 up=self.health.up, total=self.health.total)
        self.weight = weight

    # -- FeatureService

    def status(self) -> HaStatus:
        return HaStatus(
            instance=self.config.instance, state=self.state, since=self.since,
            transitions=self.transitions,
            features={name: self.switch.running(switch_key(name))
                      for name in self.config.master_only},
            uplinks_up=self.health.up, uplinks=self.health.total,
            track_file=self.config.track_file, weight=self.weight, error=self.error)

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {}

    def reconfigure(self, config: Any) -> bool:
        """In place when only the feature list, weight or interval changed: the state
        keepalived told us is kept, and the new list follows it."""
        old = self.config
        if (config.notify_fifo, config.instance) != (old.notify_fifo, old.instance):
            return False
        dropped = [switch_key(n) for n in old.master_only if n not in config.master_only]
        self.config = config
        self.weight = None        # written again at the next tick
        for key in (k for k in dropped if "." in k):     # a part no longer held runs
            self._queue.addCallback(self._release, key)
        if self.state != "unknown":
            self._enter(self.state)
        return True

    def when_ready(self) -> defer.Deferred[None]:
        return self._ready
