"""Kernel bans in the real daemon: a router namespace, two client namespaces, real nft."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.forward.routerlab import (
    FLOOD4,
    FLOOD6,
    FLOOD6_SIBLING,
    GOOD4,
    ROUTER4,
    ROUTER4_SECOND,
    ROUTER6,
)
from tests.forward.routerlab import net as net  # the fixture
from tests.forward.test_daemon import echo_backend, inside
from tests.lab import Daemon, Lab, wait_for

FRONT = 19101
BACKEND = 19100

CONFIG = """
forward:
  web:
    listen: ":{front}"
    backend: "127.0.0.1:{backend}"
    per_ip_rate: 0.001
    wait_timeout: 0
    ban:
      after: 3
      window: 60
      for: 600
      set: web_ban
      ipv6_prefix: 64
"""


def attempt(ns: str, host: str, source: str | None = None, timeout: float = 2.0) -> str:
    """``open`` (an echo came back), ``refused`` (closed by the daemon) or ``dropped``
    (no answer to the SYN: the kernel dropped it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with inside(ns):
        s = socket.socket(family, socket.SOCK_STREAM)
    with s:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        try:
            s.connect((host, FRONT))
        except TimeoutError:
            return "dropped"
        try:
            s.sendall(b"ping")
            return "open" if s.recv(4) == b"ping" else "refused"
        except (ConnectionResetError, BrokenPipeError):
            return "refused"
        except TimeoutError:
            return "refused"


def start(lab: Lab, net: dict[str, str], tmp_path: Path) -> Daemon:
    echo_backend(lab, net["router"], BACKEND)
    return Daemon(lab, net["router"], tmp_path,
                  CONFIG.format(front=FRONT, backend=BACKEND)).start()


def rejected(daemon: Daemon) -> int:
    return int(daemon.status()["forward"]["web"]["rejected"]["per_ip_rate"])


def flood_until_banned(net: dict[str, str], host: str, source: str | None = None) -> int:
    tries = 0
    while attempt(net["flood"], host, source) != "dropped":
        tries += 1
        assert tries < 20, "never banned"
    return tries


def test_flooding_client_is_banned_in_the_kernel_while_others_work(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    # one admitted, three refused, banned (more may come before the set is written)
    assert flood_until_banned(net, ROUTER4) >= 4
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban") == {FLOOD4}
    assert rejected(daemon) == 3
    seen = daemon.status()["forward"]["web"]["ban"]
    for _ in range(3):
        assert attempt(net["flood"], ROUTER4) == "dropped"
    status = daemon.status()["forward"]["web"]
    assert status["rejected"]["per_ip_rate"] == 3          # the daemon never saw those SYNs
    assert status["ban"] == seen and seen["active"] == 1 and seen["added"] == 1
    assert attempt(net["good"], ROUTER4) == "open"
    bans = json.loads(daemon.ctl("forward bans web --json"))["web"]
    assert list(bans) == [f"{FLOOD4}/32"] and "per_ip_rate" in bans[f"{FLOOD4}/32"]["reason"]


def test_unban_lets_the_client_back_and_expiry_ends_a_ban(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    assert daemon.ctl(f"forward ban web {FLOOD4}").startswith("OK")
    assert attempt(net["flood"], ROUTER4) == "dropped"
    assert daemon.ctl(f"forward unban web {FLOOD4}").startswith("OK")
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban") == set()
    assert attempt(net["flood"], ROUTER4) == "open"
    assert daemon.ctl(f"forward unban web {FLOOD4}").startswith("ERROR")
    assert daemon.ctl(f"forward ban web {GOOD4} --for 1").startswith("OK")
    wait_for(lambda: lab.nft_set(net["router"], "inet", "netsentinel", "web_ban") == set(),
             what="the kernel expiring the ban")
    assert attempt(net["good"], ROUTER4) == "open"
    assert json.loads(daemon.ctl("forward bans --json")) == {"web": {}}


def test_bans_survive_restart_and_an_outside_flush(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    assert daemon.ctl(f"forward ban web {FLOOD4}").startswith("OK")
    reason = json.loads(daemon.ctl("forward bans web --json"))["web"][f"{FLOOD4}/32"]["reason"]
    daemon.stop()
    assert attempt(net["flood"], ROUTER4) == "dropped"      # enforced with no daemon
    daemon.start()
    bans = json.loads(daemon.ctl("forward bans web --json"))["web"]
    assert bans[f"{FLOOD4}/32"]["reason"] == reason != ""   # kept as the element's comment
    assert 0 < bans[f"{FLOOD4}/32"]["left"] <= 600
    lab.nft(net["router"], "flush ruleset")
    wait_for(lambda: lab.nft_set(net["router"], "inet", "netsentinel", "web_ban") == {FLOOD4},
             what="the ban put back after nft flush ruleset")
    assert attempt(net["flood"], ROUTER4) == "dropped"
    assert attempt(net["good"], ROUTER4) == "open"


def test_never_ban_protects_loopback_and_the_routers_own_addresses(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    for address in ("127.0.0.1", ROUTER4, ROUTER6, "::1"):
        assert daemon.ctl(f"forward ban web {address}").startswith("ERROR"), address
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban") == set()
    # a client in the router's own /64 (its LAN) is banned alone, not with the prefix
    assert daemon.ctl("forward ban web fd77:1::2").startswith("OK: fd77:1::2/128")
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban6") == {"fd77:1::2"}
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban6p") == set()
    assert attempt(net["flood"], ROUTER6, "fd77:1::2") == "dropped"
    assert attempt(net["good"], "fd77:2::1") == "open"


def test_an_ipv6_client_is_banned_with_its_whole_64(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    start(lab, net, tmp_path)
    flood_until_banned(net, ROUTER6, FLOOD6)
    assert lab.nft_set(net["router"], "inet", "netsentinel", "web_ban6p") == {"fd77:9::"}
    assert attempt(net["flood"], ROUTER6, FLOOD6_SIBLING) == "dropped"
    assert attempt(net["flood"], ROUTER4) == "open"         # its IPv4 address is not banned
    assert attempt(net["good"], "fd77:2::1") == "open"


def test_a_ban_of_a_service_on_one_address_leaves_the_same_port_elsewhere_open(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    echo_backend(lab, net["router"], BACKEND)
    daemon = Daemon(lab, net["router"], tmp_path, f"""
forward:
  web:
    listen: "{ROUTER4}:{FRONT}"
    backend: "127.0.0.1:{BACKEND}"
    ban: {{set: web_ban}}
  other:
    listen: "{ROUTER4_SECOND}:{FRONT}"
    backend: "127.0.0.1:{BACKEND}"
""").start()
    assert daemon.ctl(f"forward ban web {FLOOD4}").startswith("OK")
    assert attempt(net["flood"], ROUTER4) == "dropped"
    assert attempt(net["flood"], ROUTER4_SECOND) == "open"
