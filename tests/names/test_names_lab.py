"""The daemon follows a real DNS server (dnsmasq in the namespace) into real nft sets."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentinel.status import read_status
from tests.lab import Daemon, Lab, require, wait_for

CONFIG = """
names:
  servers: ["127.0.0.1:5353"]
  timeout: 1
  sets:
    allow:
      names: [a.example.test, b.example.test]
      table: inet filter
      min_ttl: 1
      max_ttl: 2
      stale_for: {stale_for}
"""
HOSTS = "192.0.2.1 a.example.test\n2001:db8::1 a.example.test\n192.0.2.2 b.example.test\n"


class Resolved:
    """dnsmasq serving ``hosts`` with a 1 s TTL, and the daemon asking it."""

    def __init__(self, lab: Lab, tmp_path: Path, stale_for: int) -> None:
        require("dnsmasq")
        self.lab = lab
        self.ns = lab.netns("n")
        self.hosts = tmp_path / "hosts"
        self.hosts.write_text(HOSTS)
        self.dnsmasq = lab.popen(self.ns, [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", f"--addn-hosts={self.hosts}", "--local-ttl=1",
            "--local=/example.test/", "--listen-address=127.0.0.1", "--port=5353",
            "--bind-interfaces", "--pid-file=", "--user=root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.daemon = Daemon(lab, self.ns, tmp_path, CONFIG.format(stale_for=stale_for))

    def serve(self, hosts: str) -> None:
        """New records; dnsmasq re-reads its hosts files on SIGHUP."""
        self.hosts.write_text(hosts)
        self.dnsmasq.send_signal(signal.SIGHUP)

    def set(self, name: str) -> set[str] | None:
        return self.lab.nft_set(self.ns, "inet", "filter", name)

    def raw_set(self, name: str) -> dict[str, Any]:
        out = self.lab.run(self.ns, "nft", "-j", "list", "set", "inet", "filter", name).stdout
        return next(item["set"] for item in json.loads(out)["nftables"] if "set" in item)

    def lookup(self, name: str, family: str = "A") -> dict[str, Any]:
        return self.daemon.status()["names"]["names"]["allow"]["names"][name][family]  # type: ignore[no-any-return]


@pytest.fixture
def resolved(lab: Lab, tmp_path: Path) -> Iterator[Resolved]:
    r = Resolved(lab, tmp_path, stale_for=4)
    r.daemon.start()
    wait_for(lambda: r.set("allow") == {"192.0.2.1", "192.0.2.2"}, what="allow filled")
    yield r
    assert r.daemon.status()["faults"]["total"] == 0, r.daemon.output()


def test_sets_hold_every_name_s_addresses_with_timeouts(resolved: Resolved) -> None:
    wait_for(lambda: resolved.set("allow6") == {"2001:db8::1"}, what="allow6 filled")
    found = resolved.raw_set("allow")
    assert found["flags"] == ["timeout"]
    for element in found["elem"]:
        assert 0 < element["elem"]["expires"] <= element["elem"]["timeout"] <= 31
    assert resolved.lookup("a.example.test")["state"] == "ok"
    assert resolved.lookup("b.example.test", "AAAA")["addresses"] == []


def test_new_address_appears_and_removed_one_leaves(resolved: Resolved) -> None:
    resolved.serve("192.0.2.1 a.example.test\n192.0.2.3 a.example.test\n"
                   "192.0.2.2 b.example.test\n")
    wait_for(lambda: resolved.set("allow") == {"192.0.2.1", "192.0.2.2", "192.0.2.3"},
             what="192.0.2.3 added")
    wait_for(lambda: resolved.set("allow6") == set(), what="2001:db8::1 removed")
    resolved.serve("192.0.2.3 a.example.test\n192.0.2.2 b.example.test\n")
    wait_for(lambda: resolved.set("allow") == {"192.0.2.2", "192.0.2.3"}, what="192.0.2.1 left")


def test_nxdomain_keeps_the_last_good_answer_until_stale_for(resolved: Resolved) -> None:
    resolved.serve("192.0.2.1 a.example.test\n")
    stale = wait_for(lambda: (lookup := resolved.lookup("b.example.test"))["state"] == "stale"
                     and lookup, what="b.example.test stale")
    assert stale["error"].startswith("nxdomain") and stale["addresses"] == ["192.0.2.2"]
    assert "192.0.2.2" in (resolved.set("allow") or set())
    wait_for(lambda: resolved.set("allow") == {"192.0.2.1"}, what="stale answer dropped")
    gone = resolved.lookup("b.example.test")
    assert gone["state"] == "nxdomain" and gone["last_ok"] is not None
    assert any(line.startswith("names: b.example.test A (allow): nxdomain")
               for line in read_status(resolved.daemon.status()).problems())
    resolved.serve(HOSTS)
    wait_for(lambda: resolved.set("allow") == {"192.0.2.1", "192.0.2.2"}, what="b back")


def test_flushed_set_is_refilled_and_sync_answers(resolved: Resolved) -> None:
    resolved.lab.run(resolved.ns, "nft", "flush set inet filter allow")
    wait_for(lambda: resolved.set("allow") == {"192.0.2.1", "192.0.2.2"}, what="refilled")
    assert resolved.daemon.ctl("names sync") == "OK: 4 lookups, 0 failing"
