"""Failover's decision and route handling with a Clock, a fake engine and in-memory netlink."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from netsentinel.checks.config import FailoverConfig, Probe, Uplink
from netsentinel.checks.failover import FailoverMonitor, choose
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
    def __init__(self, **kw: Any) -> None:
        self.clock, self.engine, self.netlink = Clock(), FakeEngine(), FakeNetlink()
        config = FailoverConfig(
            "wan", Uplink("Primary", "eth1", "pnet", GW1, postping=kw.pop("postping", None)),
            Uplink("Standby", "eth2", "snet", GW2, ping=kw.pop("ping2", None), table=7),
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
    assert lab.netlink.probe_routes == [("eth2", GW2, 7)]
    assert ("10.200.0.1", "eth2") in lab.engine.calls
