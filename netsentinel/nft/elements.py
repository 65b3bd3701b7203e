"""Set elements in libnftables' JSON form, shared by every feature that fills a set."""

from __future__ import annotations

import ipaddress
from typing import Any


def network_element(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Any:
    """A plain address for a single host (as ``nft list`` shows it), else a prefix."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
