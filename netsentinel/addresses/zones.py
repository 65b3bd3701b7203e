"""Desired nft set contents per interface zone (pure); netsentinel.nft.sets applies them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from netsentinel.addresses.config import NftConfig
from netsentinel.netlink.table import AddressTable, IPInterface
from netsentinel.nft.sets import SetSpec, address_sets


def zone_sets(zone: str, networks: bool) -> list[SetSpec]:
    """<zone>_ips, <zone>_ipv6 (rust-network-mgr's names); optionally the prefixes."""
    specs = address_sets(zone)
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
