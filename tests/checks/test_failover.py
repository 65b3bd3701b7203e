"""Failover's decision and route handling with a Clock, a fake engine and in-memory netlink."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from netsentinel.checks.config import FailoverConfig, Probe, Uplink
from netsentinel.checks.failover import FailoverMonitor, choose
from netsentinel.checks.failover_report import RouteStatus
from netsentinel.checks.hysteresis import LinkState
from netsentinel.checks.routes import Route
from tests.checks.fakes import FakeEngine, FakeNetlink, tools

UP, DOWN = LinkState.UP, LinkState.DOWN
GW1, GW2 = "192.168.42.1", "192.168.62.1"


def test_choose_keeps_a_healthy_active_uplink() -> None:
    assert choose("standby", UP, UP, prefer_primary=False, may_fail_back=True) == "standby"
    assert choose("standby", UP, UP, prefer_primary=True, may_fail_back=False) == "standby"
    assert choose("standby", UP, UP, prefer_primary=True, may_fail_back=True) == "primary"
    assert choose("primary", DOWN, UP, True, False) == "standby"
    assert choose("primary", DOWN, DOWN, True, True) is None
    assert choose(None, DOWN, UP, True, True) == "standby"


class Lab:
    def __init__(self, gateways: tuple[str | None, str | None] = (GW1, GW2),
                 gateways6: tuple[str | None, str | None] = (None, None), **kw: Any) -> None:
        self.clock, self.engine, self.netlink = Clock(), FakeEngine(), FakeNetlink()
        config = FailoverConfig(
            "wan", Uplink("Primary", "eth1", "pnet", gateways[0], postping=kw.pop("postping", None),
                          gateway6=gateways6[0], quality=kw.pop("quality1", None)),
            Uplink("Standby", "eth2", "snet", gateways[1], ping=kw.pop("ping2", None), table=7,
                   gateway6=gateways6[1], ping6=kw.pop("ping6", None),
                   quality=kw.pop("quality2", None)),
            **{"interval": 1.0, "probe": Probe(1, 0.5), "down_after": 2, "up_after": 3,
               "min_switch_interval": 0, **kw})
        t, self.events = tools(self.clock, self.engine)
        self.monitor = FailoverMonitor(config, t, self.netlink)  # type: ignore[arg-type]
        self.set(eth1=True, eth2=True)
        self.monitor.startService()

    def set(self, eth1: bool, eth2: bool) -> None:
        self.engine.alive[f"{GW1}%eth1"] = eth1
        self.engine.alive[f"{GW2}%eth2"] = eth2

    def run(self, checks: int) -> None:
        for _ in range(checks):
            self.clock.advance(1)

    def names(self) -> list[tuple[str, ...]]:
        return [(e.name, *e.args) for e in self.events]


def test_initial_state_of_each_uplink_and_route_on_primary() -> None:
    lab = Lab()
    lab.clock.advance(0)
    assert lab.names() == [("failover-initial", "pnet:Primary:eth1:192.168.42.2", "online"),
                           ("failover-initial", "snet:Standby:eth2:", "online"),
                           ("failover-primary", "pnet:Primary:eth1:192.168.42.2")]
    assert lab.netlink.routes == [Route(GW1, 2)]
    assert ("192.168.42.1", "eth1") in lab.engine.calls


def test_primary_failure_moves_the_route_after_down_after_and_back_after_up_after() -> None:
    lab = Lab()
    lab.clock.advance(0)
    lab.set(eth1=False, eth2=True)
    lab.run(1)
    assert lab.netlink.routes == [Route(GW1, 2)]
    lab.run(1)
    assert lab.netlink.routes == [Route(GW2, 3)]
    assert lab.names()[-1] == ("failover-standby", "snet:Standby:eth2:")
    lab.set(eth1=True, eth2=True)
    lab.run(2)
    assert lab.netlink.routes == [Route(GW2, 3)]
    lab.run(1)
    assert lab.netlink.routes == [Route(GW1, 2)]
    assert all(len(routes) == 1 for routes in lab.netlink.history)


def test_fail_back_waits_for_min_switch_interval() -> None:
    lab = Lab(min_switch_interval=30.0)
    lab.clock.advance(0)
    lab.set(eth1=False, eth2=True)
    lab.run(2)
    lab.set(eth1=True, eth2=True)
    lab.run(10)
    assert lab.monitor.active == "standby"
    lab.run(20)
    assert lab.monitor.active == "primary"


def test_without_prefer_primary_the_standby_stays() -> None:
    lab = Lab(prefer_primary=False)
    lab.clock.advance(0)
    lab.set(eth1=False, eth2=True)
    lab.run(2)
    lab.set(eth1=True, eth2=True)
    lab.run(10)
    assert lab.monitor.active == "standby"


def test_both_down_removes_the_route_and_reports_bothdown() -> None:
    lab = Lab()
    lab.clock.advance(0)
    lab.set(eth1=False, eth2=False)
    lab.run(2)
    assert lab.netlink.routes == []
    assert lab.names()[-1] == ("failover-bothdown", "pnet:Primary:eth1:192.168.42.2",
                               "snet:Standby:eth2:")


def test_route_changed_behind_our_back_is_put_right() -> None:
    lab = Lab()
    lab.clock.advance(0)
    lab.netlink.routes[:] = [Route("192.168.42.99", 2)]
    lab.run(1)
    assert lab.netlink.routes == [Route(GW1, 2)]
    lab.netlink.routes.clear()
    lab.run(1)
    assert lab.netlink.routes == [Route(GW1, 2)] and lab.monitor.repairs == 2


def test_postping_after_a_switch() -> None:
    lab = Lab(postping="10.7.7.7")
    lab.engine.alive["10.7.7.7%eth1"] = True
    lab.clock.advance(0)
    assert lab.names()[-1] == ("failover-postping", "pnet:Primary:eth1:192.168.42.2", "online")


def test_remote_ping_target_gets_a_probe_route() -> None:
    lab = Lab(ping2="10.200.0.1")
    lab.engine.alive["10.200.0.1%eth2"] = True
    lab.clock.advance(0)
    assert lab.netlink.probe_routes == [("eth2", GW2, 7, 4)]
    assert ("10.200.0.1", "eth2") in lab.engine.calls


GW1_6, GW2_6 = "2001:db8:42::1", "fe80::1"


class DualLab(Lab):
    """Both uplinks dual-stack; the standby's IPv6 gateway is link-local."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(gateways6=(GW1_6, GW2_6), **kw)

    def set6(self, eth1: bool, eth2: bool) -> None:
        self.engine.alive[f"{GW1_6}%eth1"] = eth1
        self.engine.alive[f"{GW2_6}%eth2"] = eth2

    def set(self, eth1: bool, eth2: bool) -> None:
        super().set(eth1, eth2)
        self.set6(eth1, eth2)


def test_dual_stack_families_switch_together_and_back() -> None:
    lab = DualLab()
    lab.clock.advance(0)
    assert lab.netlink.routes == [Route(GW1, 2)] and lab.netlink.routes6 == [Route(GW1_6, 2)]
    assert (GW1_6, "eth1") in lab.engine.calls and (GW2_6, "eth2") in lab.engine.calls
    lab.set6(eth1=False, eth2=True)         # only the primary's IPv6 fails
    lab.run(2)
    assert lab.netlink.routes == [Route(GW2, 3)] and lab.netlink.routes6 == [Route(GW2_6, 3)]
    assert lab.names()[-1] == ("failover-standby", "snet:Standby:eth2:")
    lab.set(eth1=True, eth2=True)
    lab.run(3)
    assert lab.netlink.routes == [Route(GW1, 2)] and lab.netlink.routes6 == [Route(GW1_6, 2)]
    assert all(len(routes) == 1 for routes in lab.netlink.history)
    assert lab.monitor.status().routes == {
        "ipv4": RouteStatus("primary", GW1, "eth1"), "ipv6": RouteStatus("primary", GW1_6, "eth1")}


def test_ipv6_only_instance_never_touches_ipv4() -> None:
    lab = Lab(gateways=(None, None), gateways6=(GW1_6, GW2_6))
    lab.netlink.addrs["eth1"] = ["fe80::2", "2001:db8:42::2"]
    lab.engine.alive.update({f"{GW1_6}%eth1": False, f"{GW2_6}%eth2": True})
    lab.run(2)
    assert lab.netlink.routes == [] and lab.netlink.routes6 == [Route(GW2_6, 3)]
    assert lab.names()[0] == ("failover-initial", "pnet:Primary:eth1:2001:db8:42::2", "offline")
    assert all(target.startswith(("2001:", "fe80:")) for target, _ in lab.engine.calls)
    status = lab.monitor.status()
    assert list(status.routes or {}) == ["ipv6"]
    standby = status.uplinks["standby"]
    assert standby.last is None and standby.last6 is not None and standby.last6.received == 1


def test_ipv6_route_changed_behind_our_back_is_put_right() -> None:
    lab = DualLab()
    lab.clock.advance(0)
    lab.netlink.routes6.clear()
    lab.run(1)
    assert lab.netlink.routes6 == [Route(GW1_6, 2)] and lab.monitor.repairs == 1
    assert lab.netlink.routes == [Route(GW1, 2)]


def test_remote_ping6_target_gets_an_ipv6_probe_route() -> None:
    lab = DualLab(ping6="2001:db8:200::1")
    lab.engine.alive["2001:db8:200::1%eth2"] = True
    lab.clock.advance(0)
    assert lab.netlink.probe_routes == [("eth2", GW2_6, 7, 6)]
    assert ("2001:db8:200::1", "eth2") in lab.engine.calls
