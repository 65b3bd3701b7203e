"""Multi-WAN in namespaces: a router with three ISPs and a LAN behind real nft masquerade."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import Recorder, add_address, drop, heal, peer
from tests.checks.test_failover_lab import RouteWatch
from tests.lab import Daemon, Lab, wait_for

METRIC = 211
SERVER = "203.0.113.10"         # "the internet": the same address behind every ISP
FAST = "interval: 0.3\n      count: 1\n      wait: 0.25\n      down_after: 2"
CONFIG = """
checks:
  action: {action}
  failover:
    wan:
      mode: {mode}
      sticky: true
      {timing}
      up_after: 3
      metric: {metric}
      uplinks:
{uplinks}
"""


class MultiLab:
    """Router ``r`` with ISPs i1..i3 (gateways 192.168.4N.1) and a LAN host ``h``."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab, self.tmp_path = lab, tmp_path
        self.router = lab.netns("r")
        self.isps: list[str] = []
        self.ifs: list[str] = []
        for n in (1, 2, 3):
            isp, eth = peer(lab, self.router, f"i{n}", f"192.168.4{n}.2/24", f"192.168.4{n}.1/24")
            lab.run(isp, "ip", "addr", "add", f"{SERVER}/32", "dev", "lo")
            lab.run(isp, "ip", "route", "add", "10.10.0.0/24", "via", f"192.168.4{n}.2")
            lab.popen(isp, ["socat", "TCP-LISTEN:80,fork,reuseaddr", f"SYSTEM:echo isp{n}"],
                      stderr=subprocess.DEVNULL)
            lab.popen(isp, ["socat", "TCP-LISTEN:81,fork,reuseaddr", "EXEC:cat"],
                      stderr=subprocess.DEVNULL)
            self.isps.append(isp)
            self.ifs.append(eth)
        self.host, lan = peer(lab, self.router, "h", "10.10.0.1/24", "10.10.0.2/24")
        lab.run(self.host, "ip", "route", "add", "default", "via", "10.10.0.1")
        lab.run(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.run(self.router, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
        oifs = ", ".join(f'"{i}"' for i in self.ifs)
        lab.nft(self.router, "table ip nstnat { chain post { type nat hook postrouting "
                f"priority srcnat; oifname {{ {oifs} }} masquerade; }}\n"
                "chain pre { type nat hook prerouting priority dstnat; "
                f'iifname "{self.ifs[1]}" tcp dport 8080 dnat to 10.10.0.2:80\n}}\n}}\n')
        self.recorder = Recorder(tmp_path)

    def start(self, mode: str, uplinks: list[str], timing: str = FAST) -> Daemon:
        lines = "\n".join(f"        isp{n + 1}: {{interface: {self.ifs[n]}, "
                          f"gateway: 192.168.4{n + 1}.1, {extra}}}"
                          for n, extra in enumerate(uplinks))
        config = CONFIG.format(action=self.recorder.script, mode=mode, metric=METRIC,
                               uplinks=lines, timing=timing)
        self.daemon = Daemon(self.lab, self.router, self.tmp_path, config).start()
        return self.daemon

    def routes(self) -> list[dict[str, Any]]:
        out = self.lab.run(self.router, "ip", "-j", "-4", "route", "show", "default").stdout
        return [r for r in json.loads(out or b"[]") if r.get("metric", 0) == METRIC]

    def hops(self) -> list[tuple[str, int]] | None:
        """The default route's (gateway, weight) pairs; None unless exactly one route."""
        routes = self.routes()
        if len(routes) != 1:
            return None
        route = routes[0]
        if "nexthops" in route:
            return sorted((h["gateway"], h.get("weight", 1)) for h in route["nexthops"])
        return [(route["gateway"], 1)]

    def fetch(self, port: int = 80) -> str:
        result = self.lab.run(self.host, "socat", "-T2", "-", f"TCP:{SERVER}:{port}",
                              check=False, input=b"")
        return result.stdout.decode().strip()

    def conntrack(self, reply_dst: str) -> list[str]:
        out = self.lab.run(self.router, "conntrack", "-L", "-p", "tcp", "--reply-dst",
                           reply_dst, check=False).stdout.decode()
        return [line for line in out.splitlines() if "dport=81" in line]

    def rules(self) -> list[dict[str, Any]]:
        out = self.lab.run(self.router, "ip", "-j", "-4", "rule").stdout
        return list(json.loads(out or b"[]"))


@pytest.fixture
def multi(lab: Lab, tmp_path: Path) -> Iterator[MultiLab]:
    yield MultiLab(lab, tmp_path)


def long_lived(multi: MultiLab) -> subprocess.Popen[bytes]:
    """A TCP connection from the LAN host kept open (socat to the echo port)."""
    return multi.lab.popen(multi.host, ["socat", "-", f"TCP:{SERVER}:81"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)


def test_failover_tiers_move_route_flush_conntrack_and_keep_policy_rules(
        multi: MultiLab) -> None:
    multi.start("failover", ["tier: 1", "tier: 2", "tier: 3"])
    wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], what="route via isp1")
    tables = {u["table"]: u["interface"] for u in
              multi.daemon.status()["checks"]["failover"]["wan"]["uplinks"].values()}
    rules = wait_for(lambda: [r for r in multi.rules() if r.get("src") in
                              ("192.168.41.2", "192.168.42.2", "192.168.43.2")]
                     if len([r for r in multi.rules() if r.get("src") in
                             ("192.168.41.2", "192.168.42.2", "192.168.43.2")]) == 3 else None,
                     what="a from-rule per uplink")
    assert {int(r["table"]) for r in rules} == set(tables)
    assert multi.fetch() == "isp1"
    conn = long_lived(multi)
    wait_for(lambda: multi.conntrack("192.168.41.2"), what="long-lived connection tracked")
    watch = RouteWatch(None, count=lambda: len(multi.routes()))
    try:
        drop(multi.lab, multi.isps[0], "ip protocol { icmp, tcp }")
        wait_for(lambda: multi.hops() == [("192.168.42.1", 1)], what="route via isp2")
        wait_for(lambda: not multi.conntrack("192.168.41.2"), what="isp1's entries flushed")
        assert multi.fetch() == "isp2"
        drop(multi.lab, multi.isps[1], "ip protocol { icmp, tcp }")
        wait_for(lambda: multi.hops() == [("192.168.43.1", 1)], what="route via isp3")
        assert multi.fetch() == "isp3"
        heal(multi.lab, multi.isps[0])
        heal(multi.lab, multi.isps[1])
        wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], what="route back on isp1")
    finally:
        assert set(watch.stop()) == {1}
        conn.kill()
    status = multi.daemon.status()["checks"]["failover"]["wan"]
    assert status["uplinks"]["isp1"]["flushed"] >= 1
    assert ["uplink-down", "isp1"] in [c[2:4] for c in multi.recorder.calls()]
    assert ["routes", "isp2"] in [c[2:4] for c in multi.recorder.calls()]


def test_port_forward_on_the_second_uplink_is_answered_through_it(multi: MultiLab) -> None:
    multi.lab.popen(multi.host, ["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo lan"],
                    stderr=subprocess.DEVNULL)
    multi.lab.run(multi.isps[1], "ip", "addr", "add", "198.51.100.7/32", "dev", "lo")
    multi.start("failover", ["tier: 1", "tier: 2", "tier: 3"])
    wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], what="route via isp1")
    wait_for(lambda: multi.lab.run(multi.router, "nft", "list", "chain", "inet", "netsentinel",
                                   "failover_wan_pre", check=False).returncode == 0,
             what="sticky chains")
    reply = multi.lab.run(multi.isps[1], "socat", "-T2", "-",
                          "TCP:192.168.42.2:8080,bind=198.51.100.7", check=False, input=b"")
    assert reply.stdout.decode().strip() == "lan"


def test_balance_spreads_by_weight_and_sticky_flow_keeps_its_uplink(multi: MultiLab) -> None:
    multi.start("balance", ["weight: 3", "weight: 1", "tier: 2"])
    both = [("192.168.41.1", 3), ("192.168.42.1", 1)]
    wait_for(lambda: multi.hops() == both, what="multipath route over isp1 and isp2")
    answers = [multi.fetch() for _ in range(80)]
    share = answers.count("isp1") / len(answers)
    assert answers.count("isp3") == 0 and 0.55 <= share <= 0.92, answers
    drop(multi.lab, multi.isps[0], "ip protocol { icmp, tcp }")
    wait_for(lambda: multi.hops() == [("192.168.42.1", 1)], what="route via isp2 only")
    conn = long_lived(multi)
    try:
        wait_for(lambda: multi.conntrack("192.168.42.2"), what="flow tracked via isp2")
        heal(multi.lab, multi.isps[0])
        wait_for(lambda: multi.hops() == both, what="isp1 back in the route")
        assert conn.stdin is not None and conn.stdout is not None
        for n in range(5):
            conn.stdin.write(f"ping {n}\n".encode())
            conn.stdin.flush()
            assert conn.stdout.readline() == f"ping {n}\n".encode()
        assert multi.conntrack("192.168.42.2"), "the sticky flow still leaves by isp2"
    finally:
        conn.kill()


def test_reload_removes_its_rules_tables_routes_and_chains_only(multi: MultiLab) -> None:
    multi.lab.run(multi.router, "ip", "rule", "add", "priority", "20200", "from",
                  "10.99.0.1", "lookup", "77")        # an admin's rule at one of our priorities
    daemon = multi.start("failover", ["tier: 1", "tier: 2", "tier: 3"])
    wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], what="route via isp1")
    wait_for(lambda: len([r for r in multi.rules() if r.get("priority") == 20200]) == 4,
             what="from-rules")
    daemon.write_config(f"checks:\n  action: {multi.recorder.script}\n")
    assert daemon.ctl("reload") == "OK: reloaded (changed: checks)"
    assert multi.routes() == []
    assert [(r.get("src"), r.get("table")) for r in multi.rules()
            if 20000 <= r.get("priority", 0) <= 20200] == [("10.99.0.1", "77")]
    chain = multi.lab.run(multi.router, "nft", "list", "chain", "inet", "netsentinel",
                          "failover_wan_pre", check=False)
    assert chain.returncode != 0


def dual_stack(multi: MultiLab) -> None:
    """IPv6 on every uplink: the router 2001:db8:4N::2, the ISP 2001:db8:4N::1 and fe80::1."""
    for n, isp in enumerate(multi.isps, 1):
        links = json.loads(multi.lab.run(isp, "ip", "-j", "link").stdout)
        there = next(link["ifname"] for link in links if link["ifname"] != "lo")
        add_address(multi.lab, multi.router, multi.ifs[n - 1], f"2001:db8:4{n}::2/64")
        add_address(multi.lab, isp, there, f"2001:db8:4{n}::1/64")
        add_address(multi.lab, isp, there, "fe80::1/64")


def routes6(multi: MultiLab) -> list[tuple[str, str, int]] | None:
    """The IPv6 default route's (gateway, device, weight) hops; None unless exactly one."""
    out = multi.lab.run(multi.router, "ip", "-j", "-6", "route", "show", "default").stdout
    routes = [r for r in json.loads(out or b"[]") if r.get("metric", 0) == METRIC]
    if len(routes) != 1:
        return None
    hops = routes[0].get("nexthops") or [routes[0]]
    return sorted((h["gateway"], h["dev"], h.get("weight", 1)) for h in hops)


def test_ipv6_multipath_default_route_policy_rules_and_failover(multi: MultiLab) -> None:
    dual_stack(multi)
    multi.start("balance", ["weight: 3, gateway6: 2001:db8:41::1",
                            "weight: 1, gateway6: fe80::1", "tier: 2, gateway6: 2001:db8:43::1"])
    i1, i2, i3 = multi.ifs
    both = [("2001:db8:41::1", i1, 3), ("fe80::1", i2, 1)]
    wait_for(lambda: routes6(multi) == both, what="IPv6 multipath over isp1 and isp2")
    assert multi.hops() == [("192.168.41.1", 3), ("192.168.42.1", 1)]
    tables = {u["interface"]: u["table"] for u in
              multi.daemon.status()["checks"]["failover"]["wan"]["uplinks"].values()}
    wanted = {(f"2001:db8:4{n}::2", tables[multi.ifs[n - 1]]) for n in (1, 2, 3)}

    def from_rules() -> set[tuple[str, int]]:
        rules = json.loads(multi.lab.run(multi.router, "ip", "-j", "-6", "rule").stdout)
        return {(r["src"], int(r["table"])) for r in rules if r.get("priority") == 20200}
    wait_for(lambda: from_rules() == wanted, what="an IPv6 from-rule per uplink")
    for n, gateway in ((1, "2001:db8:41::1"), (2, "fe80::1"), (3, "2001:db8:43::1")):
        table = tables[multi.ifs[n - 1]]
        out = multi.lab.run(multi.router, "ip", "-j", "-6", "route", "show", "default",
                            "table", str(table)).stdout
        assert [(r["gateway"], r["dev"]) for r in json.loads(out)] == [
            (gateway, multi.ifs[n - 1])]
    watch = RouteWatch(None, count=lambda: 0 if routes6(multi) is None else 1)
    try:
        drop(multi.lab, multi.isps[0], "meta l4proto { icmp, ipv6-icmp }")
        wait_for(lambda: routes6(multi) == [("fe80::1", i2, 1)], what="IPv6 via isp2 only")
        drop(multi.lab, multi.isps[1], "meta l4proto { icmp, ipv6-icmp }")
        wait_for(lambda: routes6(multi) == [("2001:db8:43::1", i3, 1)], what="IPv6 via isp3")
        assert multi.hops() == [("192.168.43.1", 1)]
        heal(multi.lab, multi.isps[0])          # isp1 alone: its weight of 3 is no hop weight
        wait_for(lambda: routes6(multi) == [("2001:db8:41::1", i1, 1)], what="IPv6 via isp1")
        assert multi.hops() == [("192.168.41.1", 1)]
        heal(multi.lab, multi.isps[1])
        wait_for(lambda: routes6(multi) == both, what="IPv6 multipath back")
    finally:
        assert set(watch.stop()) == {1}
    assert multi.daemon.status()["checks"]["failover"]["wan"]["repairs"] == 0, multi.daemon.output()


def test_gateway_off_the_interface_network_is_a_warning_at_check_config_and_start(
        multi: MultiLab) -> None:
    multi.start("failover", ["tier: 1", "tier: 2", "tier: 3"]).stop()
    text = multi.daemon.config.read_text().replace("gateway: 192.168.43.1",
                                                   "gateway: 192.168.99.1")
    multi.daemon.config.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "192.168.99.1" in t)
    warning = (f"{multi.daemon.config}:{line}: checks.failover.wan.uplinks.isp3.gateway: "
               f"warning: 192.168.99.1 is not on {multi.ifs[2]}'s networks (192.168.43.2/24): "
               "the kernel will refuse a route through it")
    ctl = str(Path(sys.executable).with_name("netsentinel-ctl"))
    result = multi.lab.run(multi.router, ctl, "check-config", str(multi.daemon.config))
    assert result.stderr.decode().splitlines() == [warning]
    assert result.stdout.decode().startswith(f"{multi.daemon.config}: OK")
    multi.daemon.start()
    assert warning in multi.daemon.output()
    wait_for(lambda: multi.hops() == [("192.168.41.1", 1)], what="route via isp1")
