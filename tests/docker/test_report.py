"""The container monitor's snapshot: its JSON both ways, problems, metrics and page section."""

from __future__ import annotations

import attrs

from netsentinel.docker.containers import Container
from netsentinel.docker.report import ContainerStatus, DockerStatus
from netsentinel.metrics import render
from netsentinel.nft.sets import SetStatus
from netsentinel.page import PageView
from netsentinel.snapshot import from_json
from tests.lab import samples
from tests.pagekit import flat, rows

NOW = 1_800_000_000.0
HOSTILE = "<script>alert('x')</script>&"
STATUS = DockerStatus(
    socket="/run/docker.sock", connected=True, error=None, connects=1, events=2,
    listed_at=NOW - 1,
    containers={HOSTILE: ContainerStatus("0123456789ab", {"a": "b"},
                                         {"bridge": ("172.17.0.2", "fd00::2"), "none": ()})},
    sets={"web_ips": SetStatus(("172.17.0.2",), NOW - 3, None),
          "web_ipv6": SetStatus((), None, "No such file or directory")},
    syncs=1, last_sync=NOW - 1, transactions=1, pending=False)


def test_json_round_trip_keeps_the_status_shape() -> None:
    data = STATUS.to_json()
    assert from_json(DockerStatus, data) == STATUS
    assert list(data) == ["socket", "connected", "error", "connects", "events", "listed_at",
                          "containers", "sets", "syncs", "last_sync", "transactions",
                          "pending"]
    assert data["containers"][HOSTILE] == {"id": "0123456789ab", "labels": {"a": "b"},
                                           "networks": {"bridge": ["172.17.0.2", "fd00::2"],
                                                        "none": []}}
    assert data["sets"]["web_ips"] == {"elements": ["172.17.0.2"], "synced_at": NOW - 3,
                                       "error": None, "repairs": 0}


def test_container_status_is_the_listing_short() -> None:
    container = Container("0123456789abcdef", "web", (("a", "b"),),
                          (("bridge", ("172.17.0.2",)),))
    assert container.status() == ContainerStatus("0123456789ab", {"a": "b"},
                                                  {"bridge": ("172.17.0.2",)})


def test_problems_sets_first_then_the_connection() -> None:
    assert STATUS.problems() == ["docker: set web_ipv6 not synced: No such file or directory"]
    down = attrs.evolve(STATUS, connected=False, error="Connection refused")
    assert down.problems() == [
        "docker: set web_ipv6 not synced: No such file or directory",
        "docker: not connected to /run/docker.sock: Connection refused"]


def test_metrics() -> None:
    families = STATUS.metrics()
    assert [f.name for f in families] == [
        "netsentinel_docker_connected", "netsentinel_docker_connects_total",
        "netsentinel_docker_events_total", "netsentinel_docker_containers",
        "netsentinel_docker_set_elements", "netsentinel_docker_set_error",
        "netsentinel_docker_syncs_total", "netsentinel_docker_nft_transactions_total"]
    m = samples(render(families))
    assert m["netsentinel_docker_connected"] == 1
    assert m["netsentinel_docker_containers"] == 1
    assert m['netsentinel_docker_set_elements{set="web_ips"}'] == 1
    assert m['netsentinel_docker_set_error{set="web_ipv6"}'] == 1
    assert m['netsentinel_docker_set_error{set="web_ips"}'] == 0


def test_section_escapes_names_and_marks_bad_rows() -> None:
    root = flat(STATUS.section(PageView(NOW)))
    assert [h.text for h in root.iter("h2")] == ["docker"]
    assert dict(r for r in rows(root, "docker") if len(r) == 2)["last sync"] == "1.0s ago"
    assert rows(root, "docker-containers")[1] == [HOSTILE, "0123456789ab",
                                                  "bridge: 172.17.0.2 fd00::2; none: "]
    sets = rows(root, "docker-sets")
    assert sets[1][:3] == ["web_ips", "172.17.0.2", "1"]
    assert sets[2][:3] == ["web_ipv6", "(empty)", "0"]
    marks = root.findall(".//table[@id='docker-sets']/tbody/tr")
    assert [tr.get("class") for tr in marks] == [None, "bad"]
    down = flat(attrs.evolve(STATUS, connected=False, sets={}).section(PageView(NOW)))
    assert down.find(".//table[@id='docker-sets']") is None
    bad = [td for td in down.iter("td") if td.get("class") == "bad"]
    assert [td.text for td in bad] == ["no"]
