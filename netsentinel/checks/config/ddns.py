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
    invalid,
    ip_network,
    list_of,
    number,
    string,
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
    """An address from DNS: A/AAAA of ``name`` (``myip.opendns.com``) or, with ``txt``,
    the TXT record in class CH (``whoami.cloudflare``); ``server6`` is asked for IPv6."""

    name: str
    server: str
    port: int = 53
    txt: bool = False
    server6: str | None = None

    def describe(self) -> str:
        return f"dns {self.name} @{self.server}"

    def server_for(self, family: int) -> str:
        return self.server6 if family == 6 and self.server6 else self.server


# the DNS methods of the big resolvers: each answers the address a query comes from
DNS_PRESETS = {
    "opendns": DnsSource("myip.opendns.com", "208.67.222.222", server6="2620:119:35::35"),
    "cloudflare": DnsSource("whoami.cloudflare", "1.1.1.1", txt=True,
                            server6="2606:4700:4700::1111"),
}


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
    agree: int = 1                   # sources that must report one address to take it
    reject: tuple[Any, ...] = ()     # networks never taken (ip_network objects)
    follow: str | None = None        # a failover instance whose switches trigger a check
    debounce: float = 0.2            # after an interface source's address change

    @property
    def families(self) -> tuple[int, ...]:
        """``family: dual`` (0) asks each source for both."""
        return (4, 6) if self.family == 0 else (self.family,)


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
    elif kinds == ["dns"] and isinstance(item.raw("dns"), str):
        source = item.get("dns", _dns_preset, None)
    elif kinds == ["dns"]:
        d = item.section("dns")
        source = DnsSource(d.get("name", hostname), d.get("server", address),
                           d.get("port", integer(1, 65535), 53),
                           d.get("class", choice("IN", "CH"), "IN") == "CH",
                           d.get("server6", address, None))
        d.done()
    else:
        source = InterfaceSource(item.get("interface", interface_name))
    item.done()
    return source


def parse_ddns(name: str, s: Section) -> DdnsConfig:
    sources = tuple(src for item in s.items("sources") if (src := _source(item, s)) is not None)
    if not sources:
        s.problem("at least one source is needed", s.line_of("sources"), "sources")
    family = s.get("family", choice("ipv4", "ipv6", "dual"), "ipv4")
    config = DdnsConfig(
        name, sources, s.get("interval", number(1, 86400 * 7), 300.0),
        0 if family == "dual" else int(family[-1]),
        s.get("accept_private", boolean, False), s.get("state_file", _optional_path, None),
        s.get("timeout", number(0.1, 300), 10.0),
        parse_update(s.section("update")) if s.has("update") else None,
        s.get("agree", integer(1, 16), 1), s.get("reject", list_of(ip_network), ()),
        s.get("follow", string, None), s.get("debounce", number(0, 60), 0.2))
    if config.agree > len(sources) and sources:
        s.problem(f"agree: {config.agree} needs at least as many sources ({len(sources)} "
                  "given)", s.line_of("agree"), "agree")
    update = config.update
    if update is not None and update.protocol == "namecheap" and 6 in config.families:
        s.problem("Namecheap's dynamic DNS has no IPv6", s.line_of("family"), "family")
    s.done()
    return config


def check_follow(section: Section, configs: tuple[DdnsConfig, ...], failovers: set[str]) -> None:
    """A ``follow:`` must name a failover instance of the same file: a misspelt one would
    never trigger a check, and nothing else would say so. ``section`` is ``checks.ddns``."""
    entries = dict(section.sections())
    for config in configs:
        s = entries[config.name]
        if config.follow is not None and config.follow not in failovers:
            defined = ", ".join(sorted(failovers)) or "none"
            s.problem(f"no failover instance {config.follow!r} in this file (defined: "
                      f"{defined})", s.line_of("follow"), "follow")


def _dns_preset(value: Any) -> DnsSource:
    if value not in DNS_PRESETS:
        raise invalid(f"a DNS method is {' or '.join(DNS_PRESETS)}, or a mapping with name "
                      "and server")
    return DNS_PRESETS[value]


def _optional_path(value: Any) -> str | None:
    return None if value is None else writable_path(value)
