"""Multi-WAN routes and rules over rtnetlink (pyroute2): blocking, so run in the thread pool.

:meth:`PolicyRoutes.apply` makes the kernel match a :class:`Plan` from a fresh
dump every time (never from remembered deltas): the main table's default route
at the instance's metric (one route, or one multipath route over the live
uplinks of the best tier, replaced in one request), and per uplink its own
table with its default route and the rules that select it (``oif`` for probes
bound to the device, ``fwmark`` for sticky connections, ``from`` each of its
addresses).  Only rules at our priorities that point at our tables are ever
changed or deleted; rules and tables of anybody else are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from pyroute2.netlink.exceptions import NetlinkError

from netsentinel.checks.routes import (
    AF,
    DEFAULT,
    MAIN_TABLE,
    PROBE_RULE_PRIORITY,
    Netlink,
    stored_metric,
)

MAIN_PRIORITY = 20090        # main without its default routes: the LAN stays reachable
MARK_PRIORITY = 20100        # fwmark → uplink table (sticky connections)
FROM_PRIORITY = 20200        # from <uplink address> → uplink table
OUR_PRIORITIES = (PROBE_RULE_PRIORITY, MAIN_PRIORITY, MARK_PRIORITY, FROM_PRIORITY)
ESRCH, EEXIST = 3, 17


@attrs.frozen
class Hop:
    """One next hop of a default route: ``gateway`` None is on-link."""

    gateway: str | None
    oif: int
    weight: int = 1


@attrs.frozen
class UplinkTable:
    """One uplink's own table and what selects it."""

    name: str
    ifname: str
    table: int
    gateways: tuple[tuple[int, str], ...]      # (family, gateway)
    mark: int | None = None


@attrs.frozen
class Plan:
    """What the kernel should have: ``hops`` per family for the main default route
    (as (uplink name, weight)), the uplinks' tables, the mark mask of sticky marks."""

    metric: int
    families: tuple[int, ...]
    hops: tuple[tuple[str, int], ...]
    tables: tuple[UplinkTable, ...]
    mark_mask: int = 0
    main: bool = True       # False: the main default route is left as it is (ha BACKUP)


@attrs.frozen
class Applied:
    """What :meth:`PolicyRoutes.apply` found and did."""

    changed: tuple[int, ...]                       # families whose main route was rewritten
    repairs: int                                   # table routes and rules put right
    addresses: dict[str, tuple[str, ...]]          # per uplink, every family


def _gateway(gateway: str | None) -> str | None:
    return None if gateway in (None, "0.0.0.0") else gateway


class PolicyRoutes(Netlink):
    """One rtnetlink socket of one multi-WAN instance (opened at first use, in a thread)."""

    def uplink_addresses(self, ifname: str) -> tuple[str, ...]:
        """The interface's IPv4 and global IPv6 addresses."""
        index = self.index(ifname)
        if index is None:
            return ()
        return tuple(a.get_attr("IFA_ADDRESS") for a in self.ipr.get_addr(index=index)
                     if not (a["family"] == AF[6] and a["scope"] != 0))

    def default_hops(self, metric: int, table: int, family: int) -> list[list[Hop]]:
        """Each default route at ``metric`` in ``table``, as its next hops."""
        found = []
        for r in self.ipr.get_routes(family=AF[family], table=table, dst_len=0):
            if r["dst_len"] != 0 or (r.get_attr("RTA_PRIORITY") or 0) != stored_metric(metric, family):
                continue
            paths = r.get_attr("RTA_MULTIPATH")
            if paths:
                found.append([Hop(p.get_attr("RTA_GATEWAY"), p["oif"], p["hops"] + 1)
                              for p in paths])
            else:
                found.append([Hop(r.get_attr("RTA_GATEWAY"), r.get_attr("RTA_OIF"))])
        return found

    def set_hops(self, hops: list[Hop], metric: int, table: int, family: int) -> None:
        """One atomic replace of the default route at ``metric`` by ``hops`` (one or more)."""
        kwargs: dict[str, Any] = {"priority": metric} if metric else {}
        if len(hops) == 1:
            kwargs.update(oif=hops[0].oif)
            if hops[0].gateway is not None:
                kwargs.update(gateway=hops[0].gateway)
        else:
            kwargs["multipath"] = [
                {"oif": h.oif, "hops": h.weight - 1,
                 **({"gateway": h.gateway} if h.gateway is not None else {})} for h in hops]
        self.ipr.route("replace", family=AF[family], dst=DEFAULT[family], table=table, **kwargs)

    def delete_hops(self, hops: list[Hop], metric: int, table: int, family: int) -> None:
        kwargs: dict[str, Any] = ({"priority": stored_metric(metric, family)}
                                  if metric or family == 6 else {})
        if len(hops) == 1:
            kwargs.update(oif=hops[0].oif, gateway=hops[0].gateway)
        try:
            self.ipr.route("del", family=AF[family], dst=DEFAULT[family], table=table, **kwargs)
        except NetlinkError as e:
            if e.code != ESRCH:
                raise

    def converge(self, want: list[Hop], metric: int, table: int, family: int) -> bool:
        """Make the default routes at ``metric`` in ``table`` exactly ``want`` (none if
        empty); True if they were not.  A lone hop has no weight (the kernel reports 1)."""
        if len(want) == 1:
            want = [attrs.evolve(want[0], weight=1)]
        have = self.default_hops(metric, table, family)
        if (have == [want]) if want else not have:
            return False
        if want:
            self.set_hops(want, metric, table, family)
        for hops in self.default_hops(metric, table, family):
            if hops != want:
                self.delete_hops(hops, metric, table, family)
        return True

    def rules(self, family: int, tables: set[int]) -> list[Any]:
        """Our rules: at our priorities, pointing at one of ``tables`` (or, the main rule
        before them, at main)."""
        return [r for r in self.ipr.get_rules(family=AF[family])
                if (r.get_attr("FRA_PRIORITY") in OUR_PRIORITIES
                    and (r.get_attr("FRA_TABLE") or r["table"]) in tables)
                or (r.get_attr("FRA_PRIORITY") == MAIN_PRIORITY
                    and (r.get_attr("FRA_TABLE") or r["table"]) == MAIN_TABLE)]

    def apply(self, plan: Plan) -> Applied:
        """Converge main route, tables and rules on ``plan``; see the module's docstring."""
        indexes = {t.name: self.index(t.ifname) for t in plan.tables}
        gateways = {t.name: dict(t.gateways) for t in plan.tables}
        changed = []
        for family in plan.families:
            want = [Hop(_gateway(gateways[name][family]), index, weight)
                    for name, weight in plan.hops
                    if (index := indexes[name]) is not None and family in gateways[name]]
            if plan.main and self.converge(want, plan.metric, MAIN_TABLE, family):
                changed.append(family)
        repairs = 0
        addresses = {t.name: self.uplink_addresses(t.ifname) for t in plan.tables}
        for family in plan.families:
            for t in plan.tables:
                index = indexes[t.name]
                gateway = gateways[t.name].get(family)
                want = [] if index is None or gateway is None else [Hop(_gateway(gateway), index)]
                repairs += self.converge(want, 0, t.table, family)
            repairs += self._rules(plan, family, addresses)
        return Applied(tuple(changed), repairs, addresses)

    def _rules(self, plan: Plan, family: int, addresses: dict[str, tuple[str, ...]]) -> int:
        """Add the rules the plan wants and delete ours it does not; the count of both."""
        width = 32 if family == 4 else 128
        want: set[tuple[int, int, str, int, int]] = set()
        if any(family in dict(t.gateways) for t in plan.tables):
            want.add((MAIN_PRIORITY, MAIN_TABLE, "", 0, 0))
        for t in plan.tables:
            if family not in dict(t.gateways):
                continue
            want.add((PROBE_RULE_PRIORITY, t.table, t.ifname, 0, 0))
            if t.mark is not None:
                want.add((MARK_PRIORITY, t.table, "", t.mark, plan.mark_mask))
            want |= {(FROM_PRIORITY, t.table, a, 0, 0) for a in addresses[t.name]
                     if (":" in a) == (family == 6)}
        have = {}
        for r in self.rules(family, {t.table for t in plan.tables}):
            key = (r.get_attr("FRA_PRIORITY"), r.get_attr("FRA_TABLE") or r["table"],
                   r.get_attr("FRA_OIFNAME") or r.get_attr("FRA_SRC") or "",
                   r.get_attr("FRA_FWMARK") or 0, r.get_attr("FRA_FWMASK") or 0)
            have[key] = r
        for key in set(have) - want:
            self._rule("del", family, key, width)
        for key in want - set(have):
            self._rule("add", family, key, width)
        return len(set(have) ^ want)

    def _rule(self, command: str, family: int, key: tuple[int, int, str, int, int],
              width: int) -> None:
        priority, table, what, mark, mask = key
        kwargs: dict[str, Any] = {}
        if priority == PROBE_RULE_PRIORITY:
            kwargs["oifname"] = what
        elif priority == MAIN_PRIORITY:
            kwargs["suppress_prefixlen"] = 0
        elif priority == MARK_PRIORITY:
            kwargs.update(fwmark=mark, fwmask=mask)
        else:
            kwargs.update(src=what, src_len=width)
        try:
            self.ipr.rule(command, family=AF[family], table=table, priority=priority, **kwargs)
        except NetlinkError as e:
            if e.code not in (ESRCH, EEXIST):
                raise

    def withdraw(self, plan: Plan, hops: Iterable[Hop] = ()) -> None:
        """Remove what ``plan`` made: its rules, its tables' routes, and the main default
        route at its metric if it goes only through the plan's uplinks."""
        ours = {(h.gateway, h.oif) for h in hops}
        for family in plan.families:
            for route in self.default_hops(plan.metric, MAIN_TABLE, family):
                if all((h.gateway, h.oif) in ours for h in route):
                    self.delete_hops(route, plan.metric, MAIN_TABLE, family)
            for t in plan.tables:
                self.converge([], 0, t.table, family)
            for r in self.rules(family, {t.table for t in plan.tables}):
                self.ipr.rule("del", family=AF[family], table=r.get_attr("FRA_TABLE"),
                              priority=r.get_attr("FRA_PRIORITY"),
                              **_selector(r, 32 if family == 4 else 128))


def _selector(rule: Any, width: int) -> dict[str, Any]:
    if rule.get_attr("FRA_PRIORITY") == MAIN_PRIORITY:
        return {"suppress_prefixlen": 0}
    if rule.get_attr("FRA_OIFNAME"):
        return {"oifname": rule.get_attr("FRA_OIFNAME")}
    if rule.get_attr("FRA_FWMARK"):
        return {"fwmark": rule.get_attr("FRA_FWMARK"), "fwmask": rule.get_attr("FRA_FWMASK")}
    return {"src": rule.get_attr("FRA_SRC"), "src_len": width}
