"""The status page of the real daemon in a namespace: real addresses in nft sets, a real
forwarded connection, a real ping check, fetched over real HTTP and compared with the
control socket's ``status``."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel import __version__
from netsentinel.control.statuspage import size
from tests.forward.test_daemon import dial, echo
from tests.lab import Lab, wait_for
from tests.test_metrics_daemon import BACKEND, FRONT, Router

CTL = str(Path(sys.executable).with_name("netsentinel-ctl"))
# the config file's own path is shown on the page, and a directory name may hold markup
HOSTILE = '<img src=x onerror="alert(1)">&amp;'

def start(lab: Lab, directory: Path, page: bool) -> Router:
    directory.mkdir()
    r = Router(lab, directory)
    r.daemon.write_config(r.config("127.0.0.1:9380", status_page=page, ping_interval=60))
    r.daemon.start()
    wait_for(lambda: r.daemon.status()["checks"]["ping"]["self"]["last"], what="first ping")
    return r


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    yield start(lab, tmp_path / HOSTILE, page=True)


def page(r: Router, query: str = "") -> ET.Element:
    status, content_type, body = r.http("/" + query)
    assert status == 200, body
    assert content_type == "text/html; charset=utf-8"
    assert body.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(body.partition("\n")[2])


def pairs(root: ET.Element, table_id: str) -> dict[str, str]:
    """A two-column table as label → text."""
    table = root.find(f".//table[@id='{table_id}']")
    assert table is not None, f"no table {table_id}"
    return {"".join(tr[0].itertext()): "".join(tr[1].itertext()) for tr in table.iter("tr")}


def rows(root: ET.Element, table_id: str) -> list[list[str]]:
    table = root.find(f".//table[@id='{table_id}']")
    assert table is not None, f"no table {table_id}"
    return [["".join(td.itertext()) for td in tr] for tr in table.iter("tr")][1:]


def test_page_figures_match_status(router: Router) -> None:
    kept = dial(router.ns, FRONT)
    assert echo(kept, b"x" * 1000) == b"x" * 1000
    router.refuse_a_blacklisted_client()
    root = page(router)
    status = router.daemon.status()
    svc = status["forward"]["echo"]
    shown = pairs(root, "forward-echo")
    assert shown["state"] == "running"
    assert shown["listen → backend"] == f"127.0.0.1:{FRONT} → 127.0.0.1:{BACKEND}"
    assert shown["open connections"] == str(svc["connections"]) == "1"
    assert shown["client IPs"] == str(svc["ip_count"]) == "1"
    assert shown["total / closed"] == "1 / 0"
    assert shown["bytes up"] == size(svc["up"]) == "1000 B"
    assert shown["bytes down"] == size(svc["down"]) == "1000 B"
    assert shown["rejected"] == "blacklist 1"
    assert shown["blacklist"] == "127.0.0.2/32"
    [conn] = rows(root, "forward-echo-open")
    assert conn[1] == f"127.0.0.1:{kept.getsockname()[1]}" and conn[3:5] == ["1000 B"] * 2
    sets = {row[0]: row for row in rows(root, "addresses-sets")}
    assert sets["wan_ips"][1:3] == ["10.1.0.1 10.1.0.2", "2"]
    assert sets["wan_ipv6"][1:3] == ["fd00:1::1", "1"]
    [ping] = rows(root, "ping")
    window = status["checks"]["ping"]["self"]["window"]
    assert ping[:2] == ["self", "10.1.0.2"] and ping[4] == "0.0%" and ping[6] == "no"
    assert ping[3] == f"{window['avg_rtt']:.3f} ms"
    daemon = pairs(root, "daemon")
    assert daemon["version"] == __version__ and daemon["ready"] == "yes"
    assert root.find(".//*[@id='problems']") is None        # nothing is wrong
    assert root.find(".//*[@id='traffic']") is None         # not configured: no section
    kept.close()


def test_hostile_path_is_escaped(router: Router) -> None:
    _, _, body = router.http("/")
    assert "<img" not in body
    assert "&lt;img src=x onerror=\"alert(1)\"&gt;&amp;amp;" in body
    root = ET.fromstring(body.partition("\n")[2])
    assert pairs(root, "daemon")["config"] == router.daemon.status()["config"]
    assert HOSTILE in pairs(root, "daemon")["config"]


def test_status_json_is_what_ctl_status_json_prints(router: Router) -> None:
    def without_clock(text: str) -> dict[str, object]:
        state = json.loads(text)
        del state["uptime"]
        del state["forward"]["echo"]["uptime"]
        return state  # type: ignore[no-any-return]
    code, content_type, body = router.http("/status.json")
    assert code == 200 and content_type == "application/json"
    printed = router.lab.run(router.ns, CTL, "--socket", router.daemon.socket, "status",
                             "--json").stdout.decode()
    assert without_clock(body) == without_clock(printed)
    assert without_clock(body) == without_clock(router.daemon.ctl("status"))
    # the same text, not only the same data: indent 2, sorted keys
    assert [line for line in body.splitlines() if '"uptime"' not in line] == \
        [line for line in printed.splitlines() if '"uptime"' not in line]


def test_refresh_is_five_seconds_unless_asked(router: Router) -> None:
    def refresh(query: str) -> str | None:
        meta = page(router, query).find(".//meta[@http-equiv='refresh']")
        return None if meta is None else meta.get("content")
    assert refresh("") == "5"
    assert refresh("?refresh=30") == "30"
    assert refresh("?refresh=0") is None
    assert refresh("?refresh=999999") == "3600"
    code, _, body = router.http("/?refresh=soon")
    assert code == 400 and "refresh" in body


def test_off_by_default_and_reload_toggles_without_rebinding(lab: Lab, tmp_path: Path) -> None:
    r = start(lab, tmp_path / "d", page=False)
    for path in ("/", "/status.json"):
        assert r.http(path)[0] == 404
    assert r.http("/metrics")[0] == 200
    r.daemon.write_config(r.config("127.0.0.1:9380", status_page=True, ping_interval=60))
    assert r.daemon.ctl("reload") == "OK: reloaded (changed: control.status_page)"
    assert r.http("/")[0] == 200 and r.http("/status.json")[0] == 200
    r.daemon.write_config(r.config("127.0.0.1:9380", ping_interval=60))
    assert r.daemon.ctl("reload") == "OK: reloaded (changed: control.status_page)"
    assert r.http("/")[0] == 404 and r.http("/metrics")[0] == 200
    assert r.daemon.output().count("metrics: serving http://") == 1    # bound once

