"""The flows a ``mode: kernel`` service forwards, read from conntrack (blocking).

A flow the service's rules DNATed has the service's port as its original
destination and the backend as its reply source; conntrack accounting
(``net.netfilter.nf_conntrack_acct``, which the service turns on) gives its bytes
and packets both ways.  The kernel filters the dump by protocol and port, so a
router with many other flows pays for ours only (:mod:`ctdump`).  Run it in the
thread pool.
"""

from __future__ import annotations

import socket

import attrs
from pyroute2 import Conntrack, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from netsentinel.forward import ctdump

ACCOUNTING = "/proc/sys/net/netfilter/nf_conntrack_acct"
UDP_STREAM = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


@attrs.frozen
class Flow:
    """One forwarded flow: the client, the address it wrote to, its counts so far."""

    id: int                 # conntrack's id: a new flow from the same port is another
    ip: str
    port: int
    local: str
    up: int                 # bytes client -> backend: UDP payload, TCP IP packets
    down: int
    packets_up: int
    packets_down: int
    state: int = 0          # TCP: conntrack's state (ESTABLISHED 3 ... TIME_WAIT 7, CLOSE 8)

    @property
    def ended(self) -> bool:
        """A TCP flow conntrack keeps after its end (TIME_WAIT, CLOSE)."""
        return self.state in (TIME_WAIT, CLOSE)

    @property
    def half_closed(self) -> bool:
        return self.state in (FIN_WAIT, CLOSE_WAIT, LAST_ACK)


def accounting() -> bool:
    """Turn conntrack byte counting on (this network namespace); False if it cannot."""
    try:
        with open(ACCOUNTING, "r+") as f:
            if f.read().strip() != "1":
                f.seek(0)
                f.write("1")
        return True
    except OSError:
        return False


IPS_DST_NAT = 0x20
FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE = 4, 5, 6, 7, 8    # conntrack TCP states


def forget_stale(protocol: str, port: int, version: int, host: str | None) -> int:
    """Delete the port's flows to a local address that were not DNATed: a client that
    wrote before the rules existed has an entry that would keep its datagrams going to
    the router itself for as long as it keeps writing (a WireGuard keepalive every 25 s
    outlives conntrack's 30).  Only for UDP: deleting a TCP entry would hand the
    connection's next segment to the backend mid-stream.  ``host``: the listening
    address, None for every local one.  The number deleted."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    if host is None:
        with IPRoute() as ip:
            local = {a.get_attr("IFA_ADDRESS") for a in ip.get_addr(family=family)}
    else:
        local = {host}
    stale = [e for e in ctdump.dump(family, PROTOCOLS[protocol], port)
             if not e.status & IPS_DST_NAT and e.dst in local]
    deleted = 0
    with Conntrack() as ct:
        for entry in stale:
            try:
                ct.entry("del", tuple_orig=NFCTAttrTuple(
                    family=family, proto=PROTOCOLS[protocol], saddr=entry.src,
                    daddr=entry.dst, sport=entry.sport, dport=entry.dport))
                deleted += 1
            except NetlinkError as e:
                if e.code != 2:             # ENOENT: it went meanwhile
                    raise
    return deleted


def udp_idle() -> float:
    """How long conntrack keeps an answered UDP flow without traffic (its sysctl)."""
    try:
        with open(UDP_STREAM) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return 120.0


def read(protocol: str, port: int, backend: tuple[str, int], version: int) -> list[Flow]:
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    # a UDP datagram's payload is its IP packet less two fixed headers; a TCP
    # segment's headers vary (options), so TCP counts stay IP bytes
    overhead = ((20 if version == 4 else 40) + 8) if protocol == "udp" else 0
    host, backend_port = backend
    try:
        return [Flow(id=e.id, ip=e.src, port=e.sport, local=e.dst,
                     up=e.bytes_up - overhead * e.packets_up,
                     down=e.bytes_down - overhead * e.packets_down,
                     packets_up=e.packets_up, packets_down=e.packets_down, state=e.tcp_state)
                for e in ctdump.dump(family, PROTOCOLS[protocol], port)
                if e.reply_src == host and e.reply_sport == backend_port]
    except ctdump.DumpError as e:
        if e.errno == 2:            # ENOENT: no conntrack table in this namespace yet
            return []
        raise
