"""Which timeout, if any, a connection has run into: pure, checked once per sweep."""

from __future__ import annotations

from typing import Any


def expired(conn: Any, now: float, t: Any) -> str | None:
    """``connect-timeout``, ``read-timeout``, ``idle-timeout``, ``fin-timeout``,
    ``write-timeout``, or None."""
    if conn.dialing_since is not None:
        return "connect-timeout" if t.connect and now - conn.dialing_since >= t.connect \
            else None
    if t.read and now - conn.last_up >= t.read:
        return "read-timeout"
    if t.max_idle and now - conn.last_activity >= t.max_idle:
        return "idle-timeout"
    if t.fin and conn.half_closed_at is not None and now - conn.half_closed_at >= t.fin:
        return "fin-timeout"
    if t.write:
        for flow in conn.flows:
            if flow.stalled_since is not None and now - flow.stalled_since >= t.write:
                return "write-timeout"
    return None
