"""The ``names:`` section: resolvers to ask, and sets that hold what names resolve to."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Section,
    boolean,
    endpoint,
    hostname,
    integer,
    invalid,
    list_of,
    number,
    string,
)

SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,60}$")    # nft allows more; 6 is appended
FAMILIES = ("inet", "ip", "ip6", "bridge", "netdev")


@attrs.frozen
class NameSetConfig:
    """One ``sets:`` entry: its names and how long their answers count."""

    key: str                     # the entry's name: set <key> (ipv4_addr) and <key>6 (ipv6_addr)
    names: tuple[str, ...]
    family: str = "inet"
    table: str = "filter"
    min_ttl: int = 30
    max_ttl: int = 3600
    stale_for: int = 86400
    create: bool = True

    @property
    def set_names(self) -> tuple[str, str]:
        return self.key, f"{self.key}6"

    def clamp(self, ttl: int) -> int:
        return max(self.min_ttl, min(self.max_ttl, ttl))


@attrs.frozen
class NamesConfig:
    servers: tuple[tuple[str, int], ...]
    sets: tuple[NameSetConfig, ...]
    timeout: float = 4.0        # seconds a query may take, over its retries


def server(value: Any) -> tuple[str, int]:
    """``ip`` or ``ip:port`` / ``[ipv6]:port``; never a name (no resolver to find the resolver)."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    try:
        return str(ipaddress.ip_address(text)), 53
    except ValueError:
        pass
    try:
        found = endpoint(text)
    except Exception:
        raise invalid(f"expected an IP address or ip:port, got {value!r}") from None
    try:
        ipaddress.ip_address(found.host)
    except ValueError:
        raise invalid(f"a server must be an IP address, not a name: {value!r}") from None
    return found.host, found.port


def dns_name(value: Any) -> str:
    name = hostname(value).lower()
    if any(not label or len(label) > 63 for label in name.split(".")):
        raise invalid(f"not a DNS name (empty label or one over 63 characters): {value!r}")
    return name


def _table(value: Any) -> tuple[str, str]:
    parts = string(value).split()
    if len(parts) != 2 or parts[0] not in FAMILIES:
        raise invalid(f"expected 'FAMILY TABLE' such as 'inet filter', got {value!r}")
    return parts[0], parts[1]


def _names(value: Any) -> tuple[str, ...]:
    names = list_of(dns_name)(value)
    if not names:
        raise invalid("expected at least one DNS name")
    return tuple(dict.fromkeys(names))


def parse(section: Section, options: Mapping[str, Any]) -> NamesConfig | None:
    if not section.keys():
        return None
    servers = section.get("servers", list_of(server))
    if servers == ():
        section.problem("expected at least one server", section.line_of("servers"), "servers")
    timeout = section.get("timeout", number(0.1, 60), 4.0)
    sets = [_parse_set(key, entry) for key, entry in section.section("sets", True).sections()]
    _check_collisions(section, [s for s in sets if s is not None])
    section.done()
    return NamesConfig(tuple(dict.fromkeys(servers or ())),
                       tuple(s for s in sets if s is not None), timeout)


def _parse_set(key: str, entry: Section) -> NameSetConfig | None:
    if not SET_NAME.match(key):
        entry.problem(f"set name must be a letter then up to 60 letters, digits or _, "
                      f"got {key!r}")
    names = entry.get("names", _names)
    family, table = entry.get("table", _table, ("inet", "filter"))
    min_ttl = entry.get("min_ttl", integer(1, 604800), 30)
    max_ttl = entry.get("max_ttl", integer(1, 604800), 3600)
    if min_ttl > max_ttl:
        entry.problem(f"min_ttl ({min_ttl}) must not be above max_ttl ({max_ttl})",
                      entry.line_of("min_ttl"), "min_ttl")
    config = NameSetConfig(key, names or (), family, table, min_ttl, max_ttl,
                           entry.get("stale_for", integer(0, 31536000), 86400),
                           entry.get("create", boolean, True))
    entry.done()
    return config if names and SET_NAME.match(key) else None


def _check_collisions(section: Section, sets: list[NameSetConfig]) -> None:
    """``a6`` and ``a`` (whose IPv6 set is ``a6``) cannot both be: one nft set, two owners."""
    owners: dict[str, str] = {}
    for entry in sets:
        for name in entry.set_names:
            first = owners.setdefault(name, entry.key)
            if first != entry.key:
                section.problem(f"set {name} of {entry.key} is also a set of {first}",
                                section.line_at(("sets", entry.key)), f"sets.{entry.key}")
