"""The weight we write to keepalived's track file, from the uplinks' health.

It is read from the ``checks`` feature's status (its failover instances' uplinks):
``weight`` while every uplink is up, 0 when every one is down, in proportion between.
Uplinks not judged yet count as up, so a node that just started does not hand the VIP
over; without failover instances there is nothing to judge and the weight is full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Health:
    up: int
    total: int

    def weight(self, full: int) -> int:
        return full if self.total == 0 else round(full * self.up / self.total)


def uplink_health(checks: Mapping[str, Any] | None) -> Health:
    """From the ``checks`` section of ``status`` (its JSON shape)."""
    states = [uplink.get("state") for instance in ((checks or {}).get("failover") or {}).values()
              for uplink in instance.get("uplinks", {}).values()]
    return Health(sum(state != "offline" for state in states), len(states))


def track_text(weight: int) -> str:
    return f"{weight}\n"
