"""``checks.ping.NAME``: RTT and loss of one target, with an optional alarm."""

from __future__ import annotations

import attrs

from netsentinel.checks.config.common import Probe, probe
from netsentinel.schema import (
    Section,
    address,
    boolean,
    integer,
    interface_name,
    number,
)


@attrs.frozen
class Alarm:
    loss: float | None = None        # fraction 0..1 over the window
    latency: float | None = None     # seconds, average RTT over the window
    hold: float = 30.0               # an alarm stays raised at least this long


@attrs.frozen
class PingConfig:
    name: str
    target: str
    interval: float = 10.0
    probe: Probe = Probe()
    interface: str | None = None
    source: str | None = None
    window: int = 10
    alarm: Alarm | None = None
    log: bool = True                 # log every result (alarms are always logged)


def parse_ping(name: str, s: Section) -> PingConfig:
    alarm = None
    if s.has("alarm"):
        a = s.section("alarm")
        alarm = Alarm(a.get("loss", number(0, 1), None), a.get("latency", number(0, 60), None),
                      a.get("hold", number(0, 86400), 30.0))
        if alarm.loss is None and alarm.latency is None:
            a.problem("an alarm needs loss, latency or both")
        a.done()
    config = PingConfig(name, s.get("target", address), s.get("interval", number(0.1, 86400), 10.0),
                        probe(s), s.get("interface", interface_name, None),
                        s.get("source", address, None), s.get("window", integer(1, 10000), 10),
                        alarm, s.get("log", boolean, True))
    s.done()
    return config
