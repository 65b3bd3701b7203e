"""The ``forward:`` section and the ``--forward LISTEN=BACKEND`` options, as frozen values.

Limits and timeouts live in their own value objects so that a reload can tell
"only these changed" (applied in place, connections kept) from a change of
address (the listener is rebuilt).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Endpoint,
    Problem,
    Section,
    _Invalid,
    boolean,
    choice,
    endpoint,
    integer,
    invalid,
    ip_network,
    list_of,
    listen_endpoint,
    number,
    string,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@attrs.frozen
class Limits:
    """Admission limits; 0 means none."""

    conn_limit: int = 0
    conn_limit_action: str = "wait"      # wait: stop accepting; reject: accept and close
    ip_limit: int = 0
    per_ip_limit: int = 0
    per_ip_rate: float = 0.0


@attrs.frozen
class Timeouts:
    """Seconds; 0 disables (wait_timeout 0 closes at once on stop)."""

    read: float = 600.0
    write: float = 600.0
    max_idle: float = 900.0
    connect: float = 10.0
    wait: float = 60.0
    fin: float = 60.0


@attrs.frozen
class NftSetRef:
    family: str
    table: str
    name: str       # IPv4 entries; IPv6 entries go to ``name + "6"``

    @property
    def name6(self) -> str:
        return self.name + "6"


@attrs.frozen
class ServiceConfig:
    name: str
    listen: Endpoint
    backend: Endpoint
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    blacklist: tuple[Network, ...] = ()
    blacklist_set: NftSetRef | None = None
    keepalive: bool = True
    nodelay: bool = True
    print_bytes: bool = False
    print_bytes_max: int = 256
    send_proxy: str | None = None
    log_connections: bool = False
    backlog: int = 1024

    def same_listener(self, other: ServiceConfig) -> bool:
        """True when ``other`` can be adopted by the running listener."""
        return (self.listen, self.backlog) == (other.listen, other.backlog)


@attrs.frozen
class ForwardConfig:
    services: tuple[ServiceConfig, ...] = ()

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)


def _nft_set(value: Any) -> NftSetRef:
    parts = string(value).split()
    if len(parts) != 3 or parts[0] not in ("inet", "ip", "ip6", "bridge", "netdev"):
        raise invalid(f"expected 'FAMILY TABLE SET' such as 'inet filter ns_block', got {value!r}")
    return NftSetRef(*parts)


def _service(name: str, section: Section) -> ServiceConfig:
    if not NAME.match(name):
        section.problem(f"service name must be letters, digits, '_', '.', '-', got {name!r}")
    seconds = number(0, 86400 * 365)
    limits = Limits(
        conn_limit=section.get("conn_limit", integer(0, 1_000_000), 0),
        conn_limit_action=section.get("conn_limit_action", choice("wait", "reject"), "wait"),
        ip_limit=section.get("ip_limit", integer(0, 1_000_000), 0),
        per_ip_limit=section.get("per_ip_limit", integer(0, 1_000_000), 0),
        per_ip_rate=section.get("per_ip_rate", number(0, 1_000_000), 0.0),
    )
    timeouts = Timeouts(
        read=section.get("read_timeout", seconds, 600.0),
        write=section.get("write_timeout", seconds, 600.0),
        max_idle=section.get("max_idle", seconds, 900.0),
        connect=section.get("connect_timeout", number(0.001, 3600), 10.0),
        wait=section.get("wait_timeout", seconds, 60.0),
        fin=section.get("fin_timeout", seconds, 60.0),
    )
    config = ServiceConfig(
        name=name,
        listen=section.get("listen", listen_endpoint),
        backend=section.get("backend", endpoint),
        limits=limits,
        timeouts=timeouts,
        blacklist=section.get("ip_blacklist", list_of(ip_network), ()),
        blacklist_set=section.get("blacklist_set", _nft_set, None),
        keepalive=section.get("keepalive", boolean, True),
        nodelay=section.get("nodelay", boolean, True),
        print_bytes=section.get("print_bytes", boolean, False),
        print_bytes_max=section.get("print_bytes_max", integer(16, 1 << 20), 256),
        send_proxy=section.get("send_proxy", _proxy_version, None),
        log_connections=section.get("log_connections", boolean, False),
        backlog=section.get("backlog", integer(1, 65535), 1024),
    )
    section.done()
    return config


def _proxy_version(value: Any) -> str | None:
    if value is None:
        return None
    return choice("v1", "v2")(value)


def from_option(spec: str) -> ServiceConfig:
    """``LISTEN=BACKEND`` (monconn's ``-p``), with every default; named ``cli-<port>``."""
    listen, sep, backend = spec.partition("=")
    if not sep:
        raise invalid(f"expected LISTEN=BACKEND such as :2222=127.0.0.1:22, got {spec!r}")
    where = listen_endpoint(listen)
    return ServiceConfig(f"cli-{where.port}", where, endpoint(backend))


def parse(section: Section, options: Mapping[str, Any]) -> ForwardConfig | None:
    specs = tuple(options.get("forward", ()))
    if not section.keys() and not specs:
        return None
    services = [_service(name, entry) for name, entry in section.sections()]
    for spec in specs:
        try:
            services.append(from_option(spec))
        except _Invalid as e:
            section.problems.append(Problem("--forward", 0, "forward", str(e)))
    _check_unique(section, services)
    section.done()
    return ForwardConfig(tuple(services))


def _check_unique(section: Section, services: list[ServiceConfig]) -> None:
    seen: dict[Any, str] = {}
    for service in services:
        keys = [("name", service.name), ("listen", service.listen)]
        if service.blacklist_set is not None:
            keys.append(("blacklist_set", service.blacklist_set))
        for kind, key in keys:
            if key is None:             # missing: already reported as such
                continue
            if key in seen:
                section.problem(f"{kind} {key} is also used by {seen[key]}",
                                section.line_of(service.name), service.name)
            seen.setdefault(key, service.name)
