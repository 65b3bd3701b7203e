"""What the checks feature reports: every monitor instance by kind, and the ICMP engine.

A kind's field is left out while no instance of it is configured, as ``status`` always
did; each instance's snapshot says its own problems, metrics and row of the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.checks.ddns_report import DdnsStatus, ddns_grid
from netsentinel.checks.failover_report import FailoverStatus, failover_grid
from netsentinel.checks.icmp import EngineStatus
from netsentinel.checks.monitor import MonitorStatus
from netsentinel.checks.ping_report import PingStatus, ping_grid
from netsentinel.checks.updown_report import UpdownStatus, updown_grid
from netsentinel.metrics import Family, counter
from netsentinel.page import PageView
from netsentinel.snapshot import omitted, to_json

EVENTS = counter("netsentinel_checks_events_total", "Events reported by the monitors.")
ICMP_SENT = counter("netsentinel_icmp_requests_total", "ICMP echo requests sent.")
ICMP_RECEIVED = counter("netsentinel_icmp_replies_total", "ICMP echo replies matched.")
ICMP_ERRORS = counter("netsentinel_icmp_send_errors_total", "Echo requests the kernel refused.")


@attrs.frozen(kw_only=True)
class ChecksStatus:
    """The checks feature: instances by kind and name (sorted), the engine (None once
    stopped) and the events the monitors reported."""

    ddns: dict[str, DdnsStatus] | None = omitted()
    failover: dict[str, FailoverStatus] | None = omitted()
    ping: dict[str, PingStatus] | None = omitted()
    updown: dict[str, UpdownStatus] | None = omitted()
    engine: EngineStatus | None
    events: int

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def instances(self) -> list[tuple[str, MonitorStatus]]:
        """Every instance with its name, in the page's order: ping, updown, ddns, failover."""
        groups: list[Mapping[str, MonitorStatus]] = [
            self.ping or {}, self.updown or {}, self.ddns or {}, self.failover or {}]
        return [(name, status) for group in groups for name, status in group.items()]

    def problems(self) -> list[str]:
        return [line for name, status in self.instances() for line in status.problems(name)]

    def metrics(self) -> list[Family]:
        families = [EVENTS.of(self.events)]
        if self.engine is not None:
            families += [ICMP_SENT.of(self.engine.sent), ICMP_RECEIVED.of(self.engine.received),
                         ICMP_ERRORS.of(self.engine.send_errors)]
        for name, status in self.instances():
            families += status.metrics(name)
        return families

    def section(self, view: PageView) -> Tag | str:
        parts: list[Tag] = [tags.h2("checks")]
        if self.ping:
            parts += ping_grid(self.ping)
        if self.updown:
            parts += updown_grid(self.updown)
        if self.ddns:
            parts += ddns_grid(self.ddns, view.now)
        if self.failover:
            parts += failover_grid(self.failover, view.now)
        engine = self.engine
        if engine is not None:
            parts.append(tags.p(
                f"ICMP: {engine.sent} sent, {engine.received} received, "
                f"{engine.send_errors} send errors, {engine.in_flight} in flight",
                class_="muted"))
        return tags.section(parts)
