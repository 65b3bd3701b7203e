"""UDP forwarding in the real daemon: echo v4/v6, reply source, sessions, limits, a
spoofed-source flood, bans, reload, the command-line option."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import struct
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

from tests.forward.routerlab import (
    FLOOD4,
    GOOD4,
    ROUTER4,
    ROUTER4_SECOND,
    ROUTER6,
    SPOOFED,
    udp_ask,
    udp_client,
    udp_echo,
)
from tests.forward.routerlab import net as net  # the fixture
from tests.forward.test_daemon import inside, rss_kib
from tests.lab import Daemon, Lab, wait_for

FRONT = 19301
BACKEND = 19300
ECHO = udp_echo(BACKEND)

CONFIG = """
forward:
  wg:
    protocol: udp
    listen: ":{front}"
    backend: "127.0.0.1:{backend}"
    session_idle: {idle}
{extra}
"""


def start(lab: Lab, net: dict[str, str], tmp_path: Path, idle: float = 60,
          extra: str = "    wait_timeout: 0") -> Daemon:
    lab.popen(net["router"], [sys.executable, "-c", ECHO])
    return Daemon(lab, net["router"], tmp_path, CONFIG.format(
        front=FRONT, backend=BACKEND, idle=idle, extra=extra)).start()


client = udp_client


def ask(s: socket.socket, host: str, data: bytes) -> tuple[bytes, str] | None:
    """Send ``data`` to the service, return the reply and whence (None: no reply)."""
    return udp_ask(s, host, FRONT, data)


def wg(daemon: Daemon) -> dict[str, Any]:
    return daemon.status()["forward"]["wg"]   # type: ignore[no-any-return]


def test_echo_through_the_forwarder_over_ipv4_and_ipv6(lab: Lab, net: dict[str, str],
                                                       tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path)
    wait_for(lambda: ask(client(net["good"]), ROUTER4, b"hi"), what="the echo through")
    with client(net["good"], socket.AF_INET6) as s:
        assert ask(s, "fd77:2::1", b"over six") == (b"over six", "fd77:2::1")
    status = wg(daemon)
    assert status["protocol"] == "udp" and status["connections"] == 2
    udp = status["udp"]
    assert isinstance(udp, dict) and udp["datagrams_up"] >= 2 and udp["datagrams_down"] >= 2


def test_replies_come_from_the_address_the_client_wrote_to(lab: Lab, net: dict[str, str],
                                                           tmp_path: Path) -> None:
    start(lab, net, tmp_path)
    with client(net["flood"]) as s:
        assert wait_for(lambda: ask(s, ROUTER4_SECOND, b"x"), what="a reply") == \
            (b"x", ROUTER4_SECOND)
        assert ask(s, ROUTER4, b"y") == (b"y", ROUTER4)


def test_sessions_end_after_session_idle(lab: Lab, net: dict[str, str],
                                         tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, idle=0.5)
    with client(net["good"]) as s:
        assert wait_for(lambda: ask(s, ROUTER4, b"a"), what="a reply") == (b"a", ROUTER4)
    wait_for(lambda: wg(daemon)["connections"] == 0, what="the session expiring")
    status = wg(daemon)
    assert status["closes"] == {"idle-timeout": 1} and status["total_connections"] == 1
    daemon.stop()                               # no session left: a stop is immediate
    assert "Traceback" not in daemon.output()


def test_limits_refuse_new_clients_and_keep_admitted_ones(lab: Lab, net: dict[str, str],
                                                          tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, extra="    ip_limit: 1")
    with client(net["good"]) as good, client(net["flood"]) as other:
        assert wait_for(lambda: ask(good, ROUTER4, b"1"), what="a reply") == (b"1", ROUTER4)
        other.settimeout(0.5)
        assert ask(other, ROUTER4, b"2") is None
        assert ask(good, ROUTER4, b"3") == (b"3", ROUTER4)
        daemon.write_config(CONFIG.format(front=FRONT, backend=BACKEND, idle=60,
                                          extra="    ip_limit: 2"))
        assert daemon.ctl("reload").startswith("OK")
        assert ask(good, ROUTER4, b"4") == (b"4", ROUTER4)         # the session was kept
        other.settimeout(3)
        assert ask(other, ROUTER4, b"5") == (b"5", ROUTER4)
    status = wg(daemon)
    assert status["rejected"]["ip_limit"] == 1 and status["total_connections"] == 2


def forged(source: str, sport: int, payload: bytes) -> bytes:
    """An IPv4/UDP datagram from ``source`` to the service (the kernel fills the IP checksum)."""
    udp = struct.pack("!HHHH", sport, FRONT, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP,
                       0, socket.inet_aton(source), socket.inet_aton(ROUTER4)) + udp


def took_in(daemon: Daemon, floor: int) -> bool:
    return int(wg(daemon)["total_connections"]) >= floor


def test_a_spoofed_source_flood_stays_within_the_session_cap(lab: Lab, net: dict[str, str],
                                                             tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, extra="    conn_limit: 200")
    with client(net["good"]) as good:
        assert wait_for(lambda: ask(good, ROUTER4, b"ok"), what="a reply") == (b"ok", ROUTER4)
    assert daemon.process is not None
    before = rss_kib(daemon.process.pid)
    sources = list(ipaddress.ip_network(SPOOFED).hosts())
    with inside(net["flood"]):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    with raw:
        for batch in range(40):         # 20,000 forged sources; the kernel may drop some
            admitted = int(wg(daemon)["total_connections"])
            for i in range(500):
                raw.sendto(forged(str(random.choice(sources)), 1024 + batch * 500 + i,
                                  b"flood"), (ROUTER4, 0))
            wait_for(partial(took_in, daemon, admitted + 100),
                     what="the daemon taking in the batch")
    status = wg(daemon)
    assert status["connections"] <= 200 and status["total_connections"] >= 4000
    udp = status["udp"]
    assert isinstance(udp, dict) and \
        udp["evicted"] == status["total_connections"] - status["connections"]
    assert rss_kib(daemon.process.pid) - before < 20 * 1024
    with client(net["good"]) as good:                 # a real client still gets through
        assert ask(good, ROUTER4, b"after") == (b"after", ROUTER4)


def test_a_flooding_udp_client_is_banned_in_the_kernel(lab: Lab, net: dict[str, str],
                                                       tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, idle=0.2, extra=(
        "    per_ip_rate: 0.001\n    ban: {after: 3, window: 60, for: 600}"))
    with client(net["flood"]) as s:
        s.settimeout(0.3)
        ask(s, ROUTER4, b"first")
        wait_for(lambda: wg(daemon)["connections"] == 0, what="the first session ending")
        for _ in range(3):
            assert ask(s, ROUTER4, b"refused") is None
        wait_for(lambda: lab.nft_set(net["router"], "inet", "netsentinel", "ban_wg")
                 == {FLOOD4}, what="the ban in the kernel")
        seen = wg(daemon)["rejected"]
        for _ in range(5):
            assert ask(s, ROUTER4, b"dropped") is None
        assert wg(daemon)["rejected"] == seen       # the daemon never saw them
    with client(net["good"]) as good:
        assert wait_for(lambda: ask(good, ROUTER4, b"ok"), what="a reply") == (b"ok", ROUTER4)
    bans = json.loads(daemon.ctl("forward bans wg --json"))["wg"]
    assert list(bans) == [f"{FLOOD4}/32"]
    assert GOOD4 not in json.dumps(bans)


def test_udp_option_on_the_command_line(lab: Lab, net: dict[str, str],
                                        tmp_path: Path) -> None:
    lab.popen(net["router"], [sys.executable, "-c", ECHO])
    daemon = Daemon(lab, net["router"], tmp_path, "", extra_args=[
        "--forward", f"udp:[::]:{FRONT}=127.0.0.1:{BACKEND}"]).start()
    with client(net["good"], socket.AF_INET6) as s:
        assert wait_for(lambda: ask(s, "fd77:2::1", b"v6"), what="a reply") == \
            (b"v6", "fd77:2::1")
    stats = json.loads(daemon.ctl(f"forward stats cli-udp-{FRONT}"))
    assert stats["up"] == 2 and stats["protocol"] == "udp"


def test_a_stop_lets_sessions_finish_and_takes_no_new_clients(
        lab: Lab, net: dict[str, str], tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, idle=1.5, extra="    wait_timeout: 30")
    with client(net["good"]) as kept, client(net["flood"]) as newcomer:
        assert wait_for(lambda: ask(kept, ROUTER4, b"a"), what="a reply") == (b"a", ROUTER4)
        stopping = threading.Thread(target=daemon.ctl, args=("forward stop wg",))
        stopping.start()
        wait_for(lambda: wg(daemon)["state"] == "stopping", what="the stop starting")
        assert ask(kept, ROUTER4, b"b") == (b"b", ROUTER4)
        newcomer.settimeout(0.5)
        assert ask(newcomer, ROUTER4, b"c") is None
    stopping.join(timeout=15)
    wait_for(lambda: wg(daemon)["state"] == "stopped", what="the stop once the session idled")
    assert wg(daemon)["closes"] == {"idle-timeout": 1}


def test_ipv6_router_address_is_never_banned(lab: Lab, net: dict[str, str],
                                             tmp_path: Path) -> None:
    daemon = start(lab, net, tmp_path, extra="    ban: {}")
    assert daemon.ctl(f"forward ban wg {ROUTER6}").startswith("ERROR")
