"""``mode: kernel`` in the real daemon: a router namespace forwards UDP and TCP to a
backend in another namespace by nft DNAT, admits by its rules, counts from conntrack,
learns refusals from NFLOG (and bans by them), heals its rules, and a stop leaves the
open flows running."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

from tests.forward.routerlab import (
    FLOOD4,
    GOOD4,
    ROUTER4,
    ROUTER6,
    udp_ask,
    udp_client,
    udp_echo,
)
from tests.forward.routerlab import net as net  # the fixture
from tests.forward.test_daemon import dial, echo, echo_backend
from tests.lab import Daemon, Lab, wait_for

FRONT, FRONT6, FRONT_TCP = 19401, 19402, 19403
BACKEND = 19400
BACKEND4, BACKEND6 = "10.77.2.2", "fd77:2::2"      # the "good" namespace
ROUTER_ON_BACKEND_SIDE = "10.77.2.1"
# a UDP echo that says whom it saw: the router's address when the flow was masqueraded
ECHO = udp_echo(BACKEND, say_peer=True)

CONFIG = """
forward:
  wg:
    protocol: udp
    mode: kernel
    listen: ":{front}"
    backend: "{backend4}:{backend}"
{extra}
  wg6:
    protocol: udp
    mode: kernel
    listen: "[::]:{front6}"
    backend: "[{backend6}]:{backend}"
  web:
    mode: kernel
    listen: "{router4}:{front_tcp}"
    backend: "{backend4}:{backend}"
"""


def config(extra: str = "") -> str:
    return CONFIG.format(front=FRONT, front6=FRONT6, front_tcp=FRONT_TCP, backend=BACKEND,
                         backend4=BACKEND4, backend6=BACKEND6, router4=ROUTER4, extra=extra)


def start(lab: Lab, net: dict[str, str], tmp_path: Path, extra: str = "") -> Daemon:
    lab.run(net["router"], "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1")
    lab.popen(net["good"], [sys.executable, "-c", ECHO])
    echo_backend(lab, net["good"], BACKEND)
    return Daemon(lab, net["router"], tmp_path, config(extra)).start()


client, ask = udp_client, udp_ask


def service(daemon: Daemon, name: str) -> dict[str, Any]:
    return daemon.status()["forward"][name]    # type: ignore[no-any-return]


def chains(lab: Lab, ns: str) -> str:
    return lab.run(ns, "nft", "list", "table", "inet", "netsentinel",
                   check=False).stdout.decode()


def test_udp_and_tcp_go_through_the_kernel_and_are_counted(lab: Lab, net: dict[str, str],
                                                          tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    with client(net["flood"]) as s:
        reply = wait_for(lambda: ask(s, ROUTER4, FRONT, b"hello"), what="a reply")
        # from the address the client wrote to; the backend saw the router (masquerade)
        assert reply == (b"hello " + ROUTER_ON_BACKEND_SIDE.encode(), ROUTER4)
        assert ask(s, ROUTER4, FRONT, b"again") == \
            (b"again " + ROUTER_ON_BACKEND_SIDE.encode(), ROUTER4)
    with client(net["flood"], socket.AF_INET6) as s6:
        reply6 = wait_for(lambda: ask(s6, ROUTER6, FRONT6, b"six"), what="a v6 reply")
        assert reply6 is not None and reply6[1] == ROUTER6 and reply6[0].startswith(b"six ")
    conn = dial(net["flood"], FRONT_TCP, ROUTER4)
    assert echo(conn, b"through the kernel") == b"through the kernel"
    # nothing of the daemon's listens on the services' ports: the kernel forwards
    listening = lab.run(net["router"], "ss", "-Hlnut").stdout.decode()
    assert all(f":{port} " not in listening for port in (FRONT, FRONT6, FRONT_TCP))
    wait_for(lambda: service(daemon, "wg")["udp"]["datagrams_up"] == 2, what="flows read")
    wg = service(daemon, "wg")
    assert (wg["connections"], wg["total_connections"], wg["ips"]) == (1, 1, FLOOD4)
    assert (wg["up"], wg["down"]) == (len(b"hello" b"again"),
                                      len(b"hello" b"again") + 2 * len(b" 10.77.2.1"))
    assert wg["kernel"] == {"error": None, "refusals": None, "flows": None}
    wait_for(lambda: service(daemon, "web")["connections"] == 1, what="the TCP flow read")
    stats = json.loads(daemon.ctl("forward stats web --json"))
    assert stats["mode"] == "kernel" and stats["open"][0]["client"] == FLOOD4
    conn.close()
    wait_for(lambda: service(daemon, "web")["closed_connections"] == 1,
             what="the closed TCP flow counted")
    assert daemon.status()["faults"]["total"] == 0


def test_refusals_come_back_from_the_kernel_and_ban(lab: Lab, net: dict[str, str],
                                                   tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, extra=(
        "    per_ip_limit: 1\n    ban: {after: 3, window: 60, for: 600}"))
    with client(net["flood"]) as first:
        assert wait_for(lambda: ask(first, ROUTER4, FRONT, b"1"), what="a reply") is not None
        for _ in range(3):          # new source ports: new flows, over per_ip_limit
            with client(net["flood"], timeout=0.3) as other:
                assert ask(other, ROUTER4, FRONT, b"over") is None
        wait_for(lambda: service(daemon, "wg")["rejected"]["per_ip_limit"] == 3,
                 what="the refusals counted from NFLOG")
        wait_for(lambda: lab.nft_set(net["router"], "inet", "netsentinel", "ban_wg")
                 == {FLOOD4}, what="the ban in the kernel")
        assert ask(first, ROUTER4, FRONT, b"2") is not None    # the open flow goes on
    with client(net["good"]) as good:       # the backend's side, routed through the router
        assert wait_for(lambda: ask(good, ROUTER4, FRONT, b"ok"), what="a reply") is not None
    bans = json.loads(daemon.ctl("forward bans wg --json"))["wg"]
    assert list(bans) == [f"{FLOOD4}/32"] and GOOD4 not in json.dumps(bans)
    assert service(daemon, "wg")["rejected"]["per_ip_limit"] == 3   # bans are not logged


def test_rules_heal_and_a_stop_leaves_open_flows_running(lab: Lab, net: dict[str, str],
                                                        tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    conn = dial(net["flood"], FRONT_TCP, ROUTER4)
    assert echo(conn, b"before") == b"before"
    lab.run(net["router"], "nft", "flush", "ruleset")
    wait_for(lambda: "fwd_web_pre" in chains(lab, net["router"]), what="the rules put back")
    fresh = dial(net["flood"], FRONT_TCP, ROUTER4)
    assert echo(fresh, b"healed") == b"healed"
    fresh.close()
    daemon.write_config(config("    per_ip_limit: 5"))          # a reload rewrites in place
    assert daemon.ctl("reload").startswith("OK")
    wait_for(lambda: "ct count over 5" in chains(lab, net["router"]), what="the new limit")
    assert echo(conn, b"kept") == b"kept"
    assert daemon.ctl("forward stop web").startswith("OK")
    assert "fwd_web" not in chains(lab, net["router"])
    assert "fwd_wg_pre" in chains(lab, net["router"])       # the other services stay
    assert echo(conn, b"after the stop") == b"after the stop"  # conntrack keeps it
    conn.close()
    daemon.stop()
    assert "fwd_" not in chains(lab, net["router"])
    assert "Traceback" not in daemon.output()


def test_a_client_that_wrote_before_the_rules_is_forwarded_once_they_are(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    """A WireGuard peer keeps writing from one port: its conntrack entry from before
    the rules (to the router itself, no DNAT) would outlive every timeout."""
    lab.popen(net["good"], [sys.executable, "-c", ECHO])
    lab.run(net["router"], "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.nft(net["router"], "table inet filter {\n chain input {\n"       # the router's own
            "  type filter hook input priority 0; ct state established accept\n }\n}\n")
    with client(net["flood"], timeout=0.3) as s:
        assert ask(s, ROUTER4, FRONT, b"early") is None         # nothing there yet
        entries = lab.run(net["router"], "conntrack", "-L", "-p", "udp", "--dport",
                          str(FRONT), check=False).stdout.decode()
        assert FLOOD4 in entries                                 # the entry that would stay
        echo_backend(lab, net["good"], BACKEND)
        daemon = Daemon(lab, net["router"], tmp_path, config()).start()
        s.settimeout(3)
        assert ask(s, ROUTER4, FRONT, b"later") == \
            (b"later " + ROUTER_ON_BACKEND_SIDE.encode(), ROUTER4)
    assert "forgotten" in daemon.output()


def test_reject_close_cuts_the_clients_open_flows(lab: Lab, net: dict[str, str],
                                                 tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    conn = dial(net["flood"], FRONT_TCP, ROUTER4)
    assert echo(conn, b"open") == b"open"
    with client(net["flood"]) as s:
        assert wait_for(lambda: ask(s, ROUTER4, FRONT, b"open"), what="a reply") is not None
        wait_for(lambda: service(daemon, "wg")["connections"] == 1 and
                 service(daemon, "web")["connections"] == 1, what="both flows read")
        assert "1 connections closed" in daemon.ctl(f"reject web {FLOOD4} --close")
        assert "1 connections closed" in daemon.ctl(f"reject wg {FLOOD4} --close")
        s.settimeout(0.5)
        wait_for(lambda: ask(s, ROUTER4, FRONT, b"again") is None, what="the UDP flow cut")
    conn.settimeout(1)
    conn.sendall(b"after")
    try:
        assert conn.recv(100) == b""            # reset or closed...
    except (TimeoutError, ConnectionResetError):
        pass                                    # ...or nothing comes back: cut either way
    conn.close()
    wait_for(lambda: service(daemon, "web")["rejected"]["blacklist"] >= 1,
             what="the cut flow's next segment refused as a new one")
