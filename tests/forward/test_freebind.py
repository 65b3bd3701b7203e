"""``freebind: true``: a forward service starts on an address no interface has yet (a
keepalived VIP on the backup) and serves once the address arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.error import CannotListenError

from netsentinel.forward.port import bind
from netsentinel.forward.udpsocket import bind_udp
from tests.forward.test_daemon import dial, echo, echo_backend, inside
from tests.lab import Daemon, Lab

VIP = "10.55.0.1"
BACKEND = 19200
FRONT = 19201

CONFIG = f"""
forward:
  vip:
    listen: "{VIP}:{FRONT}"
    backend: "127.0.0.1:{BACKEND}"
    freebind: true
  vip-udp:
    listen: "{VIP}:{FRONT + 1}"
    backend: "127.0.0.1:{BACKEND}"
    protocol: udp
    freebind: true
"""


def test_an_absent_address_cannot_be_bound_without_freebind(lab: Lab) -> None:
    ns = lab.netns("fb")
    with inside(ns), pytest.raises(CannotListenError):
        bind(VIP, FRONT, 16)


def test_freebind_binds_an_absent_address(lab: Lab) -> None:
    ns = lab.netns("fb")
    with inside(ns):
        tcp = bind(VIP, FRONT, 16, freebind=True)
        udp = bind_udp(VIP, FRONT, freebind=True)
        six = bind("fd55::1", FRONT, 16, freebind=True)
    for sock in (tcp, udp, six):
        sock.close()


def test_service_starts_before_its_address_and_serves_when_it_arrives(
        lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("fb")
    echo_backend(lab, ns, BACKEND)
    daemon = Daemon(lab, ns, tmp_path, CONFIG).start()
    state = daemon.status()["forward"]
    assert state["vip"]["state"] == state["vip-udp"]["state"] == "running"
    lab.run(ns, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
    with dial(ns, FRONT, VIP) as s:
        assert echo(s, b"vip") == b"vip"
