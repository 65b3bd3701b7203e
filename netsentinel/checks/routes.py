"""Short netlink calls (pyroute2) for failover and the interface source.

Each call is one request to the local kernel and returns at once; nothing here
waits on the network, so calling it from the reactor is fine.
"""

from __future__ import annotations

import socket
from typing import Any

import attrs
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

MAIN_TABLE = 254
PROBE_RULE_PRIORITY = 20000
DEFAULT = {4: "0.0.0.0/0", 6: "::/0"}
AF = {4: socket.AF_INET, 6: socket.AF_INET6}
IPV6_DEFAULT_METRIC = 1024   # the kernel stores an IPv6 route added without a metric at 1024


def stored_metric(metric: int, family: int) -> int:
    """The metric the kernel stores: IPv6 has no metric 0."""
    return IPV6_DEFAULT_METRIC if family == 6 and metric == 0 else metric


@attrs.frozen
class Route:
    gateway: str | None
    oif: int | None


class Netlink:
    """One rtnetlink socket, opened at its first request (a monitor runs only once its
    owner started), so building the service tree opens nothing."""

    def __init__(self) -> None:
        self._ipr: Any = None

    @property
    def ipr(self) -> Any:
        if self._ipr is None:
            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def index(self, ifname: str) -> int | None:
        found = self.ipr.link_lookup(ifname=ifname)
        return int(found[0]) if found else None

    def addresses(self, ifname: str, family: int = 4) -> list[str]:
        """The interface's addresses of one family, primary first; [] if it has none."""
        index = self.index(ifname)
        if index is None:
            return []
        return [a.get_attr("IFA_ADDRESS")
                for a in self.ipr.get_addr(index=index, family=AF[family])]

    def networks(self, ifname: str, family: int = 4) -> list[str] | None:
        """The interface's addresses of one family as ``ADDRESS/PREFIXLEN``; None if
        there is no such interface."""
        index = self.index(ifname)
        if index is None:
            return None
        return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in self.ipr.get_addr(index=index, family=AF[family])]

    def default_routes(self, metric: int, table: int = MAIN_TABLE,
                       family: int = 4) -> list[Route]:
        routes = self.ipr.get_routes(family=AF[family], table=table, dst_len=0)
        metric = stored_metric(metric, family)
        return [Route(r.get_attr("RTA_GATEWAY"), r.get_attr("RTA_OIF")) for r in routes
                if (r.get_attr("RTA_PRIORITY") or 0) == metric and r["dst_len"] == 0]

    def replace_default(self, gateway: str, oif: int, metric: int,
                        table: int = MAIN_TABLE, family: int = 4) -> None:
        """One atomic replace: the old route at this metric becomes the new one, never two."""
        kwargs = {"priority": metric} if metric else {}
        self.ipr.route("replace", family=AF[family], dst=DEFAULT[family], gateway=gateway,
                       oif=oif, table=table, **kwargs)

    def delete_default(self, route: Route, metric: int, table: int = MAIN_TABLE,
                       family: int = 4) -> None:
        kwargs = {"priority": stored_metric(metric, family)} if metric or family == 6 else {}
        try:
            self.ipr.route("del", family=AF[family], dst=DEFAULT[family],
                           gateway=route.gateway, oif=route.oif, table=table, **kwargs)
        except NetlinkError as e:
            if e.code != 3:       # ESRCH: already gone
                raise

    def ensure_probe_route(self, ifname: str, gateway: str, table: int,
                           family: int = 4) -> None:
        """Probes bound to ``ifname`` leave through its gateway (``oif`` rule, own table).

        Without it a probe to a remote target on a standby uplink has no route
        through that interface and would be sent on-link, so it could never
        see the uplink healthy again.
        """
        index = self.index(ifname)
        if index is None:
            return
        if Route(gateway, index) not in self.default_routes(0, table, family):
            self.replace_default(gateway, index, 0, table, family)
        rules = self.ipr.get_rules(family=AF[family])
        if not any(r.get_attr("FRA_OIFNAME") == ifname and r.get_attr("FRA_TABLE") == table
                   for r in rules):
            self.ipr.rule("add", family=AF[family], table=table, priority=PROBE_RULE_PRIORITY,
                          oifname=ifname)
