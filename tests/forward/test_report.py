"""The forward snapshot: its JSON both ways, its problems, metrics and page section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from netsentinel.forward.report import OPEN_ROWS, ForwardStatus
from netsentinel.forward.status import BackendAddress, BlacklistSet, ServiceStatus
from netsentinel.metrics import render
from netsentinel.page import PageView
from netsentinel.snapshot import from_json
from tests.lab import samples
from tests.pagekit import flat as page
from tests.pagekit import rows

NOW = 1_800_000_000.0
REJECTED = {"blacklist": 3, "conn_limit": 0, "ip_limit": 1, "per_ip_limit": 0,
            "per_ip_rate": 0, "fd_limit": 0}
WEB = ServiceStatus(
    sid="web", uptime=100, ips="10.9.9.8,10.9.9.9", connections=2, accessed=int(NOW - 20),
    up=13, down=16, state="running", listen="0.0.0.0:80", backend="backend.lan:8080",
    ip_count=2, boot_at="2027-01-15 08:00:00", accessed_at=NOW - 20.5, total_connections=7,
    closed_connections=5, rejected=REJECTED, backend_failures=2, closes={"idle": 4, "done": 1},
    blacklist=("10.1.2.3/32", "2001:db8::/32"),
    blacklist_set=BlacklistSet("inet filter bl", "bl6", 3, "table filter does not exist"),
    backend_address=BackendAddress("10.0.0.7", None), conn_limit=4687)
SSH = ServiceStatus(
    sid="ssh", uptime=100, ips="", connections=0, accessed=int(NOW - 100), up=0, down=0,
    state="stopped", listen="[::]:22", backend="sshd.lan:22", ip_count=0,
    boot_at="2027-01-15 08:00:00", accessed_at=None, total_connections=0,
    closed_connections=0, rejected=dict.fromkeys(REJECTED, 0), backend_failures=0, closes={},
    blacklist=(), backend_address=BackendAddress(None, "cannot resolve sshd.lan: timeout"),
    conn_limit=100)
STATUS = ForwardStatus({"web": WEB, "ssh": SSH})
CONN = {"id": 1, "client": "192.0.2.9", "port": 4000, "started": NOW - 2, "duration": 2.0,
        "up": 1, "down": 2, "last_activity": NOW, "idle": 0.0, "half_closed": False}


def shape(value: Any) -> Any:
    """The fixture's notation: a value's JSON type, dicts and lists kept."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def test_json_round_trip_keeps_the_status_shape() -> None:
    data = STATUS.to_json()
    assert ForwardStatus.from_json(data) == STATUS
    assert from_json(ServiceStatus, data["web"]) == WEB
    assert list(data) == ["web", "ssh"]
    assert data["web"]["blacklist"] == ["10.1.2.3/32", "2001:db8::/32"]
    assert data["web"]["blacklist_set"] == {"set": "inet filter bl", "set6": "bl6",
                                            "synced": 3,
                                            "error": "table filter does not exist"}
    assert "blacklist_set" not in data["ssh"]       # only when configured
    assert data["ssh"]["backend_address"] == {"address": None,
                                              "error": "cannot resolve sshd.lan: timeout"}
    json.dumps(data)


def test_json_has_the_keys_and_types_the_daemon_printed() -> None:
    fixture = json.loads(Path("tests/fixtures/status_shape.json").read_text())["forward"]["echo"]
    assert shape(attrs.evolve(WEB, blacklist_set=None, closes={}).to_json()) == fixture


def test_problems_name_backend_failures_lookups_and_the_set() -> None:
    assert STATUS.problems() == [
        "forward web: 2 backend failure(s)",
        "forward web: blacklist set: table filter does not exist",
        "forward ssh: backend sshd.lan:22: cannot resolve sshd.lan: timeout",
    ]
    healthy = attrs.evolve(WEB, backend_failures=0, blacklist_set=None)
    assert ForwardStatus({"web": healthy}).problems() == []
    assert ForwardStatus({}).problems() == []


def test_metrics_per_service() -> None:
    families = STATUS.metrics()
    assert [f.name for f in families] == [
        "netsentinel_forward_up", "netsentinel_forward_open_connections",
        "netsentinel_forward_client_ips", "netsentinel_forward_accepted_total",
        "netsentinel_forward_closed_total", "netsentinel_forward_rejected_total",
        "netsentinel_forward_backend_failures_total", "netsentinel_forward_bytes_total",
        "netsentinel_forward_blacklist_entries"]
    m = samples(render(families))
    assert m['netsentinel_forward_up{service="web"}'] == 1
    assert m['netsentinel_forward_up{service="ssh"}'] == 0
    assert m['netsentinel_forward_open_connections{service="web"}'] == 2
    assert m['netsentinel_forward_accepted_total{service="web"}'] == 7
    assert m['netsentinel_forward_closed_total{service="web",reason="idle"}'] == 4
    assert m['netsentinel_forward_rejected_total{service="web",reason="ip_limit"}'] == 1
    assert m['netsentinel_forward_backend_failures_total{service="web"}'] == 2
    assert m['netsentinel_forward_bytes_total{service="web",direction="down"}'] == 16
    assert m['netsentinel_forward_blacklist_entries{service="web"}'] == 2
    assert families[0].samples == ((("web",), 1), (("ssh",), 0))     # config order


def test_section_lists_services_by_name_with_bad_rows_marked() -> None:
    root = page(STATUS.section(PageView(NOW, {"web": [CONN]})))
    assert [h.text for h in root.iter("h3")] == ["ssh", "web"]
    web = dict((r[0], r[1]) for r in rows(root, "forward-web"))
    assert web["listen → backend"] == "0.0.0.0:80 → backend.lan:8080 (10.0.0.7)"
    assert web["blacklist"] == "10.1.2.3/32 2001:db8::/32"
    assert web["blacklist set"] == "inet filter bl (table filter does not exist)"
    assert web["last access"] == "20.5s ago"
    ssh = dict((r[0], r[1]) for r in rows(root, "forward-ssh"))
    assert ssh["listen → backend"] == "[::]:22 → sshd.lan:22 (cannot resolve sshd.lan: timeout)"
    assert ssh["blacklist"] == "(empty)" and "blacklist set" not in ssh
    table = root.find(".//table[@id='forward-ssh']")
    assert table is not None
    bad = [tr.find("th").text for tr in table.iter("tr")     # type: ignore[union-attr]
           if tr.find("td[@class='bad']") is not None]
    assert bad == ["state", "listen → backend"]
    assert rows(root, "forward-web-open")[1] == ["1", "192.0.2.9:4000", "2.0s", "1 B", "2 B",
                                                 "0.0s", "no"]
    assert root.find(".//table[@id='forward-ssh-open']") is None


def test_open_connections_are_listed_up_to_a_bound() -> None:
    root = page(STATUS.section(PageView(NOW, {"web": [CONN] * (OPEN_ROWS + 3)})))
    assert len(rows(root, "forward-web-open")) == 1 + OPEN_ROWS
    assert [p.text for p in root.iter("p")] == [
        "… and 3 more: netsentinel-ctl forward stats web"]
