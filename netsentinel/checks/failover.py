"""Two-WAN failover: one default route at ``metric``, moved by netlink between uplinks.

Each uplink is probed through its own interface and judged with hysteresis;
:func:`choose` decides which one carries the default route.  The route is
changed with one atomic replace, so there are never two and never none while
an uplink is up, and it is checked at every round so a route added or removed
behind our back is put right.

IPv4 and IPv6 switch together: an uplink has one health verdict (all of its
families' probes must answer) and the active uplink carries the default route
of every family it has a gateway for.  With ``quality``, a round is good only
if the window of each family also stays within the loss and latency limits
(:mod:`netsentinel.checks.quality`).  Splitting the families over two ISPs
would make a host's IPv4 and IPv6 leave by different uplinks, and a half-broken
uplink is one the standby should take over from.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.checks.config import FailoverConfig, Uplink
from netsentinel.checks.failover_report import FailoverStatus, Postping, RouteStatus, UplinkStatus
from netsentinel.checks.hysteresis import Hysteresis, LinkState
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.quality import UplinkQuality
from netsentinel.checks.routes import Netlink, Route
from netsentinel.checks.stats import ProbeResult, ProbeStatus

log = Logger()

PRIMARY, STANDBY = "primary", "standby"


def choose(active: str | None, primary: LinkState, standby: LinkState, prefer_primary: bool,
           may_fail_back: bool) -> str | None:
    """The uplink that should carry the default route.

    An active uplink that is up stays, except that a standby gives way to a
    healthy primary when ``prefer_primary`` and the switch interval allow it.
    A failed active uplink is left at once: waiting would be an outage.
    """
    up = {PRIMARY: primary is LinkState.UP, STANDBY: standby is LinkState.UP}
    if active is not None and up[active]:
        if active == STANDBY and prefer_primary and up[PRIMARY] and may_fail_back:
            return PRIMARY
        return active
    if up[PRIMARY]:
        return PRIMARY
    if up[STANDBY]:
        return STANDBY
    return None


class FailoverMonitor(Monitor):
    monitor = "failover"
    config: FailoverConfig
    held = False        # ha's master_only on a BACKUP node: probes go on, routes are left

    def __init__(self, config: FailoverConfig, tools: Tools, netlink: Netlink) -> None:
        super().__init__(config, tools)
        self.netlink = netlink
        self.uplinks = {PRIMARY: config.primary, STANDBY: config.standby}
        self.states = {k: Hysteresis(config.down_after, config.up_after) for k in self.uplinks}
        self.last: dict[tuple[str, int], ProbeResult] = {}
        self.quality = {k: UplinkQuality(limits, u.targets())
                        for k, u in self.uplinks.items()
                        if (limits := u.quality or config.quality) is not None}
        self.reasons: dict[str, str | None] = dict.fromkeys(self.uplinks)   # of the last round
        self.blame: dict[str, str | None] = dict.fromkeys(self.uplinks)     # of the last bad one
        self.families = config.families
        self.active: str | None = None
        self.switched_at: float | None = None
        self.switches = 0
        self.repairs = 0
        self.postping: Postping | None = None
        self.rounds = 0

    def info(self, key: str) -> str:
        """imon's ``name:Primary|Standby:ifname:ip`` (ip empty while the uplink has none).

        The ip is IPv4 unless the uplink is IPv6-only; then its first global address.
        """
        uplink = self.uplinks[key]
        family = 4 if uplink.gateway is not None else 6
        addresses = [a for a in self.netlink.addresses(uplink.interface, family)
                     if family == 4 or not ipaddress.ip_address(a).is_link_local]
        return f"{uplink.name}:{uplink.role}:{uplink.interface}:{addresses[0] if addresses else ''}"

    def _probe(self, uplink: Uplink, target: str) -> defer.Deferred[ProbeResult]:
        p = self.config.probe
        return self.tools.engine.ping(target, p.count, p.wait, interface=uplink.interface)

    def _probe_routes(self) -> None:
        for uplink in self.uplinks.values():
            remote = {4: uplink.ping, 6: uplink.ping6}
            for family, gateway in uplink.gateways().items():
                if remote[family] is not None:
                    self.netlink.ensure_probe_route(uplink.interface, gateway, uplink.table,
                                                    family)

    @defer.inlineCallbacks
    def check(self) -> Any:
        self._probe_routes()
        self.rounds += 1
        probes = [(key, family, target) for key, uplink in self.uplinks.items()
                  for family, target in uplink.targets().items()]
        results = yield defer.gatherResults(
            [self._probe(self.uplinks[key], target) for key, _, target in probes])
        silent: dict[str, list[str]] = {key: [] for key in self.uplinks}
        for (key, family, target), result in zip(probes, results, strict=True):
            self.last[key, family] = result
            if not result.alive:
                silent[key].append(target)
            if key in self.quality:
                self.quality[key].add(family, result)
        for key in self.uplinks:
            state = self.states[key]
            quality = self.quality.get(key)
            why = [f"no reply from {', '.join(silent[key])}"] if silent[key] else []
            poor = quality.judge(state.state is LinkState.DOWN) if quality is not None else None
            if poor is not None:
                why.append(poor)
            self.reasons[key] = "; ".join(why) or None
            self.blame[key] = self.reasons[key] or self.blame[key]
            change = state.feed(not why)
            if change is None:
                continue
            if change.initial:
                self.event("failover-initial", self.info(key), change.state.value,
                           notes=self._why(key))
            else:
                log.info("failover {name}: {key} {uplink} is now {state}{why}",
                         name=self.config.name, key=key, uplink=self.uplinks[key].name,
                         state=change.state.value, why="".join(f": {w}" for w in self._why(key)))
        if self.held:
            return
        now = self.tools.clock.seconds()
        may_fail_back = (self.switched_at is None
                         or now - self.switched_at >= self.config.min_switch_interval)
        wanted = choose(self.active, self.states[PRIMARY].state, self.states[STANDBY].state,
                        self.config.prefer_primary, may_fail_back)
        if wanted != self.active or (wanted is None and self.rounds == 1):
            yield self._switch(wanted, now)
        else:
            self.repairs += sum(self._converge(family) for family in self.families)

    def _why(self, key: str) -> tuple[str, ...]:
        """What the uplink's state rests on: why its last bad round was bad, or its window."""
        quality = self.quality.get(key)
        if self.states[key].state is LinkState.DOWN:
            why = self.blame[key]
        else:
            why = quality.summary() if quality is not None else None
        return () if why is None else (why,)

    def _notes(self) -> tuple[str, ...]:
        """Each uplink's state and the reason for it, for a switch's log line and event."""
        return tuple(f"{key} {self.uplinks[key].name} {self.states[key].state.value}: {why}"
                     for key in self.uplinks for why in self._why(key))

    def _desired(self, family: int) -> Route | None:
        return None if self.active is None else self._route(self.uplinks[self.active], family)

    def _route(self, uplink: Uplink, family: int) -> Route | None:
        """The default route of ``family`` through ``uplink``; None if it has no gateway
        of that family or its interface is gone."""
        gateway = uplink.gateways().get(family)
        index = self.netlink.index(uplink.interface)
        return None if index is None or gateway is None else Route(gateway, index)

    def _converge(self, family: int) -> bool:
        """Make one family's routes at ``metric`` exactly the desired one; True if any was wrong."""
        metric = self.config.metric
        want = self._desired(family)
        have = self.netlink.default_routes(metric, family=family)
        if have == ([want] if want is not None else []):
            return False
        if want is not None:
            self.netlink.replace_default(want.gateway or "", want.oif or 0, metric, family=family)
        for route in self.netlink.default_routes(metric, family=family):
            if route != want:
                self.netlink.delete_default(route, metric, family=family)
        log.info("failover {name}: IPv{family} routes at metric {metric} were {have}, now {want}",
                 name=self.config.name, family=family, metric=metric, have=have,
                 want=want or "none")
        return True

    def withdraw(self, keep: set[tuple[int, int]]) -> None:
        """Delete our default routes whose (metric, family) the next configuration drops.

        Called before a reload rebuilds the monitors: a family, metric or whole
        instance removed from the file would otherwise leave a route that nothing
        keeps right any more.  Only routes through this instance's own gateways go.
        """
        metric = self.config.metric
        for family in self.families:
            if (metric, family) in keep:
                continue
            ours = {self._route(u, family) for u in self.uplinks.values()} - {None}
            for route in self.netlink.default_routes(metric, family=family):
                if route in ours:
                    self.netlink.delete_default(route, metric, family=family)
                    log.info("failover {name}: IPv{family} default route via {gateway} at "
                             "metric {metric} withdrawn (no longer configured)",
                             name=self.config.name, family=family, gateway=route.gateway,
                             metric=metric)

    @defer.inlineCallbacks
    def _switch(self, wanted: str | None, now: float) -> Any:
        before = self.active
        self.active = wanted
        for family in self.families:
            self._converge(family)
        if wanted is None:
            log.warn("failover {name}: both networks are offline{why}", name=self.config.name,
                     why="".join(f"; {note}" for note in self._notes()))
            self.event("failover-bothdown", self.info(PRIMARY), self.info(STANDBY),
                       notes=self._notes())
            return
        self.switched_at = now
        self.switches += 1
        uplink = self.uplinks[wanted]
        log.info("failover {name}: default route via {role} {uplink} ({gateway} {gateway6} "
                 "dev {dev}), was {before}{why}", name=self.config.name, role=uplink.role,
                 uplink=uplink.name, gateway=uplink.gateway or "", gateway6=uplink.gateway6 or "",
                 dev=uplink.interface, before=before or "none",
                 why="".join(f"; {note}" for note in self._notes()))
        info = self.info(wanted)
        self.event(f"failover-{wanted}", info, notes=self._notes())
        if uplink.postping is not None:
            result = yield self._probe(uplink, uplink.postping)
            state = "online" if result.alive else "offline"
            self.postping = Postping(wanted, uplink.postping, state, time.time())
            self.event("failover-postping", info, state)

    def status(self) -> FailoverStatus:
        return FailoverStatus(
            active=self.active, metric=self.config.metric, switches=self.switches,
            repairs=self.repairs, switched_at=self.switched_at, postping=self.postping,
            routes={f"ipv{family}": self._route_status(family) for family in self.families},
            uplinks={key: self._uplink_status(key) for key in self.uplinks})

    def _uplink_status(self, key: str) -> UplinkStatus:
        u, state = self.uplinks[key], self.states[key]
        down = state.state is LinkState.DOWN
        return UplinkStatus(
            name=u.name, interface=u.interface, gateway=u.gateway,
            target=u.target if u.gateway is not None else None, state=state.state.value,
            streak=state.streak, last=self._last(key, 4), gateway6=u.gateway6,
            target6=u.targets().get(6), last6=self._last(key, 6), reason=self.reasons[key],
            quality=self.quality[key].status(down) if key in self.quality else None)

    def _last(self, key: str, family: int) -> ProbeStatus | None:
        result = self.last.get((key, family))
        return None if result is None else result.snapshot()

    def _route_status(self, family: int) -> RouteStatus | None:
        """The default route this family has at ``metric`` (converged every round)."""
        if self.active is None:
            return None
        uplink = self.uplinks[self.active]
        gateway = uplink.gateways().get(family)
        return None if gateway is None else RouteStatus(self.active, gateway, uplink.interface)
