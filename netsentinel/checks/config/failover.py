"""``checks.failover.NAME``: a primary and a standby uplink, their probes and limits."""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from netsentinel.checks.config.common import INSTANCE, Probe, optional_address
from netsentinel.checks.config.common import probe as parse_probe
from netsentinel.schema import (
    Endpoint,
    Section,
    address,
    boolean,
    choice,
    endpoint,
    hostname,
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
    tier: int = 1                    # multi-WAN: 1 is the best; the best tier with a live uplink
    weight: int = 1                  # multi-WAN balance: its share of the multipath route
    probes: tuple[ProbeSpec, ...] = ()   # multi-WAN: empty means ICMP to targets()
    quorum: int = 0                  # multi-WAN: probes that must answer (0: all of them)
    where: dict[int, str] = attrs.field(factory=dict, eq=False)   # family: FILE:LINE: key

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
class ProbeSpec:
    """One multi-WAN probe: ``icmp`` to a host, a ``tcp`` connect, a ``dns`` answer, ``arp``
    of the gateway (``target`` None: the uplink's gateway)."""

    kind: str                        # icmp, tcp, dns, arp
    target: str | None = None        # icmp/tcp host, dns server
    port: int = 0                    # tcp
    name: str | None = None          # dns: the name asked for

    def text(self) -> str:
        """``tcp 192.0.2.9:443``: how status and reasons name the probe."""
        where = {"tcp": f"{self.target}:{self.port}",
                 "dns": f"{self.name}@{self.target}"}.get(self.kind, self.target or "gateway")
        return f"{self.kind} {where}"


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
    uplinks: tuple[Uplink, ...] = ()     # multi-WAN (``uplinks:``); empty: primary/standby
    mode: str = "failover"               # multi-WAN: failover or balance
    flush_conntrack: bool = True
    sticky: bool = False                 # connmark keeps a connection on its uplink

    @property
    def members(self) -> tuple[Uplink, ...]:
        """Every uplink of the instance, in order."""
        return self.uplinks or (self.primary, self.standby)

    @property
    def families(self) -> list[int]:
        """The address families whose default route this instance manages."""
        return sorted({f for u in self.members for f in u.gateways()})

    @property
    def routes(self) -> set[tuple[int, int]]:
        """(metric, family) of every default route this instance owns."""
        return {(self.metric, family) for family in self.families}


def _uplink(s: Section, role: str, default_table: int, probe: Probe,
            finish: bool = True) -> Uplink:
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
                    _quality(s.section("quality"), probe) if s.has("quality") else None,
                    where={f: f"{s.file}:{s.line_of(k)}: {s.key_path(k)}"
                           for f, k in ((4, "gateway"), (6, "gateway6")) if s.has(k)})
    if finish:
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
    if s.has("uplinks"):
        return parse_multiwan(name, s)
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


MULTIWAN_TABLES = 30000      # uplink i of an instance at metric m: table 30000 + 8 * (m % 10000) + i
PROBE_KINDS = ("icmp", "tcp", "dns", "arp")


def parse_multiwan(name: str, s: Section) -> FailoverConfig:
    """``uplinks:``: 2 to 8 named uplinks in tiers, ``mode`` failover or balance."""
    metric = s.get("metric", integer(0, 0xFFFFFFFF), 201)
    probe = parse_probe(s)
    mode = s.get("mode", choice("failover", "balance"), "failover")
    entries = list(s.section("uplinks").sections())
    if not 2 <= len(entries) <= 8:
        s.problem(f"uplinks takes 2 to 8 uplinks, not {len(entries)}", s.line_of("uplinks"),
                  "uplinks")
    base = MULTIWAN_TABLES + 8 * (metric % 10000)
    uplinks = [_member(n, e, base + i, probe) for i, (n, e) in enumerate(entries)]
    _check_members(s, uplinks, mode)
    while len(uplinks) < 2:          # already a problem; the fields still need two
        uplinks.append(Uplink("Uplink", "?", "?", "0.0.0.0"))
    config = FailoverConfig(
        name, uplinks[0], uplinks[1], s.get("interval", number(0.1, 3600), 1.0), probe,
        s.get("prefer_primary", boolean, True), metric,
        s.get("down_after", integer(1, 1000), 3), s.get("up_after", integer(1, 1000), 5),
        s.get("min_switch_interval", number(0, 86400), 0.0),
        _quality(s.section("quality"), probe) if s.has("quality") else None,
        tuple(uplinks), mode, s.get("flush_conntrack", boolean, True),
        s.get("sticky", boolean, mode == "balance"))
    for key in ("primary", "standby"):
        if s.has(key):
            s.problem(f"{key} is the two-uplink form: use uplinks or primary/standby, not both",
                      s.line_of(key), key)
    s.done()
    return config


def _member(name: str, s: Section, table: int, probe: Probe) -> Uplink:
    pair = _uplink(s, "Uplink", table, probe, finish=False)
    if not INSTANCE.match(name):
        s.problem(f"uplink name must be letters, digits, '_', '.', '-': {name!r}")
    probes = tuple(p for item in s.items("probes") if (p := _probe_spec(s, item)) is not None)
    count = len(probes) or len(pair.targets())
    quorum = s.get("quorum", integer(1, 16), count)
    if quorum > count:
        s.problem(f"quorum {quorum} is more than the {count} probes",
                  s.line_of("quorum"), "quorum")
    uplink = attrs.evolve(pair, name=name, tier=s.get("tier", integer(1, 8), 1),
                          weight=s.get("weight", _weight, 1), probes=probes, quorum=quorum)
    s.done()
    return uplink


def _weight(value: Any) -> int:
    if value == 0:
        raise invalid("a weight of 0 would never carry traffic: leave the uplink out, "
                      "or give it a tier of its own")
    return integer(1, 256)(value)


def _probe_spec(s: Section, item: Any) -> ProbeSpec | None:
    """``arp``, ``{icmp: HOST}``, ``{tcp: HOST:PORT}``, ``{dns: {server, name}}``."""
    line = s.line_of("probes")
    if item == "arp":
        return ProbeSpec("arp")
    if not isinstance(item, Section) or len(item.keys()) != 1 or item.keys()[0] not in PROBE_KINDS:
        s.problem(f"a probe is arp or one of {{icmp: HOST}}, {{tcp: HOST:PORT}}, "
                  f"{{dns: {{server: IP, name: NAME}}}}, not {item!r}", line, "probes")
        return None
    kind = item.keys()[0]
    if kind == "dns":
        d = item.section("dns")
        spec = ProbeSpec("dns", d.get("server", optional_address), 53, d.get("name", hostname))
        d.done()
        return spec
    if kind == "arp":
        return ProbeSpec("arp", item.get("arp", optional_address, None))
    if kind == "icmp":
        return ProbeSpec("icmp", item.get("icmp", optional_address))
    found = item.get("tcp", _tcp_target, None)
    return None if found is None else ProbeSpec("tcp", found.host, found.port)


def _tcp_target(value: Any) -> Endpoint:
    """``HOST:PORT`` with an address for HOST: a probe must not wait on DNS."""
    found = endpoint(value)
    address(found.host)
    return found


def _check_members(s: Section, uplinks: list[Uplink], mode: str) -> None:
    """What no single uplink can see: duplicates, holes in the tiers, balance of one."""
    line = s.line_of("uplinks")
    for what in ("interface", "table"):
        seen: dict[object, str] = {}
        for u in uplinks:
            value = getattr(u, what)
            if value in seen:
                s.problem(f"{u.name} and {seen[value]} share {what} {value}", line, "uplinks")
            seen.setdefault(value, u.name)
    tiers = {u.tier for u in uplinks}
    for tier in range(1, max(tiers, default=1)):
        if tier not in tiers:
            s.problem(f"tier {tier} has no uplink (tiers count up from 1)", line, "uplinks")
    if mode == "balance" and uplinks and max(
            sum(u.tier == t for u in uplinks) for t in tiers) < 2:
        s.problem("balance needs two uplinks in one tier: every tier here has one uplink "
                  "(use mode: failover)", s.line_of("mode"), "mode")
