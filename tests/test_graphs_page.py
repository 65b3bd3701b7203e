"""The graphs of the real daemon in a namespace, seen by headless Chromium on a phone-sized
window: a ping check to a peer namespace and an address set, sampled every second, and
the plotted points read back through each chart's declared scale and compared with what
``status`` reports."""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.forward.test_daemon import inside
from tests.lab import Daemon, Lab, require, wait_for
from tests.test_graphs import chart, values

PORT = 9381
CONFIG = """
control:
  metrics: "127.0.0.1:{port}"
  status_page: true
  history: 60
  history_every: 1
addresses:
  delay: 0.05
  nftables: {{table: inet filter, create: true}}
  interfaces:
    {wan}: {{zone: wan}}
checks:
  ping:
    peer: {{target: 10.9.0.2, interval: 60, count: 1, wait: 1, log: false}}
"""
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars"]
PNG = b"\x89PNG\r\n\x1a\n"


class Router:
    """A router namespace with a veth to a peer namespace, and the daemon in the router."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.ns, peer = lab.netns("g"), lab.netns("q")
        wan, there = lab.ifname("wan"), lab.ifname("pq")
        lab.veth(self.ns, wan, peer, there)
        lab.run(self.ns, "ip", "addr", "add", "10.9.0.1/24", "dev", wan)
        lab.run(peer, "ip", "addr", "add", "10.9.0.2/24", "dev", there)
        self.daemon = Daemon(lab, self.ns, tmp_path, CONFIG.format(port=PORT, wan=wan))

    def page(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        with inside(self.ns):
            conn.connect()
        try:
            conn.request("GET", "/?refresh=0")
            response = conn.getresponse()
            assert response.status == 200
            return response.read().decode()
        finally:
            conn.close()


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    r = Router(lab, tmp_path)
    r.daemon.start()
    wait_for(lambda: r.daemon.status()["checks"]["ping"]["peer"]["last"], what="first ping")
    yield r


def sampled(router: Router, title: str, points: int) -> ET.Element | None:
    """The page once ``title``'s chart has a line of at least ``points`` points."""
    root = ET.fromstring(router.page().partition("\n")[2])
    for svg in root.iter("svg"):
        if svg.get("data-title") == title:
            lines = list(svg.iter("polyline"))
            if lines and len(lines[-1].get("points", "").split()) >= points:
                return root
    return None


def test_plotted_points_match_status(router: Router) -> None:
    root = wait_for(lambda: sampled(router, "ping peer → 10.9.0.2", 3), timeout=30,
                    what="three samples of the ping")
    status = router.daemon.status()
    rtt = status["checks"]["ping"]["peer"]["last"]["avg_rtt"]   # ms; the next check is 60 s away
    svg = chart(root, "ping peer → 10.9.0.2")
    assert svg.get("data-unit") == "ms"
    tolerance = float(svg.get("data-ymax", "")) / 1000        # 2-decimal pixels of a 94 px plot
    line = list(svg.iter("polyline"))[-1]
    assert [v for _, v in values(svg, line)] == pytest.approx(
        [rtt] * len(line.get("points", "").split()), abs=tolerance)
    assert [r.get("data-loss") for r in svg.iter("rect")][-1] == "0.0"   # no loss: green
    sets = chart(root, "set elements")
    [elements] = [p for p in sets.iter("polyline") if p.get("data-series") == "addresses wan_ips"]
    shown = status["addresses"]["sets"]["wan_ips"]["elements"]
    assert values(sets, elements)[-1][1] == pytest.approx(len(shown), abs=0.01)


def test_phone_screenshot_in_headless_chromium(router: Router, tmp_path: Path) -> None:
    require("chromium")
    wait_for(lambda: sampled(router, "ping peer → 10.9.0.2", 2), timeout=30, what="samples")
    html = router.page()
    assert "<svg" in html and "<script" not in html
    shot = tmp_path / "phone.png"
    result = router.lab.run(router.ns, *CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}",
                            f"--screenshot={shot}", "--window-size=412,2000",
                            f"http://127.0.0.1:{PORT}/?refresh=0", check=False)
    assert shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    png = shot.read_bytes()
    assert png.startswith(PNG) and len(png) > 1000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (412, 2000)
