"""The flows a ``mode: kernel`` service forwards, read from conntrack (blocking).

A flow the service's rules DNATed has the service's port as its original
destination and the backend as its reply source; conntrack accounting
(``net.netfilter.nf_conntrack_acct``, which the service turns on) gives its bytes
and packets both ways.  The kernel filters the dump by protocol and port, so a
router with many other flows pays for ours only.  Run it in the thread pool.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import attrs
from pyroute2 import Conntrack, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple, NFCTSocket

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
    deleted = 0
    with Conntrack() as ct:
        for entry in ct.dump_entries(tuple_orig=NFCTAttrTuple(
                family=family, proto=PROTOCOLS[protocol], dport=port)):
            if entry.status & IPS_DST_NAT or entry.tuple_orig.daddr not in local:
                continue
            try:
                ct.entry("del", tuple_orig=entry.tuple_orig)
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
    wanted = NFCTAttrTuple(family=family, proto=PROTOCOLS[protocol], dport=port)
    # a UDP datagram's payload is its IP packet less two fixed headers; a TCP
    # segment's headers vary (options), so TCP counts stay IP bytes
    overhead = ((20 if version == 4 else 40) + 8) if protocol == "udp" else 0
    with NFCTSocket(nfgen_family=family) as ct:
        try:
            return list(_flows(ct.dump(tuple_orig=wanted), backend, overhead))
        except NetlinkError as e:
            if e.code == 2:         # ENOENT: no conntrack table in this namespace yet
                return []
            raise


def _flows(messages: Any, backend: tuple[str, int], overhead: int) -> Iterator[Flow]:
    host, port = backend
    for message in messages:
        orig, reply = message.get_attr("CTA_TUPLE_ORIG"), message.get_attr("CTA_TUPLE_REPLY")
        if orig is None or reply is None:
            continue
        if _address(reply, "src") != host or _port(reply, "SRC") != port:
            continue            # the port's other flows: not DNATed to our backend
        up, down = message.get_attr("CTA_COUNTERS_ORIG"), message.get_attr("CTA_COUNTERS_REPLY")
        packets_up, packets_down = _count(up, "PACKETS"), _count(down, "PACKETS")
        yield Flow(id=message.get_attr("CTA_ID") or 0, ip=_address(orig, "src"),
                   port=_port(orig, "SRC"), local=_address(orig, "dst"),
                   up=_count(up, "BYTES") - overhead * packets_up,
                   down=_count(down, "BYTES") - overhead * packets_down,
                   packets_up=packets_up, packets_down=packets_down,
                   state=_tcp_state(message))


def _address(tuple_: Any, side: str) -> str:
    ip = tuple_.get_attr("CTA_TUPLE_IP")
    if ip is None:
        return ""
    return ip.get_attr(f"CTA_IP_V4_{side.upper()}") or ip.get_attr(f"CTA_IP_V6_{side.upper()}") or ""


def _port(tuple_: Any, side: str) -> int:
    proto = tuple_.get_attr("CTA_TUPLE_PROTO")
    return int(proto.get_attr(f"CTA_PROTO_{side}_PORT") or 0) if proto is not None else 0


def _tcp_state(message: Any) -> int:
    info = message.get_attr("CTA_PROTOINFO")
    tcp = info.get_attr("CTA_PROTOINFO_TCP") if info is not None else None
    return int(tcp.get_attr("CTA_PROTOINFO_TCP_STATE") or 0) if tcp is not None else 0


def _count(counters: Any, kind: str) -> int:
    if counters is None:
        return 0
    return int(counters.get_attr(f"CTA_COUNTERS_{kind}") or 0)
