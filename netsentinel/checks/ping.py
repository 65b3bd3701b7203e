"""The ping monitor: each check's result, a rolling window, and dpinger-style alarms."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet import defer

from netsentinel.checks.config import Alarm, PingConfig
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.stats import ProbeResult, Window, rtt_seconds
from netsentinel.metrics import Family, gauge

LAST_RTT = gauge("netsentinel_ping_last_rtt_seconds",
                 "Average RTT of the last check (absent when no reply came back).",
                 "name", "target")
RTT = gauge("netsentinel_ping_rtt_seconds", "Average RTT over the window of recent checks.",
            "name", "target")
LOSS = gauge("netsentinel_ping_loss_ratio",
             "Share of echo requests without a reply over the window, 0 to 1.",
             "name", "target")
JITTER = gauge("netsentinel_ping_jitter_seconds",
               "Mean difference between consecutive RTTs over the window.", "name", "target")
ALARM = gauge("netsentinel_ping_alarm", "1 while the loss or latency alarm is raised.",
              "name", "target")


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

    def status(self) -> dict[str, Any]:
        return {"target": self.config.target,
                "last": self.last.to_dict() if self.last else None,
                "window": self.window.total().to_dict() if self.last else None,
                "alarm": self.alarm is not None and self.alarm.raised_at is not None}

    def metrics(self) -> list[Family]:
        state = self.status()
        window = state["window"]
        labels = (self.config.name, self.config.target)
        received = window["received"] if window else 0   # jitter needs two replies
        return [
            LAST_RTT.of(rtt_seconds(state["last"]), *labels),
            RTT.of(rtt_seconds(window), *labels),
            LOSS.of(window["loss"] if window else None, *labels),
            JITTER.of(window["jitter"] / 1000.0 if received > 1 else None, *labels),
            ALARM.of(state["alarm"], *labels),
        ]
