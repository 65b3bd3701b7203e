"""``netsentinel-ctl failover {disable,enable} INSTANCE UPLINK``: maintenance by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer

from netsentinel.checks.monitor import Monitor
from netsentinel.checks.multiwan import MultiWanMonitor

USAGE = "ERROR usage: failover disable|enable INSTANCE UPLINK"


def uplink_command(monitors: Mapping[str, Monitor], args: list[str]) -> Any:
    """Take an uplink out of (or back into) its instance's route; answered once the route
    is applied, with the uplinks now on it."""
    if len(args) != 3 or args[0] not in ("disable", "enable"):
        return USAGE
    action, instance, uplink = args
    monitor = monitors.get(instance)
    if not isinstance(monitor, MultiWanMonitor):
        return f"ERROR no multi-WAN failover instance {instance!r}"
    if uplink not in monitor.uplinks:
        return f"ERROR {instance} has no uplink {uplink!r} ({', '.join(monitor.uplinks)})"
    d: defer.Deferred[Any] = monitor.set_disabled(uplink, action == "disable")
    return d.addCallback(lambda _: f"OK {uplink} {action}d; route via "
                                   f"{','.join(monitor.members or ()) or 'none'}")
