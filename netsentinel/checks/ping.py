"""The ping monitor: each check's result, a rolling window, and dpinger-style alarms."""

from __future__ import annotations

import attrs
from twisted.internet import defer

from netsentinel.checks.config import Alarm, PingConfig
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.ping_report import PingStatus
from netsentinel.checks.stats import ProbeResult, Window


@attrs.define
class AlarmState:
    """Raised when the window crosses a threshold; cleared only after ``hold`` seconds."""

    alarm: Alarm
    raised_at: float | None = None

    def breaches(self, window: ProbeResult) -> list[str]:
        found = []
        if self.alarm.loss is not None and window.loss > self.alarm.loss:
            found.append("loss")
        if (self.alarm.latency is not None and window.received
                and window.avg_rtt > self.alarm.latency * 1000.0):
            found.append("latency")
        return found

    def feed(self, window: ProbeResult, now: float) -> tuple[str, list[str]] | None:
        """``("raise", reasons)``, ``("clear", [])`` or None when nothing changes."""
        reasons = self.breaches(window)
        if self.raised_at is None and reasons:
            self.raised_at = now
            return "raise", reasons
        if self.raised_at is not None and not reasons and now - self.raised_at >= self.alarm.hold:
            self.raised_at = None
            return "clear", []
        return None


class PingMonitor(Monitor):
    monitor = "ping"
    config: PingConfig

    def __init__(self, config: PingConfig, tools: Tools) -> None:
        super().__init__(config, tools)
        self.window = Window(config.target, config.window)
        self.alarm = AlarmState(config.alarm) if config.alarm is not None else None
        self.last: ProbeResult | None = None

    def check(self) -> defer.Deferred[None]:
        c = self.config
        d = self.tools.engine.ping(c.target, c.probe.count, c.probe.wait,
                                   interface=c.interface, source=c.source)
        return d.addCallback(self._checked)

    def _checked(self, result: ProbeResult) -> None:
        self.last = result
        self.window.add(result)
        self.event("ping-result", result.imon_result(), logged=self.config.log)
        if self.alarm is None:
            return
        window = self.window.total()
        change = self.alarm.feed(window, self.tools.clock.seconds())
        if change is None:
            return
        figures = (str(window.loss), str(window.avg_rtt))
        if change[0] == "raise":
            self.event("ping-alarm", self.config.target, "+".join(change[1]), *figures)
        else:
            self.event("ping-alarm-clear", self.config.target, *figures)

    def status(self) -> PingStatus:
        return PingStatus(self.config.target,
                          self.last.snapshot() if self.last else None,
                          self.window.total().snapshot() if self.last else None,
                          self.alarm is not None and self.alarm.raised_at is not None)
