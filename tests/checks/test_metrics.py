"""The checks' Prometheus families, from monitors driven by a Clock and the fake engine
(ICMP itself is covered by the lab tests; here the numbers must be exact)."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from netsentinel.metrics import Family, render
from tests.checks.fakes import FakeEngine
from tests.checks.test_failover import DualLab
from tests.checks.test_failover import Lab as FailoverLab
from tests.checks.test_monitors import ddns, ping, updown
from tests.lab import samples


def scrape(families: list[Family]) -> dict[str, float]:
    return samples(render(families))


def test_ping_rtt_in_seconds_loss_and_jitter() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, _ = ping(clock, engine, None)
    labels = 'name="gw",target="10.0.0.1"'
    assert scrape(monitor.metrics()) == {f"netsentinel_ping_alarm{{{labels}}}": 0}  # no check yet
    clock.advance(0)
    m = scrape(monitor.metrics())
    assert m[f"netsentinel_ping_last_rtt_seconds{{{labels}}}"] == 0.001
    assert m[f"netsentinel_ping_rtt_seconds{{{labels}}}"] == 0.001
    assert m[f"netsentinel_ping_loss_ratio{{{labels}}}"] == 0
    assert m[f"netsentinel_ping_jitter_seconds{{{labels}}}"] == 0
    engine.alive["10.0.0.1"] = False
    clock.advance(1)
    m = scrape(monitor.metrics())
    assert f"netsentinel_ping_last_rtt_seconds{{{labels}}}" not in m   # no reply: no RTT
    assert m[f"netsentinel_ping_loss_ratio{{{labels}}}"] == 0.5


def test_updown_state_is_one_gauge_per_state() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, _ = updown(clock, engine)
    clock.advance(0)
    m = scrape(monitor.metrics())
    assert {k: v for k, v in m.items() if "state" in k} == {
        'netsentinel_updown_state{name="net",state="offline"}': 0,
        'netsentinel_updown_state{name="net",state="online"}': 1,
        'netsentinel_updown_state{name="net",state="unknown"}': 0}
    assert m['netsentinel_updown_targets_alive{name="net"}'] == 1


def test_ddns_last_change_is_the_time_of_the_change(tmp_path: Any) -> None:
    addresses = {"wan1": ["10.1.1.1"]}
    monitor, _, clock = ddns(tmp_path, addresses, state=False)
    clock.advance(0)
    clock.advance(60)
    addresses["wan1"] = ["10.1.1.2"]
    clock.advance(60)
    m = scrape(monitor.metrics())
    assert m['netsentinel_ddns_last_change_timestamp_seconds{name="ext"}'] == 120
    assert m['netsentinel_ddns_last_check_timestamp_seconds{name="ext"}'] == 120
    assert m['netsentinel_ddns_address_info{name="ext",address="10.1.1.2"}'] == 1
    assert m['netsentinel_ddns_source_failures{name="ext"}'] == 1     # wan0 has no address


def test_failover_active_uplink_and_switches() -> None:
    lab = FailoverLab()
    lab.run(1)
    m = scrape(lab.monitor.metrics())
    assert m['netsentinel_failover_active{name="wan",uplink="primary"}'] == 1
    assert m['netsentinel_failover_active{name="wan",uplink="standby"}'] == 0
    lab.set(eth1=False, eth2=True)
    lab.run(2)
    m = scrape(lab.monitor.metrics())
    assert m['netsentinel_failover_active{name="wan",uplink="standby"}'] == 1
    assert m['netsentinel_failover_uplink_up{name="wan",uplink="primary"}'] == 0
    assert m['netsentinel_failover_switches_total{name="wan"}'] == 2
    assert m['netsentinel_failover_route{name="wan",family="4",uplink="standby",'
             'gateway="192.168.62.1"}'] == 1


def test_failover_ipv6_route() -> None:
    lab = DualLab()
    lab.run(1)
    m = scrape(lab.monitor.metrics())
    assert m['netsentinel_failover_route{name="wan",family="6",uplink="primary",'
             'gateway="2001:db8:42::1"}'] == 1
