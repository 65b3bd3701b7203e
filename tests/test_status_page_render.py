"""The status page's pure parts: figures, the list of problems, and every feature's section
rendered from a ``status`` snapshot.  The daemon test covers forward, addresses and ping
for real; docker, traffic, manhole and the other monitors need dockerd, NFLOG or SSH keys,
so their shapes (copied from each service's status()) are rendered here without them."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from twisted.web.template import flattenString

from netsentinel.control.statuspage import (
    MAX_REFRESH,
    StatusPage,
    duration,
    refresh_seconds,
    size,
)
from netsentinel.forward.report import OPEN_ROWS
from netsentinel.status import read_status
from tests.pagekit import rows as text

NOW = 1_800_000_000.0
HOSTILE = "<script>alert('x')</script>&"
PROBE = {"address": "192.0.2.1", "sent": 1, "received": 1, "alive": True, "loss": 0.0,
         "min_rtt": 1.5, "avg_rtt": 1.5, "max_rtt": 1.5, "jitter": 0.0}
SETS = {"wan_ips": {"elements": ["10.0.0.1"], "synced_at": NOW - 3, "error": None}}

HEALTHY: dict[str, Any] = {
    "version": "0.1.0", "ready": True, "started_at": NOW - 90, "uptime": 90.0,
    "config": "/etc/netsentinel/netsentinel.yaml", "reloads": {"ok": 1, "refused": 0},
    "events": 4, "actions": {"running": 0, "queued": 0, "finished": 2, "failed": 0,
                             "dropped": 0, "lingering": 0},
    "control": {"dropped": {"socket": {}, "http": {}}}, "faults": {"total": 0, "features": {}},
    "checks": {
        "ping": {"gw": {"target": "192.0.2.1", "last": PROBE, "window": PROBE, "alarm": False}},
        "updown": {"net": {"state": "online", "targets": ["192.0.2.1"], "quorum": 1,
                           "streak": 3, "refuted_by_dns": False, "last": [PROBE],
                           "addping": []}},
        "ddns": {"ext": {"address": "198.51.100.7", "family": "ipv4", "checked_at": NOW - 5,
                         "changed_at": NOW - 50, "failures": []}},
        "failover": {"wan": {"active": "primary", "metric": 10, "switches": 0, "repairs": 0,
                             "switched_at": None, "postping": None, "uplinks": {
                                 key: {"name": key, "interface": "eth0", "gateway": "192.0.2.1",
                                       "target": "192.0.2.1", "state": "online", "streak": 2,
                                       "last": PROBE} for key in ("primary", "standby")}}},
        "engine": {"sockets": 1, "in_flight": 0, "sent": 10, "received": 10, "send_errors": 0},
        "events": 3,
    },
    "traffic": {"triggers": {"vpn": {
        "state": "standby", "idle": 300.0, "idle_for": 12.5, "activations": 1, "failures": 0,
        "command": ["/bin/true"], "sources": [{"device": "nflog:5", "filter": None,
                                               "state": "listening", "error": None,
                                               "packets": 7}]}}},
    "docker": {"socket": "/run/docker.sock", "connected": True, "error": None, "connects": 1,
               "events": 2, "listed_at": NOW - 1,
               "containers": {HOSTILE: {"id": "0123456789ab", "labels": {},
                                        "networks": {"bridge": ["172.17.0.2"]}}},
               "sets": copy.deepcopy(SETS), "syncs": 1, "last_sync": NOW - 1,
               "transactions": 1, "pending": False},
    "manhole": {"ssh": "127.0.0.1:2222", "socket": None, "host_key": "SHA256:x",
                "authorized_keys": 1, "sessions": 0, "error": None},
}


def render(status: dict[str, Any], refresh: int = 5,
           connections: dict[str, list[dict[str, Any]]] | None = None) -> ET.Element:
    done: list[bytes] = []
    flattenString(None, StatusPage(read_status(status), connections or {}, refresh,
                                   now=NOW)).addCallback(done.append)
    return ET.fromstring(done[0])


def test_every_configured_section_renders() -> None:
    root = render(HEALTHY)
    assert [h.text for h in root.iter("h2")] == ["daemon", "checks", "traffic", "docker",
                                                  "manhole"]
    assert text(root, "ping")[1] == ["gw", "192.0.2.1", "1.500 ms", "1.500 ms", "0.0%",
                                     "0.000 ms", "no"]
    assert text(root, "updown")[1] == ["net", "online", "192.0.2.1", "1", "1", "3"]
    assert text(root, "ddns")[1][:3] == ["ext", "ipv4", "198.51.100.7"]
    assert text(root, "failover")[1][1] == "primary"
    assert text(root, "traffic")[1][:6] == ["vpn", "standby", "12.5s", "5m 0s", "1", "0"]
    assert text(root, "docker-sets")[1][:3] == ["wan_ips", "10.0.0.1", "1"]
    assert dict(r for r in text(root, "manhole") if len(r) == 2)["ssh"] == "127.0.0.1:2222"
    assert root.find(".//*[@id='problems']") is None


def test_container_name_is_escaped() -> None:
    done: list[bytes] = []
    flattenString(None, StatusPage(read_status(HEALTHY), {}, 5, now=NOW)).addCallback(
        done.append)
    assert b"<script" not in done[0]
    assert text(ET.fromstring(done[0]), "docker-containers")[1][0] == HOSTILE


def test_problems_are_listed_first_and_rows_marked() -> None:
    broken = copy.deepcopy(HEALTHY)
    broken["docker"]["sets"]["wan_ips"]["error"] = "No such file or directory"
    broken["checks"]["ping"]["gw"]["alarm"] = True
    broken["checks"]["updown"]["net"]["state"] = "offline"
    broken["checks"]["failover"]["wan"]["active"] = None
    broken["traffic"]["triggers"]["vpn"]["failures"] = 2
    broken["manhole"]["error"] = "Address already in use"
    assert read_status(broken).problems() == [      # by feature, in the page's order
        "ping gw: alarm on 192.0.2.1",
        "updown net: offline",
        "failover wan: no uplink carries the default route",
        "trigger vpn: 2 command failure(s)",
        "docker: set wan_ips not synced: No such file or directory",
        "manhole: Address already in use",
    ]
    root = render(broken)
    box = root.find(".//*[@id='problems']")
    assert box is not None and len(box.findall(".//li")) == 6
    body = root.find("body")
    assert body is not None and list(body).index(box) < list(body).index(
        body.find("section"))     # type: ignore[arg-type]
    ping_row = root.find(".//table[@id='ping']/tbody/tr")
    assert ping_row is not None and ping_row.get("class") == "bad"


def test_open_connections_are_listed_up_to_a_bound() -> None:
    service = {"sid": "web", "uptime": 5, "ips": "10.0.0.1", "ip_count": 1,
               "connections": OPEN_ROWS + 3, "accessed": int(NOW), "accessed_at": NOW, "up": 1, "down": 2, "state": "running",
               "listen": "0.0.0.0:80", "backend": "10.0.0.1:80", "boot_at": "2027-01-15 08:00:00",
               "conn_limit": 0,
               "total_connections": OPEN_ROWS + 3, "closed_connections": 0,
               "rejected": {"blacklist": 0}, "backend_failures": 0, "closes": {},
               "blacklist": [], "backend_address": {"address": "10.0.0.1", "error": None}}
    conn = {"id": 1, "client": "192.0.2.9", "port": 4000, "started": NOW - 2, "duration": 2.0,
            "up": 1, "down": 2, "last_activity": NOW, "idle": 0.0, "half_closed": False}
    root = render(dict(HEALTHY, forward={"web": service}),
                  connections={"web": [conn] * (OPEN_ROWS + 3)})
    assert len(text(root, "forward-web-open")) == 1 + OPEN_ROWS
    assert any(p.text == "… and 3 more: netsentinel-ctl forward stats web"
               for p in root.iter("p"))


def test_refresh_bounds() -> None:
    assert refresh_seconds(None) == 5
    assert refresh_seconds(b"0") == 0 and refresh_seconds(b"-3") == 0
    assert refresh_seconds(b"12") == 12
    assert refresh_seconds(b"99999") == MAX_REFRESH
    with pytest.raises(ValueError):
        refresh_seconds(b"soon")
    assert render(HEALTHY, refresh=0).find(".//meta[@http-equiv='refresh']") is None


def test_figures() -> None:
    assert [size(n) for n in (0, 10239, 10240, 5 * 1024 ** 3)] == [
        "0 B", "10239 B", "10.0 KiB", "5.0 GiB"]
    assert [duration(s) for s in (1.25, 61, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "1.2s", "1m 1s", "3h 2m", "2d 1h 0m"]


def test_ddns_provider_state_is_shown_and_a_refusal_is_a_problem() -> None:
    status = copy.deepcopy(HEALTHY)
    ext = status["checks"]["ddns"]["ext"]
    ext["provider"] = {"protocol": "dyndns2", "server": "https://dyn.example/nic/update",
                       "state": "ok", "address": "198.51.100.7", "wanted": "198.51.100.7",
                       "last_attempt": NOW - 60, "next_attempt": None, "attempts": 0,
                       "requests": 1, "results": {"good": 1},
                       "hosts": {"home.example.org": {"address": "198.51.100.7",
                                                      "result": "good", "detail": "",
                                                      "at": NOW - 60}}}
    assert text(render(status), "ddns")[1][6] == "ok 198.51.100.7"
    assert read_status(status).problems() == []
    ext["provider"].update(state="retrying", next_attempt=NOW + 300)
    ext["provider"]["hosts"]["home.example.org"]["result"] = "911"
    assert text(render(status), "ddns")[1][6] == "retrying 198.51.100.7 (911) next in 5m 0s"
    ext["provider"].update(state="failed", address=None, next_attempt=None)
    ext["provider"]["hosts"]["home.example.org"]["result"] = "badauth"
    assert read_status(status).problems() == ["ddns ext: provider failed (badauth)"]
    row = render(status).find(".//table[@id='ddns']/tbody/tr")
    assert row is not None and row.get("class") == "bad"


def test_an_offline_failover_uplink_shows_why() -> None:
    status = copy.deepcopy(HEALTHY)
    primary = status["checks"]["failover"]["wan"]["uplinks"]["primary"]
    primary.update(state="offline", reason="loss 45% >= 40% over 10 rounds")
    assert text(render(status), "failover")[1][2] == (
        "primary: offline (loss 45% >= 40% over 10 rounds) via 192.0.2.1 (eth0), "
        "standby: online via 192.0.2.1 (eth0)")
