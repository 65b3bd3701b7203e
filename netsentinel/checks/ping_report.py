"""What a ping instance reports: the last check, the window, and whether its alarm is up."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from twisted.web.template import Tag, tags

from netsentinel.checks.stats import ProbeStatus
from netsentinel.metrics import Family, gauge
from netsentinel.page import grid
from netsentinel.readable import ms, percent

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


@attrs.frozen
class PingStatus:
    """One ping instance; ``last`` and ``window`` are None until the first check."""

    target: str
    last: ProbeStatus | None
    window: ProbeStatus | None
    alarm: bool

    def problems(self, name: str) -> list[str]:
        return [f"ping {name}: alarm on {self.target}"] if self.alarm else []

    def metrics(self, name: str) -> list[Family]:
        labels = (name, self.target)
        window = self.window
        received = window.received if window else 0     # jitter needs two replies
        return [
            LAST_RTT.of(self.last.rtt if self.last else None, *labels),
            RTT.of(window.rtt if window else None, *labels),
            LOSS.of(window.loss if window else None, *labels),
            JITTER.of(window.jitter / 1000.0 if window and received > 1 else None, *labels),
            ALARM.of(self.alarm, *labels),
        ]


def ping_grid(pings: Mapping[str, PingStatus]) -> list[Tag]:
    """The ping instances, one row each, those in alarm marked."""
    return [tags.h3("ping"), grid(
        ("name", "target", "last rtt", "rtt", "loss", "jitter", "alarm"),
        [(n, p.target, ms(_avg(p.last)), ms(_avg(p.window)),
          percent(p.window.loss if p.window else None),
          ms(p.window.jitter if p.window else None), p.alarm) for n, p in pings.items()],
        [p.alarm for p in pings.values()], id="ping")]


def _avg(figures: ProbeStatus | None) -> float | None:
    """The average RTT in ms as the page shows it; None when nothing answered."""
    return figures.avg_rtt if figures and figures.received else None
