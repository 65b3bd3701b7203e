"""``checks.ddns.NAME``: where the external address comes from and whom to tell."""

from __future__ import annotations

from typing import Any

import attrs

from netsentinel.checks.provider_config import UpdateConfig, parse_update
from netsentinel.schema import (
    Section,
    address,
    boolean,
    choice,
    existing_file,
    hostname,
    http_url,
    integer,
    interface_name,
    number,
    writable_path,
)


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


def _source(item: Any, parent: Section) -> Source | None:
    if isinstance(item, str):
        try:
            return UrlSource(http_url(item))
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
        source = UrlSource(item.get("url", http_url), item.get("ca", existing_file, None))
    elif kinds == ["dns"]:
        d = item.section("dns")
        source = DnsSource(d.get("name", hostname), d.get("server", address),
                           d.get("port", integer(1, 65535), 53))
        d.done()
    else:
        source = InterfaceSource(item.get("interface", interface_name))
    item.done()
    return source


def parse_ddns(name: str, s: Section) -> DdnsConfig:
    sources = tuple(src for item in s.items("sources") if (src := _source(item, s)) is not None)
    if not sources:
        s.problem("at least one source is needed", s.line_of("sources"), "sources")
    config = DdnsConfig(
        name, sources, s.get("interval", number(1, 86400 * 7), 300.0),
        int(s.get("family", choice("ipv4", "ipv6"), "ipv4")[-1]),
        s.get("accept_private", boolean, False), s.get("state_file", _optional_path, None),
        s.get("timeout", number(0.1, 300), 10.0),
        parse_update(s.section("update")) if s.has("update") else None)
    s.done()
    return config


def _optional_path(value: Any) -> str | None:
    return None if value is None else writable_path(value)
