"""Deleting the connection-tracking entries NATed through one uplink (pyroute2, blocking).

When an uplink leaves the default route, its masqueraded connections are dead:
their packets would leave by the new uplink with the old uplink's address.
Deleting their entries (reply destination = the uplink's address) makes the
next packet of each a new connection, so a LAN client reconnects at once
instead of hanging until its timeout.  Run it in the thread pool.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from pyroute2 import Conntrack
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

ENOENT = 2


def flush_addresses(addresses: Iterable[str]) -> int:
    """Delete every entry whose reply goes to one of ``addresses``; the count deleted."""
    deleted = 0
    with Conntrack() as ct:
        for address in addresses:
            family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else \
                socket.AF_INET
            match = NFCTAttrTuple(family=family, daddr=address)
            for entry in list(ct.dump_entries(tuple_reply=match)):
                if entry.tuple_reply.daddr != address:
                    continue
                try:
                    ct.entry("del", tuple_orig=entry.tuple_orig)
                except NetlinkError as e:
                    if e.code != ENOENT:        # gone already (it timed out meanwhile)
                        raise
                    continue
                deleted += 1
    return deleted
