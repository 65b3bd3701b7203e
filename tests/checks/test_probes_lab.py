"""Multi-WAN tcp, dns and arp probes in namespaces: each kind fails in its own way.

The lab of test_multiwan_lab.py (a router with three ISPs, the same "internet" address
behind each): every probe is bound to its uplink, so an ISP that drops ICMP but answers
TCP keeps a tcp-probed uplink up, a DNS server (dnsmasq) in one ISP that stops answering
takes its dns-probed uplink down, and a gateway that no longer answers ARP takes an
arp-probed uplink down; each probe's result and reason are in ``status``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import drop, heal
from tests.checks.test_failover_lab import RouteWatch
from tests.checks.test_multiwan_lab import SERVER, MultiLab
from tests.lab import Lab, require, wait_for

NAME = "probe.test"


@pytest.fixture
def multi(lab: Lab, tmp_path: Path) -> Iterator[MultiLab]:
    yield MultiLab(lab, tmp_path)


def uplink(multi: MultiLab, name: str) -> dict[str, Any]:
    found: dict[str, Any] = multi.daemon.status()["checks"]["failover"]["wan"]["uplinks"][name]
    return found


def probes(multi: MultiLab, name: str) -> dict[str, tuple[bool, str | None]]:
    """The uplink's probes of the last round: text → (ok, reason)."""
    return {p["probe"]: (p["ok"], p["reason"]) for p in uplink(multi, name)["probes"]}


def state(multi: MultiLab, name: str, wanted: str) -> dict[str, Any] | None:
    found = uplink(multi, name)
    return found if found["state"] == wanted else None


def via(multi: MultiLab, n: int) -> bool:
    return multi.hops() == [(f"192.168.4{n}.1", 1)]


def test_tcp_probe_keeps_an_uplink_whose_isp_drops_icmp_up(multi: MultiLab) -> None:
    multi.start("failover", [
        f'tier: 1, probes: [{{icmp: {SERVER}}}, {{tcp: "{SERVER}:80"}}], quorum: 1',
        f'tier: 2, probes: [{{tcp: "{SERVER}:80"}}]',
        f"tier: 3, probes: [{{icmp: {SERVER}}}]"])
    wait_for(lambda: via(multi, 1), what="route via isp1")
    wait_for(lambda: state(multi, "isp3", "online"), what="isp3 up")
    watch = RouteWatch(None, count=lambda: len(multi.routes()))
    try:
        for n in (0, 2):
            drop(multi.lab, multi.isps[n], "ip protocol icmp")
        found = wait_for(lambda: state(multi, "isp3", "offline"), what="isp3 down (ICMP only)")
        assert found["reason"] == f"icmp {SERVER}: no reply from {SERVER}"
        # isp1 answers TCP: its quorum of 1 holds and the route never moved
        assert state(multi, "isp1", "online") and via(multi, 1)
        assert probes(multi, "isp1") == {f"icmp {SERVER}": (False, f"no reply from {SERVER}"),
                                         f"tcp {SERVER}:80": (True, None)}
        # the same address answers through isp2 while isp1 drops TCP: bound to its uplink
        drop(multi.lab, multi.isps[0], "ip protocol { icmp, tcp }")
        wait_for(lambda: via(multi, 2), what="route via isp2")
        down = wait_for(lambda: state(multi, "isp1", "offline"), what="isp1 down")
        assert down["reason"] == (f"icmp {SERVER}: no reply from {SERVER}; "
                                  f"tcp {SERVER}:80: timed out")
        assert probes(multi, "isp2") == {f"tcp {SERVER}:80": (True, None)}
        heal(multi.lab, multi.isps[2])
        wait_for(lambda: state(multi, "isp3", "online"), what="isp3 back")
        multi.lab.nft(multi.isps[1], "table inet nstdrop { chain input { type filter hook "
                                     "input priority 0; tcp dport 80 reject with tcp reset; }; }\n")
        wait_for(lambda: via(multi, 3), what="route via isp3 after isp2 refuses")
        refused = wait_for(lambda: state(multi, "isp2", "offline"), what="isp2 down")
        assert refused["reason"] == f"tcp {SERVER}:80: connection refused"
    finally:
        counts = set(watch.stop())
    assert counts <= {1}, counts


def dnsmasq(multi: MultiLab, isp: int) -> subprocess.Popen[bytes]:
    """A DNS server on the ISP's "internet" address that knows one name."""
    return multi.lab.popen(multi.isps[isp], [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--user=root", "--pid-file=", "--bind-interfaces", f"--listen-address={SERVER}",
        "--port=53", f"--address=/{NAME}/192.0.2.55"], stderr=subprocess.DEVNULL)


def test_dns_probe_takes_the_uplink_down_when_its_server_stops_answering(
        multi: MultiLab) -> None:
    require("dnsmasq")
    server = dnsmasq(multi, 0)
    dns = f"probes: [{{dns: {{server: {SERVER}, name: {NAME}}}}}]"
    multi.start("failover", [f"tier: 1, {dns}", "tier: 2", f"tier: 3, {dns}"])
    wait_for(lambda: via(multi, 1), what="route via isp1 (its DNS server answers)")
    # isp3 has no DNS server: its probe, bound to isp3, never reaches isp1's
    found = wait_for(lambda: state(multi, "isp3", "offline"), what="isp3 down (no DNS there)")
    assert found["reason"] == f"dns {NAME}@{SERVER}: timed out"
    assert probes(multi, "isp1") == {f"dns {NAME}@{SERVER}": (True, None)}
    os.killpg(server.pid, signal.SIGSTOP)         # the server stops answering
    try:
        wait_for(lambda: via(multi, 2), what="route via isp2")
        down = wait_for(lambda: state(multi, "isp1", "offline"), what="isp1 down")
        assert down["reason"] == f"dns {NAME}@{SERVER}: timed out"
    finally:
        os.killpg(server.pid, signal.SIGCONT)
    wait_for(lambda: via(multi, 1), what="route back on isp1 once it answers again")
    assert probes(multi, "isp1") == {f"dns {NAME}@{SERVER}": (True, None)}


def isp_link(multi: MultiLab, isp: int) -> str:
    links = json.loads(multi.lab.run(multi.isps[isp], "ip", "-j", "link").stdout)
    return str(next(link["ifname"] for link in links if link["ifname"] != "lo"))


def test_arp_probe_follows_the_gateway_not_the_internet(multi: MultiLab) -> None:
    multi.start("failover", ["tier: 1, probes: [arp]", "tier: 2", "tier: 3"])
    wait_for(lambda: via(multi, 1), what="route via isp1")
    assert probes(multi, "isp1") == {"arp 192.168.41.1": (True, None)}
    # upstream dead, the modem alive: ARP is not IP, the uplink stays up
    wait_for(lambda: state(multi, "isp3", "online"), what="isp3 up")
    for n in (0, 2):
        drop(multi.lab, multi.isps[n], "meta l4proto { icmp, tcp, udp }")
    # as many rounds as isp3 (ICMP to its gateway) needs to go down
    wait_for(lambda: state(multi, "isp3", "offline"), what="isp3 down")
    assert state(multi, "isp1", "online") and via(multi, 1)
    heal(multi.lab, multi.isps[0])
    # the gateway stops answering ARP
    multi.lab.run(multi.isps[0], "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=8")
    wait_for(lambda: via(multi, 2), what="route via isp2")
    down = wait_for(lambda: state(multi, "isp1", "offline"), what="isp1 down")
    assert down["reason"] == "arp 192.168.41.1: no ARP reply from 192.168.41.1"
    multi.lab.run(multi.isps[0], "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=0")
    wait_for(lambda: via(multi, 1), what="route back on isp1")
    # the modem's link goes down
    link = isp_link(multi, 0)
    multi.lab.run(multi.isps[0], "ip", "link", "set", link, "down")
    wait_for(lambda: via(multi, 2), what="route via isp2 with isp1's link down")
    down = wait_for(lambda: state(multi, "isp1", "offline"), what="isp1 down")
    assert down["reason"].startswith("arp 192.168.41.1: "), down["reason"]
    multi.lab.run(multi.isps[0], "ip", "link", "set", link, "up")
    wait_for(lambda: via(multi, 1), what="route back on isp1 with its link up")
