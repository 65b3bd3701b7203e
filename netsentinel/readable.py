"""Figures as people read them: sizes, durations, "12s ago", milliseconds, percentages.

Shared by the status page and each feature's report of what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping


def size(n: int | None) -> str:
    """Bytes exactly up to 10 KiB (a test or a handshake), then in binary units."""
    if n is None:
        return "—"
    if n < 10240:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def ago(stamp: float | None, now: float) -> str:
    """A Unix time as "12s ago", which is what a reader wants from a sync time."""
    return "never" if stamp is None else f"{duration(max(0.0, now - stamp))} ago"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} ms"


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{100 * ratio:.1f}%"


def counts(mapping: Mapping[str, int]) -> str:
    """``{"blacklist": 1, "ip_limit": 0}`` → ``blacklist 1``: only what happened."""
    shown = [f"{key} {n}" for key, n in sorted(mapping.items()) if n]
    return ", ".join(shown) or "none"
