"""A forwarded service on the status page: its figures, then its open connections.

The open connections come from ``forward stats`` (the page's :class:`PageView`), not
from ``status``; only the first ``OPEN_ROWS`` are listed, since rendering runs on the
reactor and a flood must not stall it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.web.template import Tag, tags

from netsentinel.forward.status import ServiceStatus
from netsentinel.page import PageView, Row, grid, pairs
from netsentinel.readable import ago, counts, duration, size

OPEN_ROWS = 50          # open connections listed per service; rendering runs on the reactor


def service(name: str, s: ServiceStatus, view: PageView) -> Tag:
    """The service's table (``forward-NAME``), its open connections (``forward-NAME-open``)."""
    resolved = s.backend_address
    rows: list[Row] = [
        ("state", s.state),
        ("listen → backend", f"{s.listen} → {_backend(s)}"),
        ("open connections", s.connections),
        ("client IPs", s.ip_count),
        ("total / closed", f"{s.total_connections} / {s.closed_connections}"),
        ("bytes up", size(s.up)),
        ("bytes down", size(s.down)),
        ("rejected", counts(s.rejected)),
        ("closed by", counts(s.closes)),
        ("backend failures", s.backend_failures),
        ("blacklist", " ".join(s.blacklist) or "(empty)"),
        ("uptime", duration(s.uptime)),
        ("last access", ago(s.accessed_at, view.now)),
    ]
    if s.blacklist_set is not None:
        rows.append(("blacklist set", s.blacklist_set.set + (
            f" ({s.blacklist_set.error})" if s.blacklist_set.error else "")))
    if s.ban is not None:
        rows.append(("kernel bans", f"{s.ban.active} active, {s.ban.added} added "
                     f"(set {s.ban.set}" + (f": {s.ban.error})" if s.ban.error else ")")))
    if s.udp is not None:
        rows.append(("datagrams up / down", f"{s.udp.datagrams_up} / {s.udp.datagrams_down}"))
        rows.append(("sessions evicted / datagrams dropped",
                     f"{s.udp.evicted} / {s.udp.dropped}"))
    bad = [label for label, flag in (
        ("state", s.state != "running"), ("backend failures", s.backend_failures),
        ("listen → backend", resolved.error),
        ("kernel bans", s.ban is not None and s.ban.error)) if flag]
    return tags.div([tags.h3(name), pairs(rows, bad, id=f"forward-{name}"),
                     *_open(name, view.connections.get(name, []))])


def _backend(s: ServiceStatus) -> str:
    """The backend as configured, with the address it resolved to or why it did not."""
    resolved = s.backend_address
    if resolved.error:
        return f"{s.backend} ({resolved.error})"
    if resolved.address and not s.backend.startswith(resolved.address + ":"):
        return f"{s.backend} ({resolved.address})"
    return s.backend


def _open(name: str, open_: Sequence[Mapping[str, Any]]) -> list[Tag]:
    parts: list[Tag] = []
    if open_:
        parts.append(grid(
            ("#", "client", "duration", "up", "down", "idle", "half-closed"),
            [(c["id"], f"{c['client']}:{c['port']}", duration(c["duration"]), size(c["up"]),
              size(c["down"]), duration(c["idle"]), c["half_closed"])
             for c in open_[:OPEN_ROWS]],
            id=f"forward-{name}-open"))
    if len(open_) > OPEN_ROWS:
        parts.append(tags.p(f"… and {len(open_) - OPEN_ROWS} more: "
                            f"netsentinel-ctl forward stats {name}", class_="muted"))
    return parts
