"""``checks.failover.NAME``: a primary and a standby uplink, their probes and limits."""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from netsentinel.checks.config.common import Probe, optional_address
from netsentinel.checks.config.common import probe as parse_probe
from netsentinel.schema import (
    Section,
    boolean,
    integer,
    interface_name,
    invalid,
    number,
)


@attrs.frozen
class Uplink:
    role: str                        # Primary or Standby, as imon writes it
    interface: str
    name: str
    gateway: str | None              # IPv4 gateway; None: the uplink has no IPv4
    ping: str | None = None          # probe target instead of the gateway
    postping: str | None = None
    table: int = 0                   # routing table for probes to a remote ``ping``/``ping6``
    gateway6: str | None = None      # IPv6 gateway (link-local is fine: the route names the device)
    ping6: str | None = None         # IPv6 probe target instead of ``gateway6``
    quality: Quality | None = None   # this uplink's own limits (an LTE standby is slower)

    @property
    def target(self) -> str | None:
        return self.ping or self.gateway

    @property
    def target6(self) -> str | None:
        return self.ping6 or self.gateway6

    def gateways(self) -> dict[int, str]:
        """The uplink's gateway per address family it carries (4, 6 or both)."""
        found = {4: self.gateway, 6: self.gateway6}
        return {family: gateway for family, gateway in found.items() if gateway is not None}

    def targets(self) -> dict[int, str]:
        """What is probed per family; the uplink is healthy only while all of them answer."""
        found = {4: self.target if self.gateway is not None else None,
                 6: self.target6 if self.gateway6 is not None else None}
        return {family: target for family, target in found.items() if target is not None}


@attrs.frozen
class Quality:
    """mwan3's check_quality: thresholds over a moving window of rounds (None: not checked).

    ``failure_*`` apply while an uplink is up, ``recovery_*`` (no higher) while it
    is down; an unset recovery threshold is its failure one.
    """

    window: int = 10                        # rounds whose probes are summed
    failure_loss: float | None = None       # fraction 0..1
    failure_latency: float | None = None    # seconds, average RTT
    recovery_loss: float | None = None
    recovery_latency: float | None = None


@attrs.frozen
class FailoverConfig:
    name: str
    primary: Uplink
    standby: Uplink
    interval: float = 1.0
    probe: Probe = Probe()
    prefer_primary: bool = True
    metric: int = 201
    down_after: int = 3
    up_after: int = 5
    min_switch_interval: float = 30.0
    quality: Quality | None = None

    @property
    def families(self) -> list[int]:
        """The address families whose default route this instance manages."""
        return sorted({f for u in (self.primary, self.standby) for f in u.gateways()})

    @property
    def routes(self) -> set[tuple[int, int]]:
        """(metric, family) of every default route this instance owns."""
        return {(self.metric, family) for family in self.families}


def _uplink(s: Section, role: str, default_table: int, probe: Probe) -> Uplink:
    gateway6 = _family_address(s, "gateway6", 6)
    ping6 = _family_address(s, "ping6", 6)
    # without gateway6 a missing gateway is an on-link IPv4 route, as before IPv6 came in
    gateway = _family_address(s, "gateway", 4) if s.has("gateway") or gateway6 is None else None
    if gateway is None and gateway6 is None:
        s.problem("an uplink needs gateway, gateway6 or both")
    ping = s.get("ping", optional_address, None)
    if ping is not None and gateway is None:
        s.problem("ping probes the IPv4 side: it needs gateway", s.line_of("ping"), "ping")
    if ping6 is not None and gateway6 is None:
        s.problem("ping6 probes the IPv6 side: it needs gateway6", s.line_of("ping6"), "ping6")
    uplink = Uplink(role, s.get("interface", interface_name, "?"), s.get("name", _uplink_name, role.lower()),
                    gateway, ping, s.get("postping", optional_address, None),
                    s.get("table", integer(1, 0xFFFFFFF0), default_table), gateway6, ping6,
                    _quality(s.section("quality"), probe) if s.has("quality") else None)
    s.done()
    return uplink


def _uplink_name(value: Any) -> str:
    """The NAME of the action's ``NAME:ROLE:IF:IP``; "" is imon's empty ``primary-name``."""
    if not isinstance(value, str) or any(c in value for c in ": \t\n"):
        raise invalid(f"expected a name without ':' or spaces (\"\" for none), got {value!r}")
    return value


def _family_address(s: Section, key: str, family: int) -> str | None:
    """An optional address of one family (``gateway`` defaults to on-link 0.0.0.0)."""
    address = s.get(key, optional_address, "0.0.0.0" if key == "gateway" else None)
    if address is not None and ipaddress.ip_address(address).version != family:
        s.problem(f"{key} must be an IPv{family} address", s.line_of(key), key)
    return address


def parse_failover(name: str, s: Section) -> FailoverConfig:
    metric = s.get("metric", integer(0, 0xFFFFFFFF), 201)
    probe = parse_probe(s)
    config = FailoverConfig(
        name,
        _uplink(s.section("primary", required=True), "Primary", 1000 + 2 * (metric % 10000),
                probe),
        _uplink(s.section("standby", required=True), "Standby", 1001 + 2 * (metric % 10000),
                probe),
        s.get("interval", number(0.1, 3600), 1.0), probe,
        s.get("prefer_primary", boolean, True), metric,
        s.get("down_after", integer(1, 1000), 3), s.get("up_after", integer(1, 1000), 5),
        s.get("min_switch_interval", number(0, 86400), 30.0))
    if s.has("quality"):
        config = attrs.evolve(config, quality=_quality(s.section("quality"), config.probe))
    if config.primary.interface == config.standby.interface:
        s.problem("primary and standby must use different interfaces")
    s.done()
    return config


def _quality(s: Section, probe: Probe) -> Quality:
    quality = Quality(s.get("window", integer(1, 10000), 10),
                      s.get("failure_loss", number(0, 1), None),
                      s.get("failure_latency", number(0, 60), None),
                      s.get("recovery_loss", number(0, 1), None),
                      s.get("recovery_latency", number(0, 60), None))
    limits = {key: getattr(quality, key) for key in
              ("failure_loss", "failure_latency", "recovery_loss", "recovery_latency")}
    if all(limit is None for limit in limits.values()):
        s.problem("quality needs at least one of failure_loss, failure_latency, "
                  "recovery_loss, recovery_latency")
    for kind in ("loss", "latency"):
        failure, recovery = limits[f"failure_{kind}"], limits[f"recovery_{kind}"]
        if failure == 0:
            s.problem("0 fails every round: use a value above 0", s.line_of(f"failure_{kind}"),
                      f"failure_{kind}")
        if failure is not None and recovery is not None and recovery > failure:
            s.problem(f"recovery_{kind} {recovery} is above failure_{kind} {failure}: an "
                      "uplink must be better to come back than to stay",
                      s.line_of(f"recovery_{kind}"), f"recovery_{kind}")
    for key in ("failure_latency", "recovery_latency"):
        limit = limits[key]
        if limit is not None and limit >= probe.wait:
            # a reply later than ``wait`` counts as lost, so no average can reach the limit
            s.problem(f"{limit} is not below wait {probe.wait}: replies that late count as "
                      "lost, never as latency", s.line_of(key), key)
    s.done()
    return quality
