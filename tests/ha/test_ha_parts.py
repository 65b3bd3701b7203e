"""ha's master_only for checks' own monitors (``master_only: [ddns, failover]``): the real
daemon with us writing keepalived's lines into its FIFO. On BACKUP a ddns instance sends
no update to its provider (a stand-in HTTP server) and a multi-WAN instance leaves the
default route alone while its uplinks are still probed (they feed the track weight);
both resume on MASTER."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import drop, heal, peer
from tests.ha.test_ha_daemon import say
from tests.lab import Daemon, Lab, wait_for

METRIC, PROVIDER = 211, 18080
CONFIG = """
ha:
  keepalived: {{notify_fifo: {fifo}, instance: VI_1, track_file: {track}}}
  master_only: [ddns, failover]
  interval: 0.2
checks:
  ddns:
    dyn:
      interval: 1
      timeout: 1
      accept_private: true
      sources: [{{interface: {dummy}}}]
      update:
        protocol: custom
        server: "http://127.0.0.1:{port}/update?host={{host}}&ip={{ip}}"
        success: OK
        hostnames: [home.example.net]
  failover:
    wan:
      interval: 0.3
      count: 1
      wait: 0.25
      down_after: 2
      up_after: 4
      metric: {metric}
      uplinks:
        isp1: {{interface: {if1}, gateway: 192.168.41.1}}
        isp2: {{interface: {if2}, gateway: 192.168.42.1, tier: 2}}
"""

# the provider stand-in: answers OK and appends each request's path to a file
STANDIN = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as log:
            log.write(self.path + "\\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class Pair:
    """A router with two ISPs, an interface of its own as the ddns source and the stand-in."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab, self.tmp_path = lab, tmp_path
        self.router = lab.netns("r")
        self.isp1, self.if1 = peer(lab, self.router, "i1", "192.168.41.2/24", "192.168.41.1/24")
        self.isp2, self.if2 = peer(lab, self.router, "i2", "192.168.42.2/24", "192.168.42.1/24")
        self.dummy = lab.ifname("d")              # no dummy module here: a veth pair
        lab.veth(self.router, self.dummy, None, lab.ifname("dp"))
        lab.run(self.router, "ip", "addr", "add", "10.55.0.1/32", "dev", self.dummy)
        self.requests = tmp_path / "requests.log"
        self.requests.touch()
        (tmp_path / "standin.py").write_text(STANDIN)
        lab.popen(self.router, [sys.executable, str(tmp_path / "standin.py"), str(PROVIDER),
                                str(self.requests)], stderr=subprocess.DEVNULL)
        wait_for(lambda: lab.run(self.router, "socat", "-", f"TCP:127.0.0.1:{PROVIDER}",
                                 check=False, input=b"").returncode == 0, what="stand-in up")
        self.requests.write_text("")
        self.daemon = Daemon(lab, self.router, tmp_path, CONFIG.format(
            fifo=tmp_path / "notify.fifo", track=tmp_path / "track", dummy=self.dummy,
            port=PROVIDER, metric=METRIC, if1=self.if1, if2=self.if2))

    def updates(self) -> list[str]:
        """The addresses the provider was sent, in order."""
        return [line.rpartition("ip=")[2] for line in self.requests.read_text().splitlines()]

    def route(self) -> list[str]:
        out = self.lab.run(self.router, "ip", "-j", "-4", "route", "show", "default").stdout
        return [r["gateway"] for r in json.loads(out or b"[]") if r.get("metric") == METRIC]

    def uplinks(self) -> dict[str, Any]:
        found: dict[str, Any] = self.daemon.status()["checks"]["failover"]["wan"]["uplinks"]
        return found

    def state(self, name: str) -> str:
        return str(self.uplinks()[name]["state"])

    def ha(self) -> dict[str, Any]:
        found: dict[str, Any] = self.daemon.status()["ha"]
        return found


@pytest.fixture
def pair(lab: Lab, tmp_path: Path) -> Pair:
    return Pair(lab, tmp_path)


def test_ddns_and_failover_follow_master_while_uplinks_are_probed(pair: Pair) -> None:
    pair.daemon.start()
    ha = pair.ha()
    assert ha["state"] == "unknown" and ha["features"] == {"ddns": False, "failover": False}
    # held from the start: the uplinks are judged (the track weight), nothing else happens
    wait_for(lambda: pair.state("isp2") == "online", what="uplinks probed while held")
    drop(pair.lab, pair.isp1, "ip protocol icmp")
    wait_for(lambda: pair.ha()["uplinks_up"] == 1, what="the weight follows isp1 down")
    heal(pair.lab, pair.isp1)
    wait_for(lambda: pair.ha()["uplinks_up"] == 2, what="and back up")
    assert pair.route() == [] and pair.updates() == []

    say(pair.daemon, "MASTER")
    wait_for(lambda: pair.route() == ["192.168.41.1"], what="failover routes on MASTER")
    wait_for(lambda: pair.updates() == ["10.55.0.1"], what="ddns updates on MASTER")
    assert pair.ha()["features"] == {"ddns": True, "failover": True}

    say(pair.daemon, "BACKUP")
    wait_for(lambda: pair.ha()["features"] == {"ddns": False, "failover": False},
             what="ddns and failover held on BACKUP")
    pair.lab.run(pair.router, "ip", "route", "del", "default", "metric", str(METRIC))
    pair.lab.run(pair.router, "ip", "addr", "replace", "10.55.0.2/32", "dev", pair.dummy)
    pair.lab.run(pair.router, "ip", "addr", "del", "10.55.0.1/32", "dev", pair.dummy)
    # rounds go on (isp1 down and back: more than the ddns interval) and touch nothing
    drop(pair.lab, pair.isp1, "ip protocol icmp")
    wait_for(lambda: pair.state("isp1") == "offline", what="isp1 judged down on BACKUP")
    heal(pair.lab, pair.isp1)
    wait_for(lambda: pair.state("isp1") == "online", what="isp1 judged up on BACKUP")
    assert pair.route() == [], "a held failover instance does not repair the route"
    assert pair.updates() == ["10.55.0.1"], "a held ddns instance sends nothing"

    say(pair.daemon, "MASTER")
    wait_for(lambda: pair.route() == ["192.168.41.1"], what="the route back on MASTER")
    wait_for(lambda: pair.updates() == ["10.55.0.1", "10.55.0.2"],
             what="the new address sent on MASTER")
    assert pair.ha()["features"] == {"ddns": True, "failover": True}
