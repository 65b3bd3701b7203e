"""What is wrong with the checks, in one line each, from their ``status`` section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netsentinel.readable import duration


def provider_troubled(provider: dict[str, Any] | None) -> bool:
    """A ddns provider that refused an update or is waiting to retry one: a problem."""
    return provider is not None and provider["state"] in ("failed", "retrying")


def provider_text(provider: dict[str, Any] | None, now: float | None) -> str | None:
    """A ddns instance's provider in a few words: its state, the address it has, and
    what went wrong (with when the next attempt is, given ``now``)."""
    if provider is None:
        return None
    words = [provider["state"]]
    if provider["address"] is not None:
        words.append(provider["address"])
    errors = sorted({h["result"] for h in provider["hosts"].values()
                     if provider_troubled(provider) and h["result"]
                     not in (None, "good", "nochg")})
    if errors:
        words.append(f"({', '.join(errors)})")
    if now is not None and provider["next_attempt"] is not None:
        words.append(f"next in {duration(max(0.0, provider['next_attempt'] - now))}")
    return " ".join(words)


def problems(checks: Mapping[str, Any] | None) -> list[str]:
    found: list[str] = []
    checks = checks or {}
    for name, ping in checks.get("ping", {}).items():
        if ping["alarm"]:
            found.append(f"ping {name}: alarm on {ping['target']}")
    for name, updown in checks.get("updown", {}).items():
        if updown["state"] == "offline":
            found.append(f"updown {name}: offline")
    for name, ddns in checks.get("ddns", {}).items():
        if ddns["failures"]:
            found.append(f"ddns {name}: {len(ddns['failures'])} source(s) failed")
        if provider_troubled(ddns.get("provider")):
            found.append(f"ddns {name}: provider {provider_text(ddns['provider'], None)}")
    for name, failover in checks.get("failover", {}).items():
        if failover["active"] is None:
            found.append(f"failover {name}: no uplink carries the default route")
    return found
