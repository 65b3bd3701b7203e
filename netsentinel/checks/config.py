"""The ``checks:`` section: named instances of ping, updown, ddns and failover."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.checks.provider_config import (  # noqa: F401 - UpdateConfig: its home once
    UpdateConfig,
    _credential,
    _hostname,
    _update,
    _update_url,
    _url,
)
from netsentinel.schema import (
    Section,
    boolean,
    choice,
    command,
    existing_file,
    integer,
    invalid,
    ip_address,
    list_of,
    number,
    writable_path,
)

INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IFNAME = re.compile(r"^[^\s/:]{1,15}$")


@attrs.frozen
class Probe:
    """How one check pings: ``count`` packets, each waited for ``wait`` seconds."""

    count: int = 2
    wait: float = 1.0


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


@attrs.frozen
class UrlSource:
    url: str
    ca: str | None = None            # PEM file of the CA to trust instead of the system's

    def describe(self) -> str:
        return self.url


@attrs.frozen
class DnsSource:
    name: str
    server: str
    port: int = 53

    def describe(self) -> str:
        return f"dns {self.name} @{self.server}"


@attrs.frozen
class InterfaceSource:
    interface: str

    def describe(self) -> str:
        return f"interface {self.interface}"


Source = UrlSource | DnsSource | InterfaceSource


@attrs.frozen
class DdnsConfig:
    name: str
    sources: tuple[Source, ...]
    interval: float = 300.0
    family: int = 4
    accept_private: bool = False
    state_file: str | None = None
    timeout: float = 10.0
    update: UpdateConfig | None = None


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


@attrs.frozen
class ChecksConfig:
    action: tuple[str, ...] | None = None
    ping: tuple[PingConfig, ...] = ()
    updown: tuple[UpdownConfig, ...] = ()
    ddns: tuple[DdnsConfig, ...] = ()
    failover: tuple[FailoverConfig, ...] = ()


def _address(value: Any) -> str:
    return str(ip_address(value))


def _interface(value: Any) -> str:
    if not isinstance(value, str) or not IFNAME.match(value):
        raise invalid(f"not an interface name: {value!r}")
    return value


def _probe(section: Section) -> Probe:
    return Probe(section.get("count", integer(1, 100), 2), section.get("wait", number(0.01, 60), 1.0))


def _instances(section: Section, key: str) -> list[tuple[str, Section]]:
    out = []
    for name, entry in section.section(key).sections():
        if not INSTANCE.match(name):
            entry.problem(f"instance name must be letters, digits, '_', '.', '-': {name!r}")
        out.append((name, entry))
    return out


def parse(section: Section, options: Mapping[str, Any]) -> ChecksConfig | None:
    if not section.keys():
        return None
    config = ChecksConfig(
        action=section.get("action", command, None),
        ping=tuple(_ping(n, s) for n, s in _instances(section, "ping")),
        updown=tuple(_updown(n, s) for n, s in _instances(section, "updown")),
        ddns=tuple(_ddns(n, s) for n, s in _instances(section, "ddns")),
        failover=tuple(_failover(n, s) for n, s in _instances(section, "failover")),
    )
    section.done()
    return config


def _ping(name: str, s: Section) -> PingConfig:
    alarm = None
    if s.has("alarm"):
        a = s.section("alarm")
        alarm = Alarm(a.get("loss", number(0, 1), None), a.get("latency", number(0, 60), None),
                      a.get("hold", number(0, 86400), 30.0))
        if alarm.loss is None and alarm.latency is None:
            a.problem("an alarm needs loss, latency or both")
        a.done()
    config = PingConfig(name, s.get("target", _address), s.get("interval", number(0.1, 86400), 10.0),
                        _probe(s), s.get("interface", _interface, None),
                        s.get("source", _address, None), s.get("window", integer(1, 10000), 10),
                        alarm, s.get("log", boolean, True))
    s.done()
    return config


def _updown(name: str, s: Section) -> UpdownConfig:
    if s.has("target") == s.has("targets"):
        s.problem("set either target or targets")
    targets = ((s.get("target", _address, None),) if s.has("target")
               else s.get("targets", list_of(_address), ()))
    targets = tuple(t for t in targets if t is not None)
    quorum = s.get("quorum", integer(1, 1000), 1)
    if targets and quorum > len(targets):
        s.problem(f"quorum {quorum} is more than the {len(targets)} targets", s.line_of("quorum"),
                  "quorum")
    interval = s.get("interval", number(0.1, 86400), 10.0)
    dns_server = s.get("dns_server", _address, None)
    dns_lookup = s.get("dns_lookup", _hostname, None)
    if (dns_server is None) != (dns_lookup is None):
        s.problem("dns_server and dns_lookup go together")
    config = UpdownConfig(
        name, targets, quorum, interval,
        s.get("fast_interval", number(0.1, 86400), min(1.0, interval)), _probe(s),
        s.get("down_after", integer(1, 1000), 3), s.get("up_after", integer(1, 1000), 2),
        s.get("addping", list_of(_address), ()), dns_server, dns_lookup,
        s.get("interface", _interface, None))
    s.done()
    return config


def _source(item: Any, parent: Section) -> Source | None:
    if isinstance(item, str):
        try:
            return UrlSource(_url(item))
        except Exception as e:  # noqa: BLE001 - the schema's invalid(), reported below
            parent.problem(str(e), parent.line_of("sources"), "sources")
            return None
    if not isinstance(item, Section):
        parent.problem(f"a source is a URL or a mapping, got {item!r}", parent.line_of("sources"),
                       "sources")
        return None
    source: Source | None = None
    kinds = [k for k in ("url", "dns", "interface") if item.has(k)]
    if len(kinds) != 1:
        item.problem("a source has exactly one of url, dns, interface")
    elif kinds == ["url"]:
        source = UrlSource(item.get("url", _url), item.get("ca", existing_file, None))
    elif kinds == ["dns"]:
        d = item.section("dns")
        source = DnsSource(d.get("name", _hostname), d.get("server", _address),
                           d.get("port", integer(1, 65535), 53))
        d.done()
    else:
        source = InterfaceSource(item.get("interface", _interface))
    item.done()
    return source


def _ddns(name: str, s: Section) -> DdnsConfig:
    sources = tuple(src for item in s.items("sources") if (src := _source(item, s)) is not None)
    if not sources:
        s.problem("at least one source is needed", s.line_of("sources"), "sources")
    config = DdnsConfig(
        name, sources, s.get("interval", number(1, 86400 * 7), 300.0),
        int(s.get("family", choice("ipv4", "ipv6"), "ipv4")[-1]),
        s.get("accept_private", boolean, False), s.get("state_file", _optional_path, None),
        s.get("timeout", number(0.1, 300), 10.0),
        _update(s.section("update")) if s.has("update") else None)
    s.done()
    return config


def _optional_path(value: Any) -> str | None:
    return None if value is None else writable_path(value)


def _uplink(s: Section, role: str, default_table: int, probe: Probe) -> Uplink:
    gateway6 = _family_address(s, "gateway6", 6)
    ping6 = _family_address(s, "ping6", 6)
    # without gateway6 a missing gateway is an on-link IPv4 route, as before IPv6 came in
    gateway = _family_address(s, "gateway", 4) if s.has("gateway") or gateway6 is None else None
    if gateway is None and gateway6 is None:
        s.problem("an uplink needs gateway, gateway6 or both")
    ping = s.get("ping", _optional_address, None)
    if ping is not None and gateway is None:
        s.problem("ping probes the IPv4 side: it needs gateway", s.line_of("ping"), "ping")
    if ping6 is not None and gateway6 is None:
        s.problem("ping6 probes the IPv6 side: it needs gateway6", s.line_of("ping6"), "ping6")
    uplink = Uplink(role, s.get("interface", _interface, "?"), s.get("name", _uplink_name, role.lower()),
                    gateway, ping, s.get("postping", _optional_address, None),
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
    address = s.get(key, _optional_address, "0.0.0.0" if key == "gateway" else None)
    if address is not None and ipaddress.ip_address(address).version != family:
        s.problem(f"{key} must be an IPv{family} address", s.line_of(key), key)
    return address


def _optional_address(value: Any) -> str | None:
    return None if value is None or value == "" else _address(value)


def _failover(name: str, s: Section) -> FailoverConfig:
    metric = s.get("metric", integer(0, 0xFFFFFFFF), 201)
    probe = _probe(s)
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
