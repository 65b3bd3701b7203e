"""The traffic snapshot: its JSON both ways, its problems, metrics and page section."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from twisted.web.template import Tag, flattenString

from netsentinel.metrics import render
from netsentinel.page import PageView
from netsentinel.snapshot import from_json
from netsentinel.traffic.report import SourceStatus, TrafficStatus, TriggerStatus
from tests.lab import samples
from tests.pagekit import flat
from tests.pagekit import rows as table_rows

NOW = 1_800_000_000.0
STATUS = TrafficStatus({
    "vpn": TriggerStatus("active", 300.0, 12.5, 2, 1, ("/bin/vpn", "--up"), (
        SourceStatus("nflog:5", None, "listening", None, 7),
        SourceStatus("tun0", "tcp", "waiting", "No such device", 0))),
    "web": TriggerStatus("standby", 60.0, None, 0, 0, ("/bin/web",)),
})


def rows(section: Tag | str, table_id: str) -> list[list[str]]:
    return table_rows(flat(section), table_id)


def test_json_round_trip_keeps_the_status_shape() -> None:
    data = STATUS.to_json()
    assert from_json(TrafficStatus, data) == STATUS
    vpn = data["triggers"]["vpn"]
    assert list(vpn) == ["state", "idle", "idle_for", "activations", "failures", "command",
                         "sources"]
    assert vpn["command"] == ["/bin/vpn", "--up"]
    assert vpn["sources"][1] == {"device": "tun0", "filter": "tcp", "state": "waiting",
                                 "error": "No such device", "packets": 0}
    assert data["triggers"]["web"]["idle_for"] is None


def test_problems_name_failures_then_broken_sources() -> None:
    assert STATUS.problems() == ["trigger vpn: 1 command failure(s)",
                                 "trigger vpn: tun0: No such device"]
    assert TrafficStatus({}).problems() == []


def test_metrics_per_trigger() -> None:
    m = samples(render(STATUS.metrics()))
    assert m['netsentinel_traffic_trigger_state{trigger="vpn",state="active"}'] == 1
    assert m['netsentinel_traffic_trigger_state{trigger="web",state="standby"}'] == 1
    assert m['netsentinel_traffic_activations_total{trigger="vpn"}'] == 2
    assert m['netsentinel_traffic_command_failures_total{trigger="vpn"}'] == 1
    assert m['netsentinel_traffic_packets_total{trigger="vpn"}'] == 7
    assert [f.name for f in STATUS.metrics()[:4]] == [
        "netsentinel_traffic_trigger_state", "netsentinel_traffic_activations_total",
        "netsentinel_traffic_command_failures_total", "netsentinel_traffic_packets_total"]


def test_section_lists_triggers_and_marks_failures() -> None:
    section = STATUS.section(PageView(NOW))
    table = rows(section, "traffic")
    assert table[0] == ["trigger", "state", "idle for", "idle after", "activations",
                        "failures", "sources"]
    assert table[1] == ["vpn", "active", "12.5s", "5m 0s", "2", "1",
                        "nflog:5 listening, 7 packets; tun0 waiting, 0 packets (No such device)"]
    assert table[2][:3] == ["web", "standby", "—"]
    done: list[bytes] = []
    flattenString(None, section).addCallback(done.append)
    body = ET.fromstring(done[0]).findall(".//tbody/tr")
    assert [tr.get("class") for tr in body] == ["bad", None]
