"""The shipped Grafana dashboard against real data: a daemon with every feature the
panels show (sets, a forward service with traffic and a ban, ping, updown, failover, ddns
updating a provider, ha) is scraped by Debian's Prometheus, which also loads the shipped
rules, and every panel's every query must return series."""

from __future__ import annotations

import functools
import http.client
import json
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import netns_hosts, peer
from tests.checks.test_ddns_lab import PASSWORD, Provider
from tests.forward.test_daemon import dial, echo, echo_backend, inside
from tests.lab import ROOT, Daemon, Lab, require, wait_for

DASHBOARD = ROOT / "contrib" / "grafana" / "netsentinel.json"
RULES = ROOT / "contrib" / "prometheus" / "netsentinel-rules.yml"
BACKEND, FRONT = 19000, 19001

CONFIG = """
control:
  metrics: "127.0.0.1:9380"
addresses:
  delay: 0.05
  nftables: {{table: inet filter, create: true}}
  interfaces:
    {wan}: {{zone: wan}}
forward:
  echo:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    ban: {{after: 20, window: 60, for: 600}}     # the bans panel: loopback is never banned
checks:
  ping:
    isp: {{target: 10.0.8.1, interval: 1, count: 1, wait: 1}}
  updown:
    net: {{target: 10.0.8.1, interval: 1}}
  failover:
    wan:
      interval: 0.5
      count: 1
      wait: 0.4
      primary: {{interface: {wan}, gateway: 10.0.8.1, ping: 10.0.8.1}}
      standby: {{interface: {wan2}, gateway: 10.0.9.1, ping: 10.0.9.1}}
  ddns:
    ext:
      interval: 1
      timeout: 2
      accept_private: true
      sources: [{{interface: {wan}}}]
      update:
        server: "https://dyn.test/nic/update?system=dyndns"
        login: me
        password_file: {dir}/ddns.secret
        hostnames: [home.example.org]
        ca: {ca}
        min_interval: 0
ha:
  keepalived:
    notify_fifo: {dir}/notify.fifo
    instance: VI_T
    track_file: {dir}/netsentinel.track
"""


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, the dashboard's variables filled in as
    Grafana would for "All" routers."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$instance", ".*").replace("$__rate_interval", "15s")
            found.append((panel["title"], expr))
    return found


class Site:
    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        require("openssl", "socat")
        self.lab = lab
        self.ns = lab.netns("r")
        isp, self.wan = peer(lab, self.ns, "i", "10.0.8.10/24", "10.0.8.1/24", "10.0.8.3/24")
        self.wan2, far = lab.ifname("u2"), lab.ifname("u2p")
        lab.veth(self.ns, self.wan2, isp, far)
        lab.run(self.ns, "ip", "addr", "add", "10.0.9.10/24", "dev", self.wan2)
        lab.run(isp, "ip", "addr", "add", "10.0.9.1/24", "dev", far)
        secret = tmp_path / "ddns.secret"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o600)
        self.provider = Provider(lab, isp, tmp_path)
        echo_backend(lab, self.ns, BACKEND)
        self.daemon = Daemon(lab, self.ns, tmp_path, CONFIG.format(
            wan=self.wan, wan2=self.wan2, front=FRONT, backend=BACKEND, dir=tmp_path,
            ca=self.provider.ca))


@pytest.fixture
def site(lab: Lab, tmp_path: Path) -> Iterator[Site]:
    """The site with its daemon running; dyn.test resolves to the provider inside."""
    lab_site = Site(lab, tmp_path)
    with netns_hosts(lab_site.ns, "10.0.8.3 dyn.test\n"):
        lab_site.daemon.start()
        yield lab_site


def test_dashboard_is_grafana_json_with_a_datasource_and_router_selector() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["includeAll"] and variables["instance"]["multi"]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            for target in panel["targets"]:
                assert 'instance=~"$instance"' in target["expr"], panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_query_returns_series_from_a_real_prometheus(site: Site,
                                                                tmp_path: Path) -> None:
    require("prometheus")
    kept = dial(site.ns, FRONT)
    assert echo(kept, b"x" * 1000) == b"x" * 1000
    site.daemon.ctl("reject echo 127.0.0.2")       # a ban, and a rejection to count
    with inside(site.ns):
        refused = socket.create_connection(("127.0.0.1", FRONT), timeout=10,
                                           source_address=("127.0.0.2", 0))
    wait_for(lambda: refused.recv(1) == b"", what="banned client closed")
    refused.close()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{RULES}]\n"
        "scrape_configs:\n  - job_name: netsentinel\n"
        "    static_configs: [{targets: ['127.0.0.1:9380']}]\n")
    site.lab.popen(site.ns, ["prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             "--web.listen-address=127.0.0.1:9090"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(expr: str) -> list[dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", 9090, timeout=10)
        try:
            with inside(site.ns):
                connection.connect()
            connection.request("GET", "/api/v1/query?query=" + urllib.parse.quote(expr))
            response = connection.getresponse()
            body = json.loads(response.read())
        except (OSError, ValueError):     # not up yet, or not ready ("Service Unavailable")
            return []
        finally:
            connection.close()
        return list(body["data"]["result"]) if response.status == 200 else []

    wait_for(lambda: query('up{job="netsentinel"} == 1'), timeout=60, what="a scrape")
    for title, expr in panel_queries():
        wait_for(functools.partial(query, expr), timeout=60, what=f"series for {title!r}: {expr}")
    kept.close()
