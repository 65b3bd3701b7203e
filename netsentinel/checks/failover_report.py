"""What a failover instance reports: the active uplink, each uplink's verdict, the routes."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from twisted.web.template import Tag, tags

from netsentinel.checks.hysteresis import LinkState
from netsentinel.checks.quality import QualityStatus
from netsentinel.checks.stats import ProbeStatus
from netsentinel.metrics import Family, counter, gauge, one_hot
from netsentinel.page import grid
from netsentinel.readable import ago
from netsentinel.snapshot import omitted

ACTIVE = gauge("netsentinel_failover_active",
               "1 for the uplink carrying the default route; 0 for both when both are down.",
               "name", "uplink")
UPLINK_UP = gauge("netsentinel_failover_uplink_up",
                  "1 while the uplink is judged online.", "name", "uplink")
SWITCHES = counter("netsentinel_failover_switches_total",
                   "Moves of the default route to an uplink.", "name")
REPAIRS = counter("netsentinel_failover_repairs_total",
                  "Default routes found wrong (changed behind our back) and put right.", "name")
ROUTE = gauge("netsentinel_failover_route",
              "1 per address family (4, 6) for the uplink and gateway of that family's "
              "default route at the metric.", "name", "family", "uplink", "gateway")
LOSS = gauge("netsentinel_failover_uplink_loss_ratio",
             "Share of the uplink's echo requests without a reply over the quality window, "
             "0 to 1 (only with quality).", "name", "uplink", "family")
RTT = gauge("netsentinel_failover_uplink_rtt_seconds",
            "Average RTT of the uplink's replies over the quality window (only with quality; "
            "absent when nothing answered).", "name", "uplink", "family")
SHARE = gauge("netsentinel_failover_uplink_share",
              "Multi-WAN: the uplink's share of the default route's weight, 0 to 1.",
              "name", "uplink")
FLUSHED = counter("netsentinel_failover_conntrack_flushed_total",
                  "Multi-WAN: conntrack entries deleted when the uplink left the route.",
                  "name", "uplink")
PROBE_UP = gauge("netsentinel_failover_probe_up",
                 "Multi-WAN: 1 if the probe answered in the last round.",
                 "name", "uplink", "probe")
SWITCHED = gauge("netsentinel_failover_last_switch_timestamp_seconds",
                 "When the default route last moved (Unix time).", "name")

Sample = tuple[tuple[str, ...], float | None]


@attrs.frozen
class RouteStatus:
    """A family's default route at the instance's metric."""

    uplink: str
    gateway: str
    interface: str


@attrs.frozen
class Postping:
    """The check of ``postping`` after the last switch."""

    uplink: str
    target: str
    state: str
    at: float


@attrs.frozen
class ProbeOutcome:
    """One multi-WAN probe's last round: ``probe`` as ``tcp 192.0.2.9:443``."""

    probe: str
    ok: bool
    reason: str | None = None


@attrs.frozen
class UplinkStatus:
    """One uplink: its verdict and last replies; the IPv6 fields for a dual or IPv6 uplink,
    ``reason`` why its last bad round was bad, ``quality`` with quality limits."""

    name: str
    interface: str
    gateway: str | None
    target: str | None
    state: str
    streak: int
    last: ProbeStatus | None
    gateway6: str | None = None
    target6: str | None = None
    last6: ProbeStatus | None = None
    reason: str | None = None
    quality: QualityStatus | None = None
    tier: int | None = omitted()             # the multi-WAN fields, absent for primary/standby
    weight: int | None = omitted()
    share: float | None = omitted()          # of the default route now (0: not on it)
    table: int | None = omitted()
    probes: tuple[ProbeOutcome, ...] | None = omitted()
    changed_at: float | None = omitted()
    flushed: int | None = omitted()          # conntrack entries deleted when it left the route
    disabled: bool | None = omitted()        # taken out by hand (failover disable)

    def text(self, key: str) -> str:
        """``primary wan1: offline (no reply from …) via 192.0.2.1 (eth1)``."""
        named = "" if self.name == key else f" {self.name}"
        why = f" ({self.reason})" if self.reason and self.state == LinkState.DOWN.value else ""
        if self.tier is not None:
            held = " disabled" if self.disabled else ""
            return (f"{key}: {self.state}{held}{why} tier {self.tier} weight {self.weight} "
                    f"share {round((self.share or 0) * 100)}% via {self.gateway} "
                    f"({self.interface}), flushed {self.flushed}")
        return f"{key}{named}: {self.state}{why} via {self.gateway} ({self.interface})"


@attrs.frozen(kw_only=True)
class FailoverStatus:
    """One failover instance: ``routes`` per family (``ipv4``, ``ipv6``), ``uplinks`` by
    role (``primary``, ``standby``)."""

    active: str | None
    metric: int
    switches: int
    repairs: int
    switched_at: float | None
    postping: Postping | None
    routes: dict[str, RouteStatus | None] | None = None
    uplinks: dict[str, UplinkStatus]
    mode: str | None = omitted()                 # multi-WAN: failover or balance
    members: tuple[str, ...] | None = omitted()  # multi-WAN: the uplinks on the route

    def problems(self, name: str) -> list[str]:
        if self.active is None:
            return [f"failover {name}: no uplink carries the default route"]
        return []

    def metrics(self, name: str) -> list[Family]:
        active = (one_hot(ACTIVE, list(self.uplinks), self.active, name)
                  if self.members is None else
                  ACTIVE.with_samples(((name, key), key in self.members) for key in self.uplinks))
        return [
            active, *self._multiwan(name),
            UPLINK_UP.with_samples(((name, key), u.state == LinkState.UP.value)
                                   for key, u in self.uplinks.items()),
            SWITCHES.of(self.switches, name),
            REPAIRS.of(self.repairs, name),
            SWITCHED.of(self.switched_at, name),
            LOSS.with_samples(self._windows(name, latency=False)),
            RTT.with_samples(self._windows(name, latency=True)),
            ROUTE.with_samples(((name, family[3:], route.uplink, route.gateway), 1)
                               for family, route in (self.routes or {}).items()
                               if route is not None),
        ]

    def _multiwan(self, name: str) -> list[Family]:
        if self.members is None:
            return []
        return [SHARE.with_samples(((name, k), u.share) for k, u in self.uplinks.items()),
                FLUSHED.with_samples(((name, k), u.flushed) for k, u in self.uplinks.items()),
                PROBE_UP.with_samples(((name, k, p.probe), p.ok) for k, u in self.uplinks.items()
                                      for p in u.probes or ())]

    def _windows(self, name: str, latency: bool) -> list[Sample]:
        """One quality-window figure per uplink and family (none without ``quality``)."""
        return [((name, key, str(family)), window.latency if latency else window.loss)
                for key, u in self.uplinks.items() if u.quality is not None
                for family in (4, 6) if (window := u.quality.window(family)) is not None]


def failover_grid(failover: Mapping[str, FailoverStatus], now: float) -> list[Tag]:
    """The failover instances, one row each, those without an active uplink marked."""
    return [tags.h3("failover"), grid(
        ("name", "active uplink", "uplinks", "switches", "repairs", "last switch"),
        [(n, f.active if f.members is None else ",".join(f.members) or None, ", ".join(u.text(key) for key, u in f.uplinks.items()), f.switches,
          f.repairs, ago(f.switched_at, now)) for n, f in failover.items()],
        [f.active is None for f in failover.values()], id="failover")]
