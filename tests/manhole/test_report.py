"""The manhole's snapshot: its JSON both ways, its problem, metrics and page section."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import attrs

from netsentinel.manhole.report import ManholeStatus
from netsentinel.metrics import render
from netsentinel.page import PageView
from netsentinel.snapshot import from_json
from tests.lab import samples
from tests.pagekit import flat

STATUS = ManholeStatus(ssh="127.0.0.1:2222", socket=None, host_key="SHA256:x",
                       authorized_keys=1, sessions=2, error=None)


def rows(status: ManholeStatus) -> tuple[ET.Element, dict[str, str]]:
    root = flat(status.section(PageView(0.0)))
    table = root.find(".//table[@id='manhole']")
    assert table is not None
    return root, {tr[0].text or "": "".join(tr[1].itertext()) for tr in table.iter("tr")}


def test_json_round_trip_keeps_the_status_shape() -> None:
    data = STATUS.to_json()
    assert data == {"ssh": "127.0.0.1:2222", "socket": None, "host_key": "SHA256:x",
                    "authorized_keys": 1, "sessions": 2, "error": None}
    assert from_json(ManholeStatus, data) == STATUS


def test_problem_is_the_listener_error() -> None:
    assert STATUS.problems() == []
    broken = attrs.evolve(STATUS, error="Address already in use")
    assert broken.problems() == ["manhole: Address already in use"]


def test_metrics() -> None:
    m = samples(render(STATUS.metrics()))
    assert m == {"netsentinel_manhole_sessions": 2, "netsentinel_manhole_error": 0}
    m = samples(render(attrs.evolve(STATUS, error="x").metrics()))
    assert m["netsentinel_manhole_error"] == 1


def test_section_shows_listeners_and_marks_the_error() -> None:
    root, table = rows(STATUS)
    assert [h.text for h in root.iter("h2")] == ["manhole"]
    assert table == {"ssh": "127.0.0.1:2222", "socket": "—", "sessions": "2", "error": "—"}
    root, table = rows(attrs.evolve(STATUS, ssh=None, socket="/run/m.sock", error="denied"))
    assert table["ssh"] == "not listening" and table["socket"] == "/run/m.sock"
    bad = [td for td in root.iter("td") if td.get("class") == "bad"]
    assert [td.text for td in bad] == ["denied"]
