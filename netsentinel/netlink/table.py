"""The interface → addresses table, derived from a netlink dump (never patched).

Pure functions over frozen values: building the table from parsed messages and
saying what changed between two tables.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping

import attrs

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

IFF_UP = 0x1
IFA_F_DADFAILED = 0x08


@attrs.frozen
class Interface:
    index: int
    name: str
    up: bool
    addresses: frozenset[IPInterface]

    def ips(self, version: int) -> frozenset[IPInterface]:
        return frozenset(a for a in self.addresses if a.version == version)


@attrs.frozen
class AddressTable:
    interfaces: Mapping[str, Interface] = attrs.field(factory=dict)

    def get(self, name: str) -> Interface | None:
        return self.interfaces.get(name)

    def addresses(self, name: str) -> frozenset[IPInterface]:
        interface = self.interfaces.get(name)
        return interface.addresses if interface else frozenset()

    def without_link_local(self) -> "AddressTable":
        """IPv6 fe80::/10 addresses removed: they change with every MAC and rarely belong in a firewall set."""
        return AddressTable({
            name: attrs.evolve(i, addresses=frozenset(a for a in i.addresses
                                                      if not (a.version == 6 and a.ip.is_link_local)))
            for name, i in self.interfaces.items()})

    def to_dict(self) -> dict[str, Any]:
        return {name: {"index": i.index, "up": i.up,
                       "addresses": sorted(str(a) for a in i.addresses)}
                for name, i in sorted(self.interfaces.items())}


@attrs.frozen
class InterfaceChange:
    interface: str
    added: frozenset[IPInterface]
    removed: frozenset[IPInterface]


def build_table(links: Iterable[Any], addrs: Iterable[Any]) -> AddressTable:
    """A table from RTM_NEWLINK and RTM_NEWADDR dump messages (pyroute2 parsed)."""
    names: dict[int, tuple[str, bool]] = {}
    for link in links:
        name = link.get_attr("IFLA_IFNAME")
        if name:
            names[link["index"]] = (name, bool(link["flags"] & IFF_UP))
    found: dict[int, set[IPInterface]] = {index: set() for index in names}
    for msg in addrs:
        flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
        if msg["index"] not in found or flags & IFA_F_DADFAILED:
            continue
        ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if ip:
            found[msg["index"]].add(ipaddress.ip_interface(f"{ip}/{msg['prefixlen']}"))
    return AddressTable({
        name: Interface(index, name, up, frozenset(found[index]))
        for index, (name, up) in names.items()})


def changes(old: AddressTable, new: AddressTable) -> list[InterfaceChange]:
    """Per interface, the addresses added and removed; unchanged interfaces omitted."""
    out = []
    for name in sorted(set(old.interfaces) | set(new.interfaces)):
        before, after = old.addresses(name), new.addresses(name)
        if before != after:
            out.append(InterfaceChange(name, after - before, before - after))
    return out
