"""Desired nft set contents per zone, and the one transaction that applies them (pure)."""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping

import attrs

from netsentinel.addresses.config import NftConfig
from netsentinel.netlink.table import AddressTable, IPInterface
from netsentinel.nft.elements import network_element


@attrs.frozen(order=True)
class SetSpec:
    name: str
    type: str          # ipv4_addr | ipv6_addr
    interval: bool     # networks need 'flags interval'

    @property
    def version(self) -> int:
        return 4 if self.type == "ipv4_addr" else 6


def zone_sets(zone: str, networks: bool) -> list[SetSpec]:
    """rust-network-mgr's names: <zone>_ips, <zone>_ipv6; optionally the prefixes."""
    specs = [SetSpec(f"{zone}_ips", "ipv4_addr", False), SetSpec(f"{zone}_ipv6", "ipv6_addr", False)]
    if networks:
        specs += [SetSpec(f"{zone}_nets", "ipv4_addr", True),
                  SetSpec(f"{zone}_nets6", "ipv6_addr", True)]
    return specs


def elements(spec: SetSpec, addresses: Iterable[IPInterface]) -> frozenset[str]:
    chosen = [a for a in addresses if a.version == spec.version]
    if spec.interval:
        networks: list[Any] = [a.network for a in chosen]   # one version: collapsible
        return frozenset(str(n) for n in ipaddress.collapse_addresses(networks))
    return frozenset(str(a.ip) for a in chosen)


def desired_sets(table: AddressTable, zones: Mapping[str, tuple[str, ...]],
                 nft: NftConfig) -> dict[SetSpec, frozenset[str]]:
    """``table`` has already lost the addresses the config leaves out (link-local)."""
    desired = {}
    for zone, interfaces in zones.items():
        addresses = [a for name in interfaces for a in table.addresses(name)]
        for spec in zone_sets(zone, nft.networks):
            desired[spec] = elements(spec, addresses)
    return desired


def normalize(spec: SetSpec, raw: Iterable[Any]) -> frozenset[str]:
    """Kernel JSON elements in the canonical form :func:`elements` produces."""
    if not spec.interval:
        return frozenset(str(ipaddress.ip_address(_value(e))) for e in raw)
    networks: list[Any] = []
    for e in raw:
        value = _value(e)
        if isinstance(value, dict) and "prefix" in value:
            networks.append(ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}"))
        elif isinstance(value, dict) and "range" in value:
            low, high = (ipaddress.ip_address(v) for v in value["range"])
            networks.extend(ipaddress.summarize_address_range(low, high))
        else:
            networks.append(ipaddress.ip_network(value))
    return frozenset(str(n) for n in ipaddress.collapse_addresses(networks))


def _value(element: Any) -> Any:
    return element["elem"]["val"] if isinstance(element, dict) and "elem" in element else element


def _element_json(spec: SetSpec, text: str) -> Any:
    return network_element(ipaddress.ip_network(text)) if spec.interval else text


def transaction(nft: NftConfig, changes: Mapping[SetSpec, frozenset[str]],
                create: Iterable[SetSpec] = ()) -> list[dict[str, Any]]:
    """One command list: create what is asked, then flush and refill each changed set."""
    where = {"family": nft.family, "table": nft.table}
    commands: list[dict[str, Any]] = []
    to_create = sorted(create)
    if to_create:
        commands.append({"add": {"table": {"family": nft.family, "name": nft.table}}})
    for spec in to_create:
        definition: dict[str, Any] = {**where, "name": spec.name, "type": spec.type}
        if spec.interval:
            definition["flags"] = ["interval"]
            definition["auto-merge"] = True
        commands.append({"add": {"set": definition}})
    for spec in sorted(changes):
        commands.append({"flush": {"set": {**where, "name": spec.name}}})
        if changes[spec]:
            commands.append({"add": {"element": {
                **where, "name": spec.name,
                "elem": [_element_json(spec, e) for e in sorted(changes[spec])]}}})
    return commands
