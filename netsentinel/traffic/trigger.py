"""One trigger at run time: feeds packets and timers to the state machine and
carries out its effects through the shared action runner.

Packets while up only move ``last_seen``; a single timer checks the idle
deadline and re-arms itself, so a flood costs no timer churn.  After such a
refresh the sources may rest for ``rest_for(idle)`` seconds: one packet per
window is all a trigger needs, and the stop is late by at most that much.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.actions import ActionResult, ActionRunner
from netsentinel.events import Event
from netsentinel.faults import FaultRecorder
from netsentinel.traffic.config import TriggerConfig
from netsentinel.traffic.events import TriggerCall, TriggerChanged
from netsentinel.traffic.machine import UP, Effect, Input, State, step
from netsentinel.traffic.packet import Batch, decode, has_tcp_ack
from netsentinel.traffic.report import SourceStatus, TriggerStatus
from netsentinel.traffic.savefile import append_packet

log = Logger()

MAX_REST = 1.0


def rest_for(idle: float) -> float:
    """How long sources may stop reading once a trigger is known to be busy."""
    return min(MAX_REST, idle / 20)


class Trigger:
    def __init__(self, config: TriggerConfig, clock: Any, runner: ActionRunner,
                 publish: Callable[[Event], None], faults: FaultRecorder | None = None) -> None:
        self.config = config
        self.faults = faults or FaultRecorder(clock)
        self.clock = clock
        self.runner = runner
        self.publish = publish
        self.state = State.STANDBY
        self.last_seen: float | None = None
        self.activations = 0
        self.failures = 0
        self._idle_call: Any = None
        self._standby_waiters: list[defer.Deferred[str]] = []

    # -- inputs

    def receive(self, batch: Batch, device: str) -> float:
        """Packets read from ``device``; returns how long its source may rest."""
        if self.state is State.STANDBY:
            self.last_seen = self.clock.seconds()
            self._fire(batch, device)
        elif self.state in UP and (not self.config.ack_only or has_tcp_ack(batch)):
            self.last_seen = self.clock.seconds()
        else:
            return 0.0
        return rest_for(self.config.idle)

    def standby(self) -> defer.Deferred[str]:
        """Run ``stop`` now (tuninetd's SIGHUP); fires once back in standby."""
        if self.state is State.STANDBY:
            return defer.succeed(f"{self.config.name} is already in standby")
        waiter: defer.Deferred[str] = defer.Deferred()
        self._standby_waiters.append(waiter)
        self._feed(Input.STANDBY, "forced")
        return waiter

    def shutdown(self) -> defer.Deferred[Any]:
        """The daemon or this trigger is going away: stop only if ``stop_on_exit``."""
        if self.config.stop_on_exit and self.state is not State.STANDBY:
            return self.standby()
        self._cancel_idle()
        return defer.succeed(None)

    def reconfigure(self, config: TriggerConfig) -> None:
        """Adopt a new command, idle time or options; the state is kept."""
        self.config = config
        self._cancel_idle()
        self._arm_idle()

    def status(self, sources: tuple[SourceStatus, ...] = ()) -> TriggerStatus:
        """This trigger now, with its service's ``sources`` (the trigger does not hold them)."""
        idle_for = None if self.last_seen is None else round(
            self.clock.seconds() - self.last_seen, 1)
        return TriggerStatus(self.state.value, self.config.idle, idle_for, self.activations,
                             self.failures, tuple(self.config.command), sources)

    # -- the machine and its effects

    def _fire(self, batch: Batch, device: str) -> None:
        when, packet = batch.first()
        text = str(decode(batch.linktype, packet))
        log.info("trigger {name}: first packet on {device}: {packet}", name=self.config.name,
                 device=device, packet=text)
        if self.config.capture is not None:
            try:
                append_packet(self.config.capture, batch.linktype, when, packet)
            except (OSError, ValueError) as e:
                log.warn("trigger {name}: cannot save the packet to {path}: {error}",
                         name=self.config.name, path=self.config.capture, error=str(e))
        self._feed(Input.PACKET, f"packet on {device}", text)

    def _feed(self, event: Input, cause: str, packet: str = "") -> None:
        before = self.state
        self.state, effect = step(before, event)
        if self.state is not before:
            log.info("trigger {name}: {before} -> {after} ({cause})", name=self.config.name,
                     before=before.value, after=self.state.value, cause=cause)
            self.publish(TriggerChanged(self.config.name, self.state.value, before.value,
                                        cause, packet))
        if effect is Effect.RUN_START:
            self.activations += 1
            self._run("start", Input.STARTED)
        elif effect is Effect.RUN_STOP:
            self._run("stop", Input.STOPPED)
        if self.state is State.ACTIVE:
            self._arm_idle()
        else:
            self._cancel_idle()
        if self.state is State.STANDBY:
            waiters, self._standby_waiters = self._standby_waiters, []
            for waiter in waiters:
                waiter.callback(f"{self.config.name} is in standby")

    def _run(self, verb: str, then: Input) -> None:
        d = self.runner.call(self.config.command, TriggerCall(verb))
        d.addCallbacks(self._command_ended, self._command_faulted, callbackArgs=(verb, then),
                       errbackArgs=(verb, then))
        d.addErrback(self.faults.errback("traffic", f"trigger {self.config.name} {verb}"))

    def _command_ended(self, result: ActionResult, verb: str, then: Input) -> None:
        if not result.ok:
            # the runner logged the output; like tuninetd, the state still changes
            self.failures += 1
        self._feed(then, f"{verb} ended: {result.reason} {result.code}")

    def _command_faulted(self, failure: Failure, verb: str, then: Input) -> None:
        """The runner itself raised: a fault, and a failed command, so the machine moves on."""
        self.faults.record("traffic", f"trigger {self.config.name} {verb}", failure)
        self.failures += 1
        self._feed(then, f"{verb} ended: fault")

    def _arm_idle(self) -> None:
        if self._idle_call is not None or self.state is not State.ACTIVE:
            return
        last = self.clock.seconds() if self.last_seen is None else self.last_seen
        delay = max(0.0, last + self.config.idle - self.clock.seconds())
        self._idle_call = self.clock.callLater(delay, self.faults.guarded(
            "traffic", f"trigger {self.config.name} idle check", self._idle_check))

    def _idle_check(self) -> None:
        self._idle_call = None
        assert self.last_seen is not None
        if self.clock.seconds() - self.last_seen >= self.config.idle:
            self._feed(Input.IDLE, f"no traffic for {self.config.idle:g}s")
        else:
            self._arm_idle()

    def _cancel_idle(self) -> None:
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None
