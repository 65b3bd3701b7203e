"""ddns in namespaces: nginx as HTTP/HTTPS echo services, dnsmasq as a DNS source."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.checks.labkit import Recorder, make_certificates, netns_hosts, peer
from tests.lab import Daemon, Lab, require, wait_for

NGINX = """
pid {dir}/nginx.pid;
error_log {dir}/nginx.err;
events {{}}
http {{
  access_log off;
  default_type text/plain;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  server {{ listen 10.0.8.1:80; location / {{ return 200 "$remote_addr\\n"; }} }}
  server {{ listen 10.0.8.1:443 ssl; ssl_certificate {dir}/ip.test.crt;
           ssl_certificate_key {dir}/ip.test.key; location / {{ return 200 "$remote_addr\\n"; }} }}
  server {{ listen 10.0.8.2:443 ssl; ssl_certificate {dir}/wrong.test.crt;
           ssl_certificate_key {dir}/wrong.test.key; location / {{ return 200 "$remote_addr"; }} }}
}}
"""

CONFIG = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 1
      timeout: 1
      accept_private: true
      sources:
        - {{url: "https://other.test/", ca: {ca}}}
        - {{url: "https://ip.test/", ca: {ca}}}
        - dns: {{name: myip.test, server: 10.0.8.53}}
    plain:
      interval: 1
      timeout: 1
      accept_private: true
      sources: ["http://ip.test/"]
"""


@pytest.fixture
def hosts(lab: Lab) -> Iterator[str]:
    router = lab.netns("r")
    with netns_hosts(router, "10.0.8.1 ip.test\n10.0.8.2 other.test\n"):
        yield router


def test_external_address_follows_http_https_and_dns_sources(lab: Lab, tmp_path: Path,
                                                            hosts: str) -> None:
    require("nginx", "dnsmasq", "openssl")
    router = hosts
    web, wan = peer(lab, router, "w", "10.0.8.10/24", "10.0.8.1/24", "10.0.8.2/24",
                    "10.0.8.53/24")
    (tmp_path / "tmp").mkdir()
    ca = make_certificates(tmp_path, ["ip.test", "wrong.test"])
    (tmp_path / "nginx.conf").write_text(NGINX.format(dir=tmp_path))
    nginx = lab.popen(web, ["nginx", "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
    names = tmp_path / "names"
    names.write_text("10.0.7.7 myip.test\n")
    dnsmasq = lab.popen(web, ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                              "--no-hosts", f"--addn-hosts={names}", "--listen-address=10.0.8.53",
                              "--bind-interfaces"])
    recorder = Recorder(tmp_path)
    daemon = Daemon(lab, router, tmp_path, CONFIG.format(action=recorder.script, ca=ca)).start()

    def updates(instance: str) -> list[list[str]]:
        return [c[3:] for c in recorder.events("ddns-ip-update") if c[0] == instance]

    wait_for(lambda: updates("ext") == [["10.0.8.10", "unknown"]], what="first address")
    wait_for(lambda: updates("plain") == [["10.0.8.10", "unknown"]], what="plain HTTP address")
    failures = daemon.status()["checks"]["ddns"]["ext"]["failures"]
    assert [f["source"] for f in failures] == ["https://other.test/"]
    assert "DNSMismatch" in failures[0]["reason"]        # wrong hostname: refused

    lab.run(router, "ip", "addr", "del", "10.0.8.10/24", "dev", wan)
    lab.run(router, "ip", "addr", "add", "10.0.8.11/24", "dev", wan)
    wait_for(lambda: updates("ext")[1:] == [["10.0.8.11", "10.0.8.10"]], what="address change")

    os.killpg(nginx.pid, signal.SIGKILL)
    wait_for(lambda: updates("ext")[2:] == [["10.0.7.7", "10.0.8.11"]], what="DNS source")
    names.write_text("10.0.7.8 myip.test\n")
    os.kill(dnsmasq.pid, signal.SIGHUP)
    wait_for(lambda: updates("ext")[3:] == [["10.0.7.8", "10.0.7.7"]], what="DNS answer change")

    os.killpg(dnsmasq.pid, signal.SIGKILL)
    wait_for(lambda: [c for c in recorder.events("ddns-no-update") if c[0] == "ext"],
             what="ddns-no-update")
    assert ["ext", "1", "ddns-no-update"] in recorder.calls()
