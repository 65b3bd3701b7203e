"""Metrics from the real daemon in a namespace: real addresses, real forwarded connections,
scraped over real HTTP, by the control socket, by netsentinel-ctl and by Prometheus itself."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel import __version__
from tests.forward.test_daemon import dial, echo, echo_backend, inside
from tests.lab import Daemon, Lab, require, samples, wait_for

CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))
BACKEND, FRONT = 19000, 19001

CONFIG = """
control:
  metrics: "{metrics}"
  status_page: {page}
addresses:
  delay: 0.05
  nftables: {{table: inet filter, create: true}}
  interfaces:
    {wan}: {{zone: wan}}
forward:
  echo:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
checks:
  ping:
    self: {{target: 10.1.0.2, interval: {interval}, count: 1, wait: 1, log: false}}
"""


class Router:
    """A namespace with an interface holding real addresses, an echo backend and the daemon."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.ns = lab.netns("m")
        self.wan, peer = lab.ifname("wan"), lab.ifname("p")
        lab.veth(self.ns, self.wan, None, peer)
        for address in ("10.1.0.1/24", "10.1.0.2/24"):
            lab.run(self.ns, "ip", "addr", "add", address, "dev", self.wan)
        lab.run(self.ns, "ip", "addr", "add", "fd00:1::1/64", "dev", self.wan, "nodad")
        echo_backend(lab, self.ns, BACKEND)
        self.daemon = Daemon(lab, self.ns, tmp_path, self.config("127.0.0.1:9380"))

    def config(self, metrics: str, status_page: bool = False, ping_interval: int = 1) -> str:
        return CONFIG.format(metrics=metrics, page="true" if status_page else "false",
                             interval=ping_interval, wan=self.wan, front=FRONT, backend=BACKEND)

    def http(self, path: str = "/metrics", method: str = "GET", port: int = 9380,
             host: str = "127.0.0.1") -> tuple[int, str, str]:
        """(status, content type, body) of one real HTTP request inside the namespace."""
        conn = http.client.HTTPConnection(host, port, timeout=10)
        with inside(self.ns):
            conn.connect()
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.getheader("content-type", ""), \
                response.read().decode()
        finally:
            conn.close()

    def refuse_a_blacklisted_client(self) -> None:
        """Blacklist 127.0.0.2 on the echo service and see a client from it closed."""
        self.daemon.ctl("reject echo 127.0.0.2")
        with inside(self.ns):
            refused = socket.create_connection(("127.0.0.1", FRONT), timeout=10,
                                               source_address=("127.0.0.2", 0))
        wait_for(lambda: refused.recv(1) == b"", what="blacklisted client closed")
        refused.close()

    def scrape(self, port: int = 9380) -> dict[str, float]:
        status, _, body = self.http(port=port)
        assert status == 200, body
        return samples(body)


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    r = Router(lab, tmp_path)
    r.daemon.start()
    wait_for(lambda: r.lab.nft_set(r.ns, "inet", "filter", "wan_ips") == {"10.1.0.1", "10.1.0.2"},
             what="addresses in wan_ips")
    yield r


def test_scrape_counts_forwarded_bytes_connections_and_set_elements(router: Router) -> None:
    kept = dial(router.ns, FRONT)
    assert echo(kept, b"x" * 1000) == b"x" * 1000
    done = dial(router.ns, FRONT)
    assert echo(done, b"y" * 234) == b"y" * 234
    done.close()
    router.refuse_a_blacklisted_client()
    svc = 'service="echo"'
    wait_for(lambda: router.scrape().get(f"netsentinel_forward_open_connections{{{svc}}}") == 1,
             what="one connection left open")
    m = router.scrape()
    assert m[f'netsentinel_forward_bytes_total{{{svc},direction="up"}}'] == 1234
    assert m[f'netsentinel_forward_bytes_total{{{svc},direction="down"}}'] == 1234
    assert m[f"netsentinel_forward_accepted_total{{{svc}}}"] == 2
    assert sum(v for k, v in m.items() if k.startswith("netsentinel_forward_closed_total{")) == 1
    assert m[f'netsentinel_forward_rejected_total{{{svc},reason="blacklist"}}'] == 1
    assert m[f'netsentinel_forward_rejected_total{{{svc},reason="conn_limit"}}'] == 0
    assert m[f"netsentinel_forward_client_ips{{{svc}}}"] == 1
    assert m[f"netsentinel_forward_up{{{svc}}}"] == 1
    assert m[f"netsentinel_forward_blacklist_entries{{{svc}}}"] == 1
    assert m['netsentinel_addresses_set_elements{set="wan_ips"}'] == 2
    assert m['netsentinel_addresses_set_elements{set="wan_ipv6"}'] == 1
    assert m['netsentinel_addresses_set_error{set="wan_ips"}'] == 0
    assert m["netsentinel_addresses_nft_transactions_total"] >= 1
    assert m[f'netsentinel_build_info{{version="{__version__}"}}'] == 1
    assert m["netsentinel_ready"] == 1
    assert m["netsentinel_bus_events_total"] >= 1
    kept.close()


def test_address_change_shows_in_the_next_scrape(router: Router) -> None:
    router.lab.run(router.ns, "ip", "addr", "add", "10.1.0.3/24", "dev", router.wan)
    wait_for(lambda: router.scrape().get('netsentinel_addresses_set_elements{set="wan_ips"}') == 3,
             what="third address counted")
    assert router.scrape()["netsentinel_addresses_netlink_messages_total"] >= 1


def test_ping_monitor_reports_real_round_trips(router: Router) -> None:
    labels = 'name="self",target="10.1.0.2"'
    m = wait_for(lambda: s if (s := router.scrape()).get(f"netsentinel_ping_rtt_seconds{{{labels}}}")
                 else None, what="a ping round trip")
    assert 0 < m[f"netsentinel_ping_rtt_seconds{{{labels}}}"] < 1
    assert m[f"netsentinel_ping_loss_ratio{{{labels}}}"] == 0
    assert m["netsentinel_icmp_replies_total"] >= 1
    assert m["netsentinel_checks_events_total"] >= 1


def test_only_get_on_metrics_is_served(router: Router) -> None:
    status, content_type, body = router.http()
    assert status == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE netsentinel_forward_bytes_total counter" in body
    assert router.http(method="HEAD")[:2] == (200, content_type)
    assert router.http("/")[0] == 404
    assert router.http("/metrics/x")[0] == 404
    assert router.http(method="POST")[0] == 405
    assert router.http(method="DELETE")[0] == 405


def test_metrics_command_over_the_socket_and_ctl_passes_promtool(router: Router) -> None:
    require("promtool")
    # the ping series appear with the first round trip and jitter with the second (a second
    # later); wait for both so the two reads, which can be seconds apart, list the same
    wait_for(lambda: any(k.startswith("netsentinel_ping_jitter_seconds") for k in router.scrape()),
             what="two ping round trips")
    line = router.daemon.ctl("metrics")
    assert "# TYPE netsentinel_addresses_set_elements gauge" in line
    ctl = subprocess.run([CTL, "--socket", router.daemon.socket, "metrics"], capture_output=True,
                         text=True, timeout=30)
    assert ctl.returncode == 0, ctl.stderr
    assert ctl.stdout.startswith("# HELP ") and not ctl.stdout.endswith("\n\n")
    assert samples(ctl.stdout).keys() == samples(line).keys()
    lint = subprocess.run(["promtool", "check", "metrics"], input=ctl.stdout,
                          capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_reload_rebinds_the_metrics_port(router: Router) -> None:
    router.daemon.write_config(router.config("[::1]:9381"))
    reply = router.daemon.ctl("reload")
    assert reply == "OK: reloaded (changed: control.metrics)", reply
    status, _, body = router.http(port=9381, host="::1")
    assert status == 200
    assert samples(body)['netsentinel_reloads_total{result="ok"}'] == 1
    with pytest.raises(ConnectionRefusedError):
        router.http(port=9380)


def test_reload_with_a_bad_address_keeps_serving(router: Router) -> None:
    router.daemon.write_config(router.config("127.0.0.1:99999"))
    reply = router.daemon.ctl("reload")
    assert "netsentinel.yaml:3: control.metrics: port 99999 is out of range" in reply, reply
    m = router.scrape()
    assert m['netsentinel_reloads_total{result="refused"}'] == 1
    assert m['netsentinel_reloads_total{result="ok"}'] == 0


def test_prometheus_scrapes_the_daemon(router: Router, tmp_path: Path) -> None:
    """The real Prometheus server (Debian's package) scrapes the daemon in the namespace."""
    require("prometheus")
    kept = dial(router.ns, FRONT)
    assert echo(kept, b"z" * 4321) == b"z" * 4321
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      "scrape_configs:\n  - job_name: netsentinel\n"
                      "    static_configs: [{targets: ['127.0.0.1:9380']}]\n")
    router.lab.popen(router.ns, ["prometheus", f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 "--web.listen-address=127.0.0.1:9090"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(expr: str) -> list[dict[str, object]]:
        try:
            status, _, body = router.http(
                "/api/v1/query?query=" + urllib.parse.quote(expr), port=9090)
        except OSError:
            return []
        return json.loads(body)["data"]["result"] if status == 200 else []

    up = wait_for(lambda: query('up{job="netsentinel"} == 1'), timeout=60,
                  what="Prometheus scraped the daemon")
    assert up
    result = wait_for(lambda: query('netsentinel_forward_bytes_total{direction="up"}'),
                      timeout=30, what="bytes in Prometheus")
    assert result[0]["value"][1] == "4321"  # type: ignore[index]
    kept.close()


def test_port_in_use_is_reported_and_retried_at_reload(lab: Lab, tmp_path: Path) -> None:
    r = Router(lab, tmp_path)
    with inside(r.ns):
        squatter = socket.socket()
    squatter.bind(("127.0.0.1", 9380))
    squatter.listen()
    try:
        r.daemon.start()      # still starts: metrics are not worth refusing to route
        state = r.daemon.status()["metrics"]
        assert state["listening"] is False and "in use" in state["error"], state
        r.daemon.write_config(r.config("0.0.0.0:9380"))
        reply = r.daemon.ctl("reload")
        assert reply.startswith("OK: reloaded (changed: control.metrics (not listening: "), reply
    finally:
        squatter.close()
    assert r.daemon.ctl("reload") == "OK: reloaded (changed: control.metrics)"
    assert r.daemon.status()["metrics"] == {"listen": "0.0.0.0:9380", "listening": True,
                                            "error": None}
    assert r.scrape()["netsentinel_ready"] == 1
    assert r.daemon.ctl("reload") == "OK: reloaded (no changes)"
