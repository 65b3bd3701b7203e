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
from twisted.logger import Logger

ENOENT = 2
EINVAL = 22

log = Logger()


def flush_addresses(addresses: Iterable[str]) -> int:
    """Delete every entry whose reply goes to one of ``addresses``; the count deleted.

    A dump the kernel refuses (pyroute2's reply-tuple filter is EINVAL for IPv6 on some
    kernels) is taken unfiltered and matched here; one that still fails is logged and
    skipped: a failed flush must never hold back the route change it follows."""
    deleted = 0
    with Conntrack() as ct:
        for address in addresses:
            try:
                deleted += _flush(ct, address)
            except NetlinkError as e:
                log.error("conntrack flush of {address} failed: {error}", address=address,
                          error=e)
    return deleted


def _flush(ct: Conntrack, address: str) -> int:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    try:
        entries = list(ct.dump_entries(tuple_reply=NFCTAttrTuple(family=family, daddr=address)))
    except NetlinkError as e:
        if e.code != EINVAL:
            raise
        entries = list(ct.dump_entries())
    deleted = 0
    for entry in entries:
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
