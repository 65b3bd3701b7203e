"""``agree: 2`` in namespaces: a lying echo service (a captive portal, a proxy answering its
own address) cannot move the name while two honest sources agree; the disagreement is
reported with who said what."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.checks.labkit import Recorder, make_certificates, netns_hosts, peer, start_nginx
from tests.lab import Daemon, Lab, require, wait_for

ECHOES = """
  server {{ listen 10.0.9.1:443 ssl; ssl_certificate {dir}/ip.test.crt;
           ssl_certificate_key {dir}/ip.test.key; location / {{ return 200 "$remote_addr\\n"; }} }}
  server {{ listen 10.0.9.2:443 ssl; ssl_certificate {dir}/liar.test.crt;
           ssl_certificate_key {dir}/liar.test.key; location / {{ return 200 "{lie}\\n"; }} }}"""

CONFIG = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 1
      timeout: 1
      accept_private: true
      agree: 2
      sources:
        - {{url: "https://liar.test/", ca: {ca}}}
        - {{url: "https://ip.test/", ca: {ca}}}
        - dns: {{name: myip.test, server: 10.0.9.53}}
"""


def test_a_lying_source_cannot_move_the_address(lab: Lab, tmp_path: Path) -> None:
    require("nginx", "dnsmasq", "openssl")
    router = lab.netns("r")
    with netns_hosts(router, "10.0.9.1 ip.test\n10.0.9.2 liar.test\n"):
        web, _ = peer(lab, router, "w", "10.0.9.10/24", "10.0.9.1/24", "10.0.9.2/24",
                      "10.0.9.53/24")
        ca = make_certificates(tmp_path, ["ip.test", "liar.test"])
        nginx = start_nginx(lab, web, tmp_path, ECHOES.format(dir=tmp_path, lie="10.66.0.1"))
        names = tmp_path / "names"
        names.write_text("10.0.9.10 myip.test\n")       # the DNS method tells the truth
        dnsmasq = lab.popen(web, ["dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                                  "--no-resolv", "--no-hosts", f"--addn-hosts={names}",
                                  "--listen-address=10.0.9.53", "--bind-interfaces"])
        recorder = Recorder(tmp_path)
        daemon = Daemon(lab, router, tmp_path, CONFIG.format(action=recorder.script,
                                                             ca=ca)).start()

        def updates() -> list[list[str]]:
            return [c[3:] for c in recorder.events("ddns-ip-update") if c[0] == "ext"]

        def ext() -> dict[str, Any]:
            return daemon.status()["checks"]["ddns"]["ext"]  # type: ignore[no-any-return]

        def disagreement() -> str:
            return next((f["reason"] for f in ext()["failures"] if f["source"] == "agree"), "")

        wait_for(lambda: updates() == [["10.0.9.10", "unknown"]], what="the agreed address")
        reason = wait_for(disagreement, what="the disagreement reported")
        assert "10.66.0.1 from https://liar.test/" in reason, reason
        assert "10.0.9.10 from" in reason, reason
        # the honest DNS answer changes: now no two sources agree, so nothing moves
        names.write_text("10.0.9.99 myip.test\n")
        os.kill(dnsmasq.pid, signal.SIGHUP)
        wait_for(lambda: "10.0.9.99 from" in disagreement(), what="the new disagreement")
        assert ext()["address"] == "10.0.9.10"
        assert updates() == [["10.0.9.10", "unknown"]]
        os.killpg(nginx.pid, signal.SIGKILL)
