"""Multi-WAN's choice, events and hand commands with a Clock and in-memory routes."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.checks.config import FailoverConfig
from netsentinel.checks.config.failover import parse_multiwan
from netsentinel.checks.failover_report import ProbeOutcome
from netsentinel.checks.gateways import gateway_warnings
from netsentinel.checks.multiwan import MultiWanMonitor, plan_of, route_members
from netsentinel.checks.multiwan_command import uplink_command
from netsentinel.checks.policy import Applied, Plan
from netsentinel.schema import Section
from netsentinel.snapshot import to_json
from tests.checks.fakes import FakeEngine, tools

YAML = """
mode: {mode}
down_after: 1
up_after: 1
uplinks:
  fibre: {{interface: eth1, gateway: 192.0.2.1, weight: 3}}
  cable: {{interface: eth2, gateway: 198.51.100.1}}
  lte: {{interface: eth3, gateway: 203.0.113.1, tier: 2}}
"""


def config(mode: str = "balance") -> FailoverConfig:
    s = Section.from_text(YAML.format(mode=mode), "m.yaml")
    parsed = parse_multiwan("wan", s)
    assert s.problems == []
    return parsed


class FakePolicy:
    def __init__(self) -> None:
        self.plans: list[Plan] = []

    def apply(self, plan: Plan) -> Applied:
        self.plans.append(plan)
        return Applied((4,) if len(self.plans) == 1 else (), 0,
                       {t.name: (f"10.0.{n}.2",) for n, t in enumerate(plan.tables)})

    def close(self) -> None:
        pass


class Lab:
    def __init__(self, mode: str = "balance") -> None:
        self.clock = Clock()
        t, self.events = tools(self.clock, FakeEngine())
        self.policy = FakePolicy()
        self.monitor = MultiWanMonitor(config(mode), t, self.policy)  # type: ignore[arg-type]
        self.monitor.sticky = None
        self.monitor.blocking = lambda work: defer.succeed(work())
        self.up = {"fibre": True, "cable": True, "lte": True}
        self.monitor.prober.run = self._run  # type: ignore[method-assign]

    def _run(self, uplink: Any, addresses: Any) -> defer.Deferred[list[ProbeOutcome]]:
        ok = self.up[uplink.name]
        return defer.succeed([ProbeOutcome("icmp x", ok, None if ok else "no reply")])

    def round(self) -> tuple[tuple[str, int], ...]:
        self.monitor.check()
        return self.policy.plans[-1].hops


def test_the_best_tier_with_a_live_uplink_carries_the_route() -> None:
    uplinks = config().uplinks
    assert route_members(uplinks, {"fibre", "cable", "lte"}, "balance") == ("fibre", "cable")
    assert route_members(uplinks, {"fibre", "cable", "lte"}, "failover") == ("fibre",)
    assert route_members(uplinks, {"lte"}, "balance") == ("lte",)
    assert route_members(uplinks, set(), "balance") == ()


def test_balance_weights_and_tables_in_the_plan() -> None:
    plan = plan_of(config(), ("fibre", "cable"))
    assert plan.hops == (("fibre", 3), ("cable", 1))
    assert [t.table for t in plan.tables] == [31608, 31609, 31610]


def test_uplink_down_moves_route_and_publishes_events() -> None:
    lab = Lab()
    assert lab.round() == (("fibre", 3), ("cable", 1))
    lab.up["fibre"] = False
    assert lab.round() == (("cable", 1),)
    lab.up["cable"] = False
    assert lab.round() == (("lte", 1),)
    names = [(e.name, e.args) for e in lab.events]
    assert ("uplink-down", ("fibre",)) in names and ("routes", ("cable",)) in names
    assert ("routes", ("lte",)) in names
    status = lab.monitor.status()
    assert status.members == ("lte",) and status.uplinks["lte"].share == 1.0
    assert to_json(status)["uplinks"]["fibre"]["state"] == "offline"


def test_disable_takes_an_uplink_out_by_hand_and_enable_brings_it_back() -> None:
    lab = Lab()
    lab.round()
    monitors: dict[str, Any] = {"wan": lab.monitor}
    replies: list[str] = []
    uplink_command(monitors, ["disable", "wan", "fibre"]).addCallback(replies.append)
    assert lab.policy.plans[-1].hops == (("cable", 1),)
    uplink_command(monitors, ["enable", "wan", "fibre"]).addCallback(replies.append)
    assert lab.policy.plans[-1].hops == (("fibre", 3), ("cable", 1))
    assert replies == ["OK fibre disabled; route via cable", "OK fibre enabled; route via "
                                                             "fibre,cable"]
    assert uplink_command(monitors, ["disable", "wan", "dsl"]).startswith("ERROR")


def test_two_uplink_form_is_untouched() -> None:
    s = Section.from_text("primary: {interface: eth1, gateway: 192.0.2.1}\n"
                          "standby: {interface: eth2, gateway: 198.51.100.1}\n", "f.yaml")
    from netsentinel.checks.config.failover import parse_failover
    parsed = parse_failover("wan", s)
    assert parsed.uplinks == () and len(parsed.members) == 2 and s.problems == []


def test_config_mistakes_are_one_line_each() -> None:
    s = Section.from_text("mode: balance\nuplinks:\n"
                          "  a: {interface: eth1, gateway: 192.0.2.1, weight: 0}\n"
                          "  b: {interface: eth1, gateway: 192.0.2.2, tier: 3}\n", "m.yaml")
    parse_multiwan("wan", s)
    text = [str(p) for p in s.problems]
    assert any("weight: a weight of 0" in t for t in text)
    assert any("share interface eth1" in t for t in text)
    assert any("tier 2 has no uplink" in t for t in text)
    assert any("balance needs two uplinks in one tier" in t for t in text)


def test_held_by_ha_probes_on_but_leaves_the_main_route() -> None:
    lab = Lab()
    lab.monitor.held = True
    lab.round()
    lab.up["fibre"] = False
    lab.round()
    assert {p.main for p in lab.policy.plans} == {False} and lab.monitor.members is None
    assert [e.name for e in lab.events] == ["uplink-down"]      # judged, no routes event
    assert lab.monitor.addresses["fibre"] == ("10.0.0.2",)       # for tcp/dns probes
    lab.monitor.held = False
    assert lab.round() == (("cable", 1),) and lab.policy.plans[-1].main
    assert ("routes", ("cable",)) in [(e.name, e.args) for e in lab.events]


def test_gateway_off_the_interface_network_is_a_warning_line() -> None:
    s = Section.from_text(YAML.format(mode="failover"), "m.yaml")
    parsed = parse_multiwan("wan", s)
    nets = {"eth1": ["192.0.2.9/24"], "eth2": ["10.0.0.2/24"], "eth3": []}
    lines = gateway_warnings([parsed], lambda ifname, family: nets[ifname])
    assert lines == ["m.yaml:7: uplinks.cable.gateway: warning: 198.51.100.1 is not on "
                     "eth2's networks (10.0.0.2/24): the kernel will refuse a route through it"]
