"""IPMon's nft include files: ``.vars`` (defines) and ``.sets`` (named sets), rendered purely.

Names and layout follow IPMon (``<iface>_ipv4_address``, ``<iface>_ipv4_network``)
so rulesets that include them keep working; we add the ``_ipv6_`` pair and
``flags interval`` on network sets, without which nft refuses IPMon's file.
An empty define gets IPMon-style placeholder (the unspecified address), since
nft has no empty anonymous set; an empty named set simply has no elements.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from netsentinel.netlink.table import AddressTable, IPInterface

HEADER = "#!/usr/sbin/nft -f\n# Written by netsentinel; changes are overwritten.\n"
PLACEHOLDER = {4: "0.0.0.0", 6: "::"}
TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}


def nft_name(interface: str) -> str:
    """An nft identifier for an interface name (letters, digits, _ . - survive)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", interface)
    return name if name[:1].isalpha() else f"if_{name}"


def _values(addresses: Iterable[IPInterface], version: int, network: bool) -> list[str]:
    chosen = [a for a in addresses if a.version == version]
    if network:
        networks: list[Any] = [a.network for a in chosen]   # one version: collapsible
        return [str(n) for n in ipaddress.collapse_addresses(networks)]
    return [str(ip) for ip in sorted({a.ip for a in chosen})]


Entry = tuple[str, int, bool, list[str]]


def entries(table: AddressTable, interfaces: Iterable[str]) -> list[Entry]:
    """Each define or set (name, version, network?, values): computed once per sync."""
    return list(_entries(table, interfaces))


def _entries(table: AddressTable, interfaces: Iterable[str]) -> Iterable[Entry]:
    for interface in sorted(interfaces):
        addresses = table.addresses(interface)
        for version in (4, 6):
            for network in (False, True):
                kind = "network" if network else "address"
                yield (f"{nft_name(interface)}_ipv{version}_{kind}", version, network,
                       _values(addresses, version, network))


def render_vars(found: list[Entry]) -> str:
    lines = [HEADER]
    for name, version, _, values in found:
        lines.append(f"redefine {name} = {{ {', '.join(values or [PLACEHOLDER[version]])} }}\n")
    return "".join(lines)


def render_sets(found: list[Entry]) -> str:
    lines = [HEADER]
    for name, version, network, values in found:
        flags = " flags interval;" if network else ""
        elements = f" elements = {{ {', '.join(values)} }};" if values else ""
        lines.append(f"set {name} {{ type {TYPES[version]};{flags}{elements} }}\n")
    return "".join(lines)
