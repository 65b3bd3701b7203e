"""The flows of a ``mode: kernel`` service and its totals, as values.

A flow the service's rules DNATed has the service's port as its original
destination and the backend as its reply source; conntrack accounting
(``net.netfilter.nf_conntrack_acct``, which the service turns on) gives its bytes
and packets both ways.  The flow reader (:mod:`flowreader`, :mod:`ctdump`) sends
the open ones; the totals come from the service's named nft counters, so a flow
that began and ended between two reads is counted all the same.  The blocking
helpers here run in the thread pool.
"""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

import attrs
from pyroute2 import Conntrack, IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from netsentinel.forward import ctdump

ACCOUNTING = "/proc/sys/net/netfilter/nf_conntrack_acct"
UDP_STREAM = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


class Flow(NamedTuple):
    """One forwarded flow: the client, the address it wrote to, its counts so far."""

    id: int                 # conntrack's id: a new flow from the same port is another
    ip: str
    port: int
    local: str
    up: int                 # bytes client -> backend: UDP payload, TCP IP packets
    down: int
    packets_up: int
    packets_down: int
    state: int = 0          # TCP: conntrack's state (ESTABLISHED 3, FIN_WAIT 4, ...)

    @property
    def half_closed(self) -> bool:
        return self.state in HALF_CLOSED


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
FIN_WAIT, CLOSE_WAIT, LAST_ACK = 4, 5, 6          # conntrack's TCP states, half closed
HALF_CLOSED = (FIN_WAIT, CLOSE_WAIT, LAST_ACK)


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
    return _delete(family, [
        NFCTAttrTuple(family=family, proto=PROTOCOLS[protocol], saddr=e.src, daddr=e.dst,
                      sport=e.sport, dport=e.dport)
        for e in ctdump.dump(family, PROTOCOLS[protocol], port)
        if not e.status & IPS_DST_NAT and e.dst in local])


def udp_idle() -> float:
    """How long conntrack keeps an answered UDP flow without traffic (its sysctl)."""
    try:
        with open(UDP_STREAM) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return 120.0


class FlowsError(Exception):
    """The flow reader could not read conntrack (its message)."""


def from_rows(rows: list[list[Any]], protocol: str, version: int) -> list[Flow]:
    """The flow reader's rows (``ctdump.live``) as flows, UDP bytes as payload."""
    overhead = _overhead(protocol, version)
    return [Flow(id=fid, ip=ip, port=port, local=local, up=up - overhead * packets_up,
                 down=down - overhead * packets_down, packets_up=packets_up,
                 packets_down=packets_down, state=state)
            for fid, ip, port, local, up, down, packets_up, packets_down, state in rows]


def forget(protocol: str, port: int, version: int,
           clients: list[tuple[str, int, str]]) -> int:
    """Delete the flows of ``clients`` (ip, port, the address it wrote to) to ``port``
    from conntrack: their next packet is a new flow, which the rules refuse once the
    client is blacklisted (``reject --close``).  The number deleted."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return _delete(family, [NFCTAttrTuple(family=family, proto=PROTOCOLS[protocol], saddr=ip,
                                          daddr=local, sport=sport, dport=port)
                            for ip, sport, local in clients])


def _delete(family: int, tuples: list[NFCTAttrTuple]) -> int:
    deleted = 0
    with Conntrack() as ct:
        for tuple_orig in tuples:
            try:
                ct.entry("del", tuple_orig=tuple_orig)
                deleted += 1
            except NetlinkError as e:
                if e.code != 2:             # ENOENT: it went meanwhile
                    raise
    return deleted


def _overhead(protocol: str, version: int) -> int:
    """A UDP datagram's payload is its IP packet less two fixed headers; a TCP
    segment's headers vary (options), so TCP counts stay IP bytes."""
    return ((20 if version == 4 else 40) + 8) if protocol == "udp" else 0


@attrs.frozen
class Totals:
    """A service's flows and bytes since the daemon started (its named counters)."""

    flows: int = 0
    up: int = 0
    down: int = 0
    packets_up: int = 0
    packets_down: int = 0


@attrs.define
class Tally:
    """Counter readings made totals since the start: the values the counters held
    then (a previous run's) are the base, and a counter that went back (``nft
    flush ruleset`` deleted it, the rules made it anew) carries what it had."""

    based: bool = False
    start: dict[str, int] = attrs.Factory(dict)
    carried: dict[str, int] = attrs.Factory(dict)
    last: dict[str, int] = attrs.Factory(dict)

    def base(self, values: dict[str, tuple[int, int]], names: dict[str, str]) -> None:
        self.start = _flat(values, names)
        self.last = dict(self.start)
        self.based = True

    def update(self, values: dict[str, tuple[int, int]], names: dict[str, str],
               protocol: str, version: int) -> Totals:
        current = _flat(values, names)
        total: dict[str, int] = {}
        for key, value in current.items():
            if value < self.last.get(key, 0):           # made anew: from 0 again
                self.carried[key] = self.carried.get(key, 0) + \
                    self.last[key] - self.start.get(key, 0)
                self.start[key] = 0
            self.last[key] = value
            total[key] = self.carried.get(key, 0) + value - self.start.get(key, 0)
        overhead = _overhead(protocol, version)
        return Totals(flows=total["new.packets"],
                      up=total["up.bytes"] - overhead * total["up.packets"],
                      down=total["down.bytes"] - overhead * total["down.packets"],
                      packets_up=total["up.packets"], packets_down=total["down.packets"])


def _flat(values: dict[str, tuple[int, int]], names: dict[str, str]) -> dict[str, int]:
    flat: dict[str, int] = {}
    for key in ("new", "up", "down"):
        packets, octets = values.get(names[key], (0, 0))
        flat[f"{key}.packets"], flat[f"{key}.bytes"] = packets, octets
    return flat
