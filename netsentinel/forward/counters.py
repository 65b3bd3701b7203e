"""Service counters, and the status and stats built from them.

The live connections carry their own byte counts; a service keeps only what
outlives them (totals of closed connections, rejections by reason), so a
chunk costs one addition and the stats are summed when asked for.  The JSON
(:class:`~netsentinel.forward.status.ServiceStatus`, and ``forward stats``) keeps monconn's ``Stats()`` names (``sid``, ``uptime``, ``ips``,
``connections``, ``accessed``, ``up``, ``down``) **and their types** beside
the new ones: ``ips`` is the connected client IPs joined by commas (a string,
``ip_count`` is their number) and ``accessed`` an integer Unix time, the boot
time until a client comes, as monconn's ``Service.Stats()`` prints them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from netsentinel.forward.status import (
    BackendAddress,
    BanStatus,
    BlacklistSet,
    ServiceStatus,
    UdpStatus,
)

REJECT_REASONS = ("blacklist", "conn_limit", "ip_limit", "per_ip_limit", "per_ip_rate",
                  "fd_limit")


class LiveConnection(Protocol):
    number: int
    ip: str
    port: int
    started: float
    up: int
    down: int
    last_activity: float
    half_closed_at: float | None


@attrs.define
class ServiceCounters:
    boot_at: float
    accessed_at: float | None = None
    accepted: int = 0               # connections admitted since boot
    closed: int = 0
    closed_up: int = 0
    closed_down: int = 0
    backend_failures: int = 0
    rejected: Counter[str] = attrs.Factory(Counter)
    closes: Counter[str] = attrs.Factory(Counter)   # close reason → count

    def connection_closed(self, up: int, down: int, reason: str) -> None:
        self.closed += 1
        self.closed_up += up
        self.closed_down += down
        self.closes[reason] += 1


@attrs.frozen(kw_only=True)
class Service:
    """What a service's status says besides its counters and connections."""

    name: str
    state: str
    listen: str
    backend: str
    blacklist: tuple[str, ...]
    backend_address: BackendAddress
    conn_limit: int
    blacklist_set: BlacklistSet | None = None
    ban: BanStatus | None = None
    udp: UdpStatus | None = None


def status(service: Service, counters: ServiceCounters, live: Iterable[LiveConnection],
           now: float) -> ServiceStatus:
    """The status of one service: its counters with the live connections summed in."""
    connections = list(live)
    ips = _per_ip(connections)
    return ServiceStatus(
        sid=service.name,
        uptime=int(now - counters.boot_at),
        ips=",".join(sorted(ips)),
        connections=len(connections),
        accessed=int(counters.boot_at if counters.accessed_at is None
                     else counters.accessed_at),
        up=counters.closed_up + sum(c.up for c in connections),
        down=counters.closed_down + sum(c.down for c in connections),
        state=service.state,
        listen=service.listen,
        backend=service.backend,
        ip_count=len(ips),
        boot_at=_stamp(counters.boot_at),
        accessed_at=counters.accessed_at,
        total_connections=counters.accepted,
        closed_connections=counters.closed,
        rejected={reason: counters.rejected.get(reason, 0) for reason in REJECT_REASONS},
        backend_failures=counters.backend_failures,
        closes=dict(counters.closes),
        blacklist=service.blacklist,
        blacklist_set=service.blacklist_set,
        backend_address=service.backend_address,
        conn_limit=service.conn_limit,
        protocol="udp" if service.udp is not None else None,
        ban=service.ban,
        udp=service.udp,
    )


def detail(live: Iterable[LiveConnection], now: float) -> dict[str, Any]:
    """What ``forward stats`` adds to the status: the per-IP and per-connection tables."""
    connections = list(live)
    return {"ip_table": _per_ip(connections),
            "open": [_connection(c, now) for c in connections]}


def _per_ip(connections: list[LiveConnection]) -> dict[str, dict[str, int]]:
    per_ip: dict[str, dict[str, int]] = {}
    for conn in connections:
        entry = per_ip.setdefault(conn.ip, {"connections": 0, "up": 0, "down": 0})
        entry["connections"] += 1
        entry["up"] += conn.up
        entry["down"] += conn.down
    return per_ip


def _connection(conn: LiveConnection, now: float) -> dict[str, Any]:
    return {
        "id": conn.number,
        "client": conn.ip,
        "port": conn.port,
        "started": conn.started,
        "duration": round(now - conn.started, 3),
        "up": conn.up,
        "down": conn.down,
        "last_activity": conn.last_activity,
        "idle": round(now - conn.last_activity, 3),
        "half_closed": conn.half_closed_at is not None,
    }


def _stamp(when: float) -> str:
    """monconn prints times as ``2006-01-02 15:04:05``; we keep the form, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
