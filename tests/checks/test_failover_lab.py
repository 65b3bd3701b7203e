"""Failover in namespaces: a router with two uplinks to two ISPs, the real daemon, real routes."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import Recorder, add_address, default_routes, drop, heal, peer
from tests.lab import Daemon, Lab, samples, wait_for

METRIC = 201
CONFIG = """
checks:
  action: {action}
  failover:
    wan:
      interval: 0.3
      count: 1
      wait: 0.25
      down_after: 2
      up_after: 3
      min_switch_interval: 0
      metric: {metric}
      primary: {{interface: {eth1}, name: pnet, {primary}}}
      standby: {{interface: {eth2}, name: snet, {standby}}}
"""
PRIMARY4 = "gateway: 192.168.42.1, ping: {ping}, postping: 192.168.42.1"
STANDBY4 = "gateway: 192.168.62.1, ping: {ping}"
# the standby's IPv6 gateway is link-local, as many ISPs hand out by router advertisement
PRIMARY6, STANDBY6 = "gateway6: 2001:db8:42::1", "gateway6: fe80::1"


class Uplinks:
    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.router = lab.netns("r")
        self.isp1, self.eth1 = peer(lab, self.router, "i1", "192.168.42.2/24", "192.168.42.1/24")
        self.isp2, self.eth2 = peer(lab, self.router, "i2", "192.168.62.2/24", "192.168.62.1/24")
        self.recorder = Recorder(tmp_path)
        self.tmp_path = tmp_path

    def start(self, ping1: str = "null", ping2: str = "null", primary: str = PRIMARY4,
              standby: str = STANDBY4) -> Daemon:
        config = CONFIG.format(action=self.recorder.script, metric=METRIC, eth1=self.eth1,
                               eth2=self.eth2, primary=primary.format(ping=ping1),
                               standby=standby.format(ping=ping2))
        self.daemon = Daemon(self.lab, self.router, self.tmp_path, config).start()
        return self.daemon

    def add_ipv6(self) -> None:
        """A global /64 towards ISP 1 and only link-local addresses towards ISP 2."""
        add_address(self.lab, self.router, self.eth1, "2001:db8:42::2/64")
        add_address(self.lab, self.isp1, self.isp_if(self.isp1), "2001:db8:42::1/64")
        add_address(self.lab, self.router, self.eth2, "fe80::2/64")
        add_address(self.lab, self.isp2, self.isp_if(self.isp2), "fe80::1/64")

    def isp_if(self, isp: str) -> str:
        """The ISP namespace's end of its link to the router (its only veth)."""
        links = json.loads(self.lab.run(isp, "ip", "-j", "link", "show", "type", "veth").stdout)
        return str(links[0]["ifname"])

    def gateways(self, family: int = 4) -> list[object]:
        return [r.get("gateway") for r in default_routes(self.lab, self.router, METRIC, family)]

    def routes6(self) -> list[tuple[object, object]]:
        return [(r.get("gateway"), r.get("dev"))
                for r in default_routes(self.lab, self.router, METRIC, 6)]

    def failover(self) -> dict[str, Any]:
        return self.daemon.status()["checks"]["failover"]["wan"]  # type: ignore[no-any-return]


@pytest.fixture
def uplinks(lab: Lab, tmp_path: Path) -> Iterator[Uplinks]:
    yield Uplinks(lab, tmp_path)


class RouteWatch:
    """Polls ``ip -j route`` in a thread and keeps every count of default routes it saw."""

    def __init__(self, uplinks: Uplinks | None, family: int = 4,
                 count: Callable[[], int] | None = None) -> None:
        assert uplinks is not None or count is not None
        self.count = count or (lambda: len(uplinks.gateways(family)))  # type: ignore[union-attr]
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.counts.append(self.count())

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        return self.counts


def test_default_route_moves_to_standby_and_back_never_two_or_none(uplinks: Uplinks) -> None:
    uplinks.start()
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route via primary")
    watch = RouteWatch(uplinks)
    try:
        drop(uplinks.lab, uplinks.isp1, "icmp type echo-request")
        wait_for(lambda: uplinks.gateways() == ["192.168.62.1"], what="route via standby")
        heal(uplinks.lab, uplinks.isp1)
        wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route back on primary")
    finally:
        counts = watch.stop()
    assert counts and set(counts) == {1}, f"default route counts seen: {sorted(set(counts))}"
    # the second field is 1: the daemon logs to its file, not syslog
    primary, standby = f"pnet:Primary:{uplinks.eth1}:192.168.42.2", \
        f"snet:Standby:{uplinks.eth2}:192.168.62.2"
    initial = ["wan", "1", "failover-initial", primary, "online"]
    to_standby = ["wan", "1", "failover-standby", standby]
    to_primary = ["wan", "1", "failover-primary", primary]
    postping = ["wan", "1", "failover-postping", primary, "online"]

    def switched_back(calls: list[list[str]]) -> bool:
        # the start and the move back each call failover-primary and failover-postping
        return (initial in calls and to_standby in calls and calls.count(to_primary) >= 2
                and calls.count(postping) >= 2)
    # the route moves first; its action, and the postping probe with its own, come after
    wait_for(lambda: switched_back(uplinks.recorder.calls()), what="the failover actions")
    assert uplinks.failover()["active"] == "primary"


def test_route_deleted_behind_its_back_comes_back(uplinks: Uplinks) -> None:
    uplinks.start()
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route via primary")
    uplinks.lab.run(uplinks.router, "ip", "route", "del", "default", "metric", str(METRIC))
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route restored")
    assert uplinks.failover()["repairs"] >= 1


def test_both_down_reports_bothdown_with_empty_ip(uplinks: Uplinks) -> None:
    uplinks.lab.run(uplinks.router, "ip", "addr", "flush", "dev", uplinks.eth2)
    drop(uplinks.lab, uplinks.isp1, "icmp type echo-request")
    uplinks.start()
    wait_for(lambda: uplinks.recorder.events("failover-bothdown"), what="bothdown")
    assert uplinks.recorder.events("failover-bothdown")[0][3:] == [
        f"pnet:Primary:{uplinks.eth1}:192.168.42.2", f"snet:Standby:{uplinks.eth2}:"]
    assert uplinks.gateways() == []


def test_remote_target_behind_standby_only_fails_the_primary_probe(uplinks: Uplinks) -> None:
    uplinks.lab.run(uplinks.isp2, "ip", "addr", "add", "10.200.0.1/32", "dev", "lo")
    uplinks.start(ping1="10.200.0.1", ping2="10.200.0.1")
    wait_for(lambda: uplinks.gateways() == ["192.168.62.1"], what="route via standby")
    state = uplinks.failover()["uplinks"]
    assert state["primary"]["state"] == "offline" and state["standby"]["state"] == "online"


DUAL = (f"{PRIMARY4}, {PRIMARY6}", f"{STANDBY4}, {STANDBY6}")


def test_dual_stack_both_families_follow_the_primary_ipv6_loss(uplinks: Uplinks) -> None:
    """Only ICMPv6 echo to ISP 1 fails: one verdict per uplink moves IPv4 and IPv6 together."""
    uplinks.add_ipv6()
    uplinks.start(primary=DUAL[0], standby=DUAL[1])
    wait_for(lambda: uplinks.routes6() == [("2001:db8:42::1", uplinks.eth1)],
             what="IPv6 route via primary")
    assert uplinks.gateways() == ["192.168.42.1"]
    watch4, watch6 = RouteWatch(uplinks), RouteWatch(uplinks, 6)
    try:
        drop(uplinks.lab, uplinks.isp1, "icmpv6 type echo-request")
        wait_for(lambda: uplinks.routes6() == [("fe80::1", uplinks.eth2)],
                 what="IPv6 route via the standby's link-local gateway")
        wait_for(lambda: uplinks.gateways() == ["192.168.62.1"], what="IPv4 route via standby")
        heal(uplinks.lab, uplinks.isp1)
        wait_for(lambda: uplinks.routes6() == [("2001:db8:42::1", uplinks.eth1)],
                 what="IPv6 route back on primary")
        wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="IPv4 route back")
    finally:
        counts4, counts6 = watch4.stop(), watch6.stop()
    assert set(counts4) == {1} and set(counts6) == {1}, (sorted(set(counts4)),
                                                         sorted(set(counts6)))
    state = uplinks.failover()
    assert state["routes"]["ipv6"] == {"uplink": "primary", "gateway": "2001:db8:42::1",
                                       "interface": uplinks.eth1}
    assert state["uplinks"]["standby"]["last6"]["address"] == "fe80::1"


def test_ipv6_only_instance_route_status_metrics_and_repair(uplinks: Uplinks) -> None:
    uplinks.add_ipv6()
    uplinks.start(primary=PRIMARY6, standby=STANDBY6)
    wait_for(lambda: uplinks.routes6() == [("2001:db8:42::1", uplinks.eth1)],
             what="IPv6 route via primary")
    assert uplinks.gateways() == []
    uplinks.lab.run(uplinks.router, "ip", "-6", "route", "del", "default", "metric", str(METRIC))
    wait_for(lambda: uplinks.routes6() == [("2001:db8:42::1", uplinks.eth1)],
             what="IPv6 route restored")
    state = uplinks.failover()
    assert state["repairs"] >= 1 and list(state["routes"]) == ["ipv6"]
    metrics = samples(uplinks.daemon.ctl("metrics"))
    assert metrics['netsentinel_failover_route{name="wan",family="6",uplink="primary",'
                   'gateway="2001:db8:42::1"}'] == 1
    calls = wait_for(lambda: uplinks.recorder.events("failover-primary"), what="action primary")
    assert calls[0][3] == f"pnet:Primary:{uplinks.eth1}:2001:db8:42::2"
    drop(uplinks.lab, uplinks.isp1, "icmpv6 type echo-request")
    wait_for(lambda: uplinks.routes6() == [("fe80::1", uplinks.eth2)], what="IPv6 via standby")


def test_remote_ping6_target_behind_standby_gets_an_ipv6_probe_rule(uplinks: Uplinks) -> None:
    uplinks.add_ipv6()
    uplinks.lab.run(uplinks.isp2, "ip", "addr", "add", "2001:db8:200::1/128", "dev", "lo")
    uplinks.lab.run(uplinks.isp2, "ip", "-6", "route", "add", "default", "via", "fe80::2",
                    "dev", uplinks.isp_if(uplinks.isp2))
    target = "gateway6: {gw}, ping6: 2001:db8:200::1"
    uplinks.start(primary=target.format(gw="2001:db8:42::1"), standby=target.format(gw="fe80::1"))
    wait_for(lambda: uplinks.routes6() == [("fe80::1", uplinks.eth2)], what="IPv6 via standby")
    state = uplinks.failover()["uplinks"]
    assert state["primary"]["state"] == "offline" and state["standby"]["state"] == "online"
    rules = json.loads(uplinks.lab.run(uplinks.router, "ip", "-j", "-6", "rule").stdout)
    assert {(r.get("oif"), r.get("table")) for r in rules} >= {
        (uplinks.eth1, str(1000 + 2 * METRIC)), (uplinks.eth2, str(1001 + 2 * METRIC))}


def test_reload_withdraws_the_routes_it_no_longer_manages(uplinks: Uplinks) -> None:
    uplinks.add_ipv6()
    daemon = uplinks.start(primary=DUAL[0], standby=DUAL[1])
    wait_for(lambda: uplinks.routes6() == [("2001:db8:42::1", uplinks.eth1)],
             what="IPv6 route via primary")
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="IPv4 route via primary")
    ipv4_only = CONFIG.format(action=uplinks.recorder.script, metric=METRIC, eth1=uplinks.eth1,
                              eth2=uplinks.eth2, primary=PRIMARY4.format(ping="null"),
                              standby=STANDBY4.format(ping="null"))
    daemon.write_config(ipv4_only)
    assert daemon.ctl("reload") == "OK: reloaded (changed: checks)"
    assert uplinks.routes6() == []                 # withdrawn before the reply
    wait_for(lambda: uplinks.failover()["active"] == "primary", what="IPv4-only instance up")
    assert uplinks.gateways() == ["192.168.42.1"]
    assert "IPv6 default route via 2001:db8:42::1 at metric 201 withdrawn" in daemon.output()

    daemon.write_config(f"checks:\n  action: {uplinks.recorder.script}\n")
    assert daemon.ctl("reload") == "OK: reloaded (changed: checks)"
    assert uplinks.gateways() == []


def start_with_quality(uplinks: Uplinks, quality: str) -> Daemon:
    """The IPv4 pair of ``CONFIG`` (one probe every 0.3 s) with a ``quality:`` block."""
    config = CONFIG.format(action=uplinks.recorder.script, metric=METRIC, eth1=uplinks.eth1,
                           eth2=uplinks.eth2, primary=PRIMARY4.format(ping="null"),
                           standby=STANDBY4.format(ping="null"))
    uplinks.daemon = Daemon(uplinks.lab, uplinks.router, uplinks.tmp_path,
                            f"{config}      quality: {quality}\n").start()
    return uplinks.daemon


def primary_quality(uplinks: Uplinks) -> dict[str, Any]:
    return uplinks.failover()["uplinks"]["primary"]  # type: ignore[no-any-return]


def test_quality_every_other_echo_lost_fails_over_and_recovers(uplinks: Uplinks) -> None:
    """nft drops exactly every second echo request to ISP 1: never two silent rounds in a
    row (alone, that never fails over), but 50 % loss over the window does."""
    daemon = start_with_quality(uplinks, "{window: 4, failure_loss: 0.4, recovery_loss: 0.1}")
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route via primary")
    drop(uplinks.lab, uplinks.isp1, "icmp type echo-request numgen inc mod 2 0")
    wait_for(lambda: uplinks.gateways() == ["192.168.62.1"], what="route via standby")
    offline = re.compile(r"failover wan: primary pnet is now offline: "
                         r"(no reply from 192\.168\.42\.1; )?loss 50% >= 40% over 4 rounds")
    assert offline.search(daemon.output()), daemon.output()
    primary = wait_for(lambda: p if (p := primary_quality(uplinks))["reason"] and "recovery" in
                       p["reason"] else None, what="the failed primary judged on recovery limits")
    assert "loss 50% > recovery 10% over 4 rounds" in primary["reason"]
    assert primary["quality"]["ipv4"]["loss"] == 0.5
    metrics = samples(daemon.ctl("metrics"))
    assert metrics['netsentinel_failover_uplink_loss_ratio{name="wan",uplink="primary",'
                   'family="4"}'] == 0.5
    heal(uplinks.lab, uplinks.isp1)
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route back on primary")
    assert "failover wan: primary pnet is now online: loss 0%" in daemon.output()
    flag = uplinks.recorder.calls()[0][1]
    assert uplinks.recorder.events("failover-standby") == [   # imon's argv, nothing added
        ["wan", flag, "failover-standby", f"snet:Standby:{uplinks.eth2}:192.168.62.2"]]


def test_quality_slow_replies_fail_over_on_latency(uplinks: Uplinks) -> None:
    """ISP 1's kernel stops answering pings and tests/checks/slow_echo.py answers them
    150 ms late (a real raw-socket responder: the netem qdisc is not available here)."""
    daemon = start_with_quality(uplinks, "{window: 4, failure_latency: 0.1, "
                                         "recovery_latency: 0.05}")
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route via primary")
    ready = uplinks.tmp_path / "slow-echo-ready"
    responder = uplinks.lab.popen(uplinks.isp1, [
        sys.executable, str(Path(__file__).with_name("slow_echo.py")), "0.15", str(ready)])
    wait_for(ready.exists, what="slow echo responder")
    uplinks.lab.run(uplinks.isp1, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
    wait_for(lambda: uplinks.gateways() == ["192.168.62.1"], what="route via standby")
    offline = re.compile(r"failover wan: primary pnet is now offline: (no reply from "
                         r"192\.168\.42\.1; )?latency \d+(\.\d)? ms >= 100 ms over 4 rounds")
    assert offline.search(daemon.output()), daemon.output()
    assert uplinks.failover()["uplinks"]["primary"]["last"]["alive"]    # it does answer
    rtt = samples(daemon.ctl("metrics"))[
        'netsentinel_failover_uplink_rtt_seconds{name="wan",uplink="primary",family="4"}']
    assert rtt >= 0.1
    uplinks.lab.run(uplinks.isp1, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0")
    os.killpg(responder.pid, signal.SIGTERM)
    wait_for(lambda: uplinks.gateways() == ["192.168.42.1"], what="route back on primary")
    assert primary_quality(uplinks)["reason"] is None
