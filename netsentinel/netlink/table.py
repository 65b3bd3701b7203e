"""The interface → addresses table, derived from a netlink dump (never patched).

Pure functions over frozen values: building the table from parsed messages and
saying what changed between two tables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

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
    complete: bool = True     # False: the kernel marked the dump as racing with a change

    def keeping(self, previous: AddressTable) -> AddressTable:
        """This (interrupted) dump with ``previous``'s addresses of the same interfaces
        added back: a racing dump may miss entries, and a firewall set must not lose a
        live address because of it.  Removals wait for a complete dump."""
        merged = dict(self.interfaces)
        for name, interface in self.interfaces.items():
            before = previous.interfaces.get(name)
            if before is not None and before.index == interface.index:
                merged[name] = attrs.evolve(interface,
                                            addresses=interface.addresses | before.addresses)
        return AddressTable(merged, complete=False)

    def get(self, name: str) -> Interface | None:
        return self.interfaces.get(name)

    def addresses(self, name: str) -> frozenset[IPInterface]:
        interface = self.interfaces.get(name)
        return interface.addresses if interface else frozenset()

    def without_link_local(self) -> AddressTable:
        """IPv6 fe80::/10 addresses removed: they change with every MAC and rarely belong in a firewall set."""
        return AddressTable({
            name: attrs.evolve(i, addresses=frozenset(a for a in i.addresses
                                                      if not (a.version == 6 and a.ip.is_link_local)))
            for name, i in self.interfaces.items()}, self.complete)


@attrs.frozen
class InterfaceChange:
    interface: str
    added: frozenset[IPInterface]
    removed: frozenset[IPInterface]


@attrs.frozen
class LinkRecord:
    index: int
    name: str
    up: bool


@attrs.frozen
class AddrRecord:
    index: int
    address: str     # "ip/prefixlen"
    flags: int


def build_table(links: Iterable[LinkRecord], addrs: Iterable[AddrRecord],
                known: dict[str, IPInterface] | None = None) -> AddressTable:
    """A table from the records of one link dump and one address dump.

    ``known`` maps "ip/prefixlen" to the value parsed by an earlier dump; it is
    updated to hold exactly this dump's addresses, so 20,000 unchanged addresses
    are not parsed again at every sync.
    """
    names = {link.index: link for link in links}
    found: dict[int, set[IPInterface]] = {index: set() for index in names}
    before = known.copy() if known is not None else {}
    if known is not None:
        known.clear()
    for addr in addrs:
        if addr.index in found and not addr.flags & IFA_F_DADFAILED:
            value = before.get(addr.address)
            if value is None:
                value = ipaddress.ip_interface(addr.address)
            if known is not None:
                known[addr.address] = value
            found[addr.index].add(value)
    return AddressTable({
        link.name: Interface(index, link.name, link.up, frozenset(found[index]))
        for index, link in names.items()})


def changes(old: AddressTable, new: AddressTable) -> list[InterfaceChange]:
    """Per interface, the addresses added and removed; unchanged interfaces omitted."""
    out = []
    for name in sorted(set(old.interfaces) | set(new.interfaces)):
        before, after = old.addresses(name), new.addresses(name)
        if before != after:
            out.append(InterfaceChange(name, after - before, before - after))
    return out
