"""Multi-WAN: N uplinks in tiers, failover or a balanced multipath default route.

Every round probes each uplink (its probes, judged with ``quorum`` and the
hysteresis of ``down_after``/``up_after``), picks the live uplinks of the best
tier (:func:`route_members`) and makes the kernel match that in the thread
pool (:mod:`netsentinel.checks.policy`): the main default route, each uplink's
own table and rules, and the sticky marks.  An uplink that leaves the route
gets its NATed connections deleted from conntrack (not on a reload: a new
monitor starts with nothing to compare with), unless its connections stay
with it (``sticky`` and still alive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.checks.config import FailoverConfig, Uplink
from netsentinel.checks.conntrack import flush_addresses
from netsentinel.checks.conntrack_marks import MARK_MASK, Sticky, StickyRules, mark_of
from netsentinel.checks.failover_report import FailoverStatus, ProbeOutcome, UplinkStatus
from netsentinel.checks.hysteresis import Hysteresis, LinkState
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.policy import Applied, Hop, Plan, PolicyRoutes, UplinkTable
from netsentinel.checks.probes import Prober
from netsentinel.deferreds import in_thread

log = Logger()
STICKY_CHECK_ROUNDS = 10        # how often the sticky chains are checked for an outside flush


def route_members(uplinks: tuple[Uplink, ...], live: set[str], mode: str) -> tuple[str, ...]:
    """The uplinks that carry the default route: the live ones of the best tier that has
    any; in failover mode only the first of them."""
    for tier in sorted({u.tier for u in uplinks}):
        alive = tuple(u.name for u in uplinks if u.tier == tier and u.name in live)
        if alive:
            return alive[:1] if mode == "failover" else alive
    return ()


def plan_of(config: FailoverConfig, members: tuple[str, ...]) -> Plan:
    weights = {u.name: u.weight for u in config.uplinks}
    return Plan(config.metric, tuple(config.families),
                tuple((name, weights[name]) for name in members),
                tuple(UplinkTable(u.name, u.interface, u.table, tuple(u.gateways().items()),
                                  mark_of(i) if config.sticky else None)
                      for i, u in enumerate(config.uplinks)),
                MARK_MASK if config.sticky else 0)


class MultiWanMonitor(Monitor):
    monitor = "failover"
    config: FailoverConfig
    held = False        # ha's master_only on a BACKUP node: probes go on, routes are left

    def __init__(self, config: FailoverConfig, tools: Tools,
                 policy: PolicyRoutes | None = None, sticky: StickyRules | None = None) -> None:
        super().__init__(config, tools)
        self.policy = policy or PolicyRoutes()
        self.sticky_rules = sticky or StickyRules()
        self.sticky = (Sticky(config.name, tuple((u.interface, mark_of(i))
                                                 for i, u in enumerate(config.uplinks)))
                       if config.sticky else None)
        self.prober = Prober(tools.clock, tools.engine, config.probe)
        self.uplinks = {u.name: u for u in config.uplinks}
        self.states = {n: Hysteresis(config.down_after, config.up_after) for n in self.uplinks}
        self.outcomes: dict[str, tuple[ProbeOutcome, ...]] = {}
        self.reasons: dict[str, str | None] = dict.fromkeys(self.uplinks)
        self.changed_at: dict[str, float | None] = dict.fromkeys(self.uplinks)
        self.flushed = dict.fromkeys(self.uplinks, 0)
        self.addresses: dict[str, tuple[str, ...]] = dict.fromkeys(self.uplinks, ())
        self.disabled: set[str] = set()
        self.members: tuple[str, ...] | None = None     # None: nothing applied yet
        self.switches = self.repairs = self.rounds = 0
        self.switched_at: float | None = None
        self.blocking: Callable[[Callable[[], Any]], defer.Deferred[Any]] = (
            lambda work: in_thread(tools.clock, work))     # a test runs it inline
        self.lock = defer.DeferredLock()
        self.stopped = False

    def stopService(self) -> defer.Deferred[Any]:   # type: ignore[override]
        """Close the netlink socket once an apply in flight has ended (closing it under a
        pool thread that is using it hangs the shutdown); no round applies after this."""
        super().stopService()
        self.stopped = True
        return self.lock.run(self.policy.close)

    @defer.inlineCallbacks
    def check(self) -> Any:
        self.rounds += 1
        results = yield defer.gatherResults(
            [self.prober.run(u, self.addresses[n]) for n, u in self.uplinks.items()])
        for (name, uplink), outcomes in zip(self.uplinks.items(), results, strict=True):
            self._judge(name, uplink, tuple(outcomes))
        yield self.converge()

    def _judge(self, name: str, uplink: Uplink, outcomes: tuple[ProbeOutcome, ...]) -> None:
        self.outcomes[name] = outcomes
        good = sum(o.ok for o in outcomes) >= uplink.quorum
        self.reasons[name] = None if good else "; ".join(
            f"{o.probe}: {o.reason}" for o in outcomes if not o.ok)
        change = self.states[name].feed(good)
        if change is None:
            return
        self.changed_at[name] = self.tools.clock.seconds()
        if change.initial:
            log.info("failover {name}: uplink {uplink} starts {state}{why}",
                     name=self.config.name, uplink=name, state=change.state.value,
                     why=f" ({self.reasons[name]})" if self.reasons[name] else "")
            return
        up = change.state is LinkState.UP
        self.event("uplink-up" if up else "uplink-down", name,
                   notes=() if up else (self.reasons[name] or "",))

    def live(self) -> set[str]:
        return {n for n, s in self.states.items()
                if s.state is LinkState.UP and n not in self.disabled}

    def converge(self) -> defer.Deferred[Any]:
        """Apply the members the states ask for (and repair anything changed behind us);
        one at a time (a hand command may come during a round): the socket is not shared."""
        return self.lock.run(self._converge)

    @defer.inlineCallbacks
    def _converge(self) -> Any:
        if self.stopped:             # a round that ended after the stop
            return
        if self.held:                # the uplinks' own tables and rules only (probes use them)
            plan = attrs.evolve(plan_of(self.config, ()), main=False)
            applied, _ = yield self.blocking(lambda: self._apply(plan, {}, None))
            self.addresses.update(applied.addresses)
            return
        wanted = route_members(self.config.uplinks, self.live(), self.config.mode)
        before = self.members
        left = set(before or ()) - set(wanted)
        flush = {n: self.addresses[n] for n in left if self.config.flush_conntrack
                 and not (self.sticky is not None and n in self.live())}
        sticky = self.sticky if self.rounds % STICKY_CHECK_ROUNDS in (0, 1) else None
        plan = plan_of(self.config, wanted)
        applied, flushed = yield self.blocking(lambda: self._apply(plan, flush, sticky))
        # rules follow the uplinks' addresses: a round that saw them change (an address
        # added, DAD done) changed its rules for that, which is no repair
        moved = any(self.addresses.get(n) != a for n, a in applied.addresses.items())
        self.addresses.update(applied.addresses)
        self.members = wanted
        self.repairs += applied.repairs if before is not None and not moved else 0
        for name, count in flushed.items():
            self.flushed[name] += count
        if wanted != before:
            self._switched(before, wanted, flushed)
        elif applied.changed:
            self.repairs += 1

    def _apply(self, plan: Plan, flush: Mapping[str, tuple[str, ...]],
               sticky: Sticky | None) -> tuple[Applied, dict[str, int]]:
        """In a pool thread: routes and rules, the sticky chains, then the flushes."""
        applied = self.policy.apply(plan)
        if sticky is not None and not self.sticky_rules.listed(sticky.chains()):
            self.sticky_rules.write(sticky)
        flushed = {n: flush_addresses(set(a) | set(applied.addresses.get(n, ())))
                   for n, a in flush.items()}
        return applied, flushed

    def _switched(self, before: tuple[str, ...] | None, wanted: tuple[str, ...],
                  flushed: Mapping[str, int]) -> None:
        now = self.tools.clock.seconds()
        if wanted:
            self.switches += before is not None
            self.switched_at = now
        notes = tuple(f"{n} {self.states[n].state.value}: {r}"
                      for n, r in self.reasons.items() if r) + tuple(
            f"{n}: {c} conntrack entries flushed" for n, c in flushed.items())
        log.info("failover {name}: default route via {members}, was {before}{why}",
                 name=self.config.name, members=",".join(wanted) or "none",
                 before=",".join(before or ()) or "none",
                 why="".join(f"; {n}" for n in notes))
        self.event("routes", ",".join(wanted), notes=notes)

    def set_disabled(self, uplink: str, disabled: bool) -> defer.Deferred[Any]:
        """``failover disable|enable INSTANCE UPLINK``: out by hand and back, at once."""
        if disabled:
            self.disabled.add(uplink)
        else:
            self.disabled.discard(uplink)
        log.info("failover {name}: uplink {uplink} {what} by hand", name=self.config.name,
                 uplink=uplink, what="disabled" if disabled else "enabled")
        return self.converge()

    def withdraw(self, keep: set[tuple[int, int]]) -> None:
        """On a reload that drops this instance (or its metric): its routes, rules, tables and
        sticky chains go (blocking, once per reload)."""
        if any(route in keep for route in self.config.routes):
            return
        plan = plan_of(self.config, ())
        hops = []
        for t in plan.tables:
            index = self.policy.index(t.ifname)
            hops += [(g if g != "0.0.0.0" else None, index) for _, g in t.gateways]
        self.policy.withdraw(plan, [Hop(g, i) for g, i in hops if i is not None])
        if self.sticky is not None:
            self.sticky_rules.remove(self.sticky)
        log.info("failover {name}: routes, rules and tables withdrawn (no longer configured)",
                 name=self.config.name)

    def status(self) -> FailoverStatus:
        members = self.members or ()
        total = sum(self.uplinks[n].weight for n in members) or 1
        return FailoverStatus(
            active=members[0] if members else None, metric=self.config.metric,
            switches=self.switches, repairs=self.repairs, switched_at=self.switched_at,
            postping=None, routes=None, mode=self.config.mode, members=members,
            uplinks={n: self._uplink_status(n, u, members, total)
                     for n, u in self.uplinks.items()})

    def _uplink_status(self, name: str, u: Uplink, members: tuple[str, ...],
                       total: int) -> UplinkStatus:
        state = self.states[name]
        return UplinkStatus(
            name=name, interface=u.interface, gateway=u.gateway, target=None,
            state=state.state.value, streak=state.streak, last=None, gateway6=u.gateway6,
            reason=self.reasons[name], tier=u.tier, weight=u.weight,
            share=u.weight / total if name in members else 0.0, table=u.table,
            probes=self.outcomes.get(name, ()), changed_at=self.changed_at[name],
            flushed=self.flushed[name], disabled=name in self.disabled)
