"""The ``addresses:`` section."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.debounce import parse_delays
from netsentinel.schema import (
    Section,
    boolean,
    command,
    existing_file,
    invalid,
    number,
    string,
    writable_path,
)

ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")


@attrs.frozen
class NftConfig:
    family: str = "inet"
    table: str = "filter"
    create: bool = False
    networks: bool = False      # also <zone>_nets / <zone>_nets6
    verify: float = 30.0        # seconds between read-backs of the sets (someone's nft -f)


@attrs.frozen
class FilesConfig:
    vars: str | None = None
    sets: str | None = None
    reload_ruleset: str | None = None


@attrs.frozen
class ProxyConfig:
    template: str
    output: str
    reload: tuple[str, ...] | None = None


@attrs.frozen
class AddressesConfig:
    delay: float = 0.2
    max_delay: float = 1.0
    interfaces: tuple[tuple[str, str | None], ...] = ()   # (name, zone) in file order
    nftables: NftConfig | None = None
    files: FilesConfig | None = None
    proxy: ProxyConfig | None = None
    action: tuple[str, ...] | None = None
    link_local: bool = False    # keep IPv6 fe80::/10 addresses in sets, files and events

    @property
    def zones(self) -> dict[str, tuple[str, ...]]:
        zones: dict[str, list[str]] = {}
        for name, zone in self.interfaces:
            if zone is not None:
                zones.setdefault(zone, []).append(name)
        return {zone: tuple(names) for zone, names in zones.items()}

    def watches(self, interface: str) -> bool:
        """Files and proxy cover the listed interfaces, or every one but lo."""
        if self.interfaces:
            return any(name == interface for name, _ in self.interfaces)
        return interface != "lo"


def _table(value: Any) -> tuple[str, str]:
    parts = string(value).split()
    if len(parts) != 2 or parts[0] not in ("inet", "ip", "ip6", "bridge", "netdev", "arp"):
        raise invalid(f"expected 'FAMILY TABLE' such as 'inet filter', got {value!r}")
    return parts[0], parts[1]


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not ZONE_NAME.match(value):
        raise invalid(f"zone must be a letter then letters, digits or _, got {value!r}")
    return value


def parse(section: Section, options: Mapping[str, Any]) -> AddressesConfig | None:
    if not section.keys():
        return None
    delay, max_delay = parse_delays(section)
    interfaces = []
    ifaces = section.section("interfaces")
    for name, entry in ifaces.sections():
        if len(name) > 15:
            entry.problem("interface names have at most 15 characters")
        interfaces.append((name, entry.get("zone", _zone, None)))
        entry.done()
    config = AddressesConfig(
        delay=delay, max_delay=max_delay, interfaces=tuple(interfaces),
        nftables=parse_nft(section.section("nftables")) if section.has("nftables") else None,
        files=_parse_files(section.section("files")) if section.has("files") else None,
        proxy=_parse_proxy(section.section("proxy")) if section.has("proxy") else None,
        action=section.get("action", command, None),
        link_local=section.get("link_local", boolean, False),
    )
    if config.nftables is not None and not config.zones:
        section.problem("nftables is set but no interface has a zone", section.line_of("nftables"),
                        "nftables")
    section.done()
    return config


def parse_nft(section: Section, networks: bool = True) -> NftConfig:
    """``table`` and ``create``, shared with every feature that owns sets; ``networks``
    only where prefixes make sense."""
    family, table = section.get("table", _table, ("inet", "filter"))
    config = NftConfig(family, table, section.get("create", boolean, False),
                       section.get("networks", boolean, False) if networks else False,
                       section.get("verify", number(0.5, 86400), 30.0) if networks else 30.0)
    section.done()
    return config


def _parse_files(section: Section) -> FilesConfig:
    config = FilesConfig(section.get("vars", writable_path, None),
                         section.get("sets", writable_path, None),
                         section.get("reload_ruleset", existing_file, None))
    section.done()
    return config


def _parse_proxy(section: Section) -> ProxyConfig:
    config = ProxyConfig(section.get("template", existing_file),
                         section.get("output", writable_path),
                         section.get("reload", command, None))
    section.done()
    return config
