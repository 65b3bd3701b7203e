"""Service counters and the stats document built from them.

The live connections carry their own byte counts; a service keeps only what
outlives them (totals of closed connections, rejections by reason), so a
chunk costs one addition and the stats are summed when asked for.  The JSON
keeps monconn's ``Stats()`` names (``sid``, ``uptime``, ``ips``,
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


def stats(name: str, state: str, listen: str, backend: str, counters: ServiceCounters,
          live: Iterable[LiveConnection], blacklist: list[str], now: float,
          detail: bool = True) -> dict[str, Any]:
    """The stats of one service as JSON-able data; ``detail`` adds per-IP and per-connection."""
    connections = list(live)
    up = counters.closed_up + sum(c.up for c in connections)
    down = counters.closed_down + sum(c.down for c in connections)
    per_ip: dict[str, dict[str, int]] = {}
    for conn in connections:
        entry = per_ip.setdefault(conn.ip, {"connections": 0, "up": 0, "down": 0})
        entry["connections"] += 1
        entry["up"] += conn.up
        entry["down"] += conn.down
    document: dict[str, Any] = {
        "sid": name,
        "uptime": int(now - counters.boot_at),
        "ips": ",".join(sorted(per_ip)),
        "connections": len(connections),
        "accessed": int(counters.boot_at if counters.accessed_at is None
                        else counters.accessed_at),
        "up": up,
        "down": down,
        "state": state,
        "listen": listen,
        "backend": backend,
        "ip_count": len(per_ip),
        "boot_at": _stamp(counters.boot_at),
        "accessed_at": counters.accessed_at,
        "total_connections": counters.accepted,
        "closed_connections": counters.closed,
        "rejected": {reason: counters.rejected.get(reason, 0) for reason in REJECT_REASONS},
        "backend_failures": counters.backend_failures,
        "closes": dict(counters.closes),
        "blacklist": blacklist,
    }
    if detail:
        document["ip_table"] = per_ip
        document["open"] = [_connection(c, now) for c in connections]
    return document


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


def _stamp(when: float | None) -> str | None:
    """monconn prints times as ``2006-01-02 15:04:05``; we keep the form, in UTC."""
    if when is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
