"""A failover uplink's gateway that is not on its interface's networks: a warning.

The kernel refuses a route through such a gateway (unless it is on-link by some
other route), so the uplink would never carry traffic; but the interface may not
have its addresses yet when the file is checked (DHCP, PPP, an LTE stick), so this
is a warning at check-config, at start and at a reload, never an error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from netsentinel.checks.config import FailoverConfig

# (interface, family) → its addresses as ADDRESS/PREFIXLEN; None: no such interface
Networks = Callable[[str, int], "list[str] | None"]


def gateway_warnings(configs: Iterable[FailoverConfig], networks: Networks) -> list[str]:
    """One ``FILE:LINE: key: warning: ...`` line per gateway off its interface's networks.

    Nothing for on-link or link-local gateways, a missing interface or one without
    addresses of the family (it cannot be told yet)."""
    lines = []
    for config in configs:
        for uplink in config.members:
            for family, gateway in uplink.gateways().items():
                address = ipaddress.ip_address(gateway)
                if address.is_unspecified or address.is_link_local:
                    continue
                found = networks(uplink.interface, family)
                if not found or any(address in ipaddress.ip_interface(n).network
                                    for n in found):
                    continue
                where = uplink.where.get(family, f"checks.failover.{config.name}")
                lines.append(f"{where}: warning: {gateway} is not on {uplink.interface}'s "
                             f"networks ({', '.join(found)}): the kernel will refuse a route "
                             "through it")
    return lines
