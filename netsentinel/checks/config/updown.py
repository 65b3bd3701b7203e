"""``checks.updown.NAME``: imon's internet up/down with quorum and hysteresis."""

from __future__ import annotations

import attrs

from netsentinel.checks.config.common import Probe, probe
from netsentinel.schema import (
    Section,
    address,
    hostname,
    integer,
    interface_name,
    list_of,
    number,
)


@attrs.frozen
class UpdownConfig:
    name: str
    targets: tuple[str, ...]
    quorum: int = 1
    interval: float = 10.0
    fast_interval: float = 1.0
    probe: Probe = Probe()
    down_after: int = 3
    up_after: int = 2
    addping: tuple[str, ...] = ()
    dns_server: str | None = None
    dns_lookup: str | None = None
    interface: str | None = None


def parse_updown(name: str, s: Section) -> UpdownConfig:
    if s.has("target") == s.has("targets"):
        s.problem("set either target or targets")
    targets = ((s.get("target", address, None),) if s.has("target")
               else s.get("targets", list_of(address), ()))
    targets = tuple(t for t in targets if t is not None)
    quorum = s.get("quorum", integer(1, 1000), 1)
    if targets and quorum > len(targets):
        s.problem(f"quorum {quorum} is more than the {len(targets)} targets", s.line_of("quorum"),
                  "quorum")
    interval = s.get("interval", number(0.1, 86400), 10.0)
    dns_server = s.get("dns_server", address, None)
    dns_lookup = s.get("dns_lookup", hostname, None)
    if (dns_server is None) != (dns_lookup is None):
        s.problem("dns_server and dns_lookup go together")
    config = UpdownConfig(
        name, targets, quorum, interval,
        s.get("fast_interval", number(0.1, 86400), min(1.0, interval)), probe(s),
        s.get("down_after", integer(1, 1000), 3), s.get("up_after", integer(1, 1000), 2),
        s.get("addping", list_of(address), ()), dns_server, dns_lookup,
        s.get("interface", interface_name, None))
    s.done()
    return config
