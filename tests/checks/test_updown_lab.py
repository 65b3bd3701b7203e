"""updown and ping in namespaces, with dnsmasq as the real DNS server for the second opinion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.checks.labkit import Recorder, drop, heal, peer
from tests.lab import Daemon, Lab, require, wait_for

CONFIG = """
checks:
  action: {action}
  updown:
    internet:
      target: 10.0.9.1
      interval: 0.5
      fast_interval: 0.2
      count: 1
      wait: 0.3
      down_after: 2
      up_after: 2
      addping: [10.0.9.1, 10.0.10.1]
      dns_server: 10.0.9.53
      dns_lookup: example.com
  ping:
    isp: {{target: 10.0.9.1, interval: 0.5, count: 2, wait: 0.3}}
"""


def test_dns_keeps_it_online_then_offline_and_online_with_addping(lab: Lab,
                                                                   tmp_path: Path) -> None:
    require("dnsmasq")
    router = lab.netns("r")
    wan, _ = peer(lab, router, "w", "10.0.9.2/24", "10.0.9.1/24", "10.0.9.53/24")
    recorder = Recorder(tmp_path)
    lab.popen(wan, ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                    "--no-hosts", "--address=/example.com/10.9.9.9",
                    "--listen-address=10.0.9.53", "--bind-interfaces"])
    daemon = Daemon(lab, router, tmp_path, CONFIG.format(action=recorder.script)).start()

    def updown() -> dict[str, Any]:
        return daemon.status()["checks"]["updown"]["internet"]  # type: ignore[no-any-return]

    wait_for(lambda: updown()["state"] == "online", what="online")
    drop(lab, wan, "icmp type echo-request")
    wait_for(lambda: updown()["refuted_by_dns"], what="ping refuted by DNS")
    assert updown()["state"] == "online"
    drop(lab, wan, "meta l4proto { icmp, udp }")
    wait_for(lambda: recorder.events("updown-offline"), what="offline")
    assert recorder.events("updown-offline") == [["internet", "1", "updown-offline", "10.0.9.1"]]
    assert updown()["addping"][0]["alive"] is False
    heal(lab, wan)
    wait_for(lambda: recorder.events("updown-online"), what="online again")
    online = recorder.events("updown-online")[0]
    assert online[:4] == ["internet", "1", "updown-online", "10.0.9.1"]
    days, hours, minutes, seconds = (int(x) for x in online[4].split(":"))
    assert days == hours == minutes == 0 and seconds < 60
    addping = {r["address"]: r["alive"] for r in updown()["addping"]}
    assert addping == {"10.0.9.1": True, "10.0.10.1": False}

    result = recorder.events("ping-result")[-1]
    assert result[:3] == ["isp", "1", "ping-result"] and len(result) == 4
    address, alive, low, avg, high, loss, jitter = result[3].split(":")
    assert address == "10.0.9.1" and alive in ("True", "False")
    assert 0.0 <= float(loss) <= 1.0 and float(low) <= float(avg) <= float(high)
