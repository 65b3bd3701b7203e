"""The graphs drawn from known samples: points where the scale says, bands, states, escaping."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from twisted.web.template import Tag, flattenString

from netsentinel import graphs
from netsentinel import history as h
from netsentinel.control.statuspage import StatusPage
from netsentinel.graphs import BOTTOM, LEFT, RIGHT, TOP, Frame, W, top_of
from netsentinel.history import History, Sampler
from netsentinel.metrics import Family, counter, gauge
from tests.test_history import FakeDaemon
from tests.test_status_page_render import HEALTHY, NOW, read_status

RTT = gauge(h.PING_RTT, "", "name", "target")
LOSS = gauge(h.PING_LOSS, "", "name", "target")
UP = gauge(h.UPLINK_UP, "", "name", "uplink")
ACTIVE = gauge(h.UPLINK_ACTIVE, "", "name", "uplink")
BYTES = counter(h.FORWARD_BYTES, "", "service", "direction")
OPEN = gauge(h.FORWARD_OPEN, "", "service")
ELEMENTS = gauge("netsentinel_addresses_set_elements", "", "set")


def flat(tag: Tag | str | list[Tag]) -> ET.Element:
    out: list[bytes] = []
    flattenString(None, tags_div(tag)).addCallback(out.append)
    return ET.fromstring(out[0])


def tags_div(tag: Any) -> Tag:
    return Tag("div", children=[tag])


def values(svg: ET.Element, polyline: ET.Element) -> list[tuple[float, float]]:
    """(time, value) of each point, read back through the scale the chart declares."""
    t0, t1 = float(svg.get("data-t0", "")), float(svg.get("data-t1", ""))
    left, right = float(svg.get("data-left", "")), float(svg.get("data-right", ""))
    top, bottom = float(svg.get("data-top", "")), float(svg.get("data-bottom", ""))
    ymin, ymax = float(svg.get("data-ymin", "")), float(svg.get("data-ymax", ""))
    found = []
    for pair in polyline.get("points", "").split():
        x, y = (float(c) for c in pair.split(","))
        found.append((t0 + (x - left) / (right - left) * (t1 - t0),
                      ymin + (bottom - y) / (bottom - top) * (ymax - ymin)))
    return found


def record(history: History, t: float, *families: Family) -> None:
    history.record(t, list(families))


def chart(root: ET.Element, title: str) -> ET.Element:
    found = [s for s in root.iter("svg") if s.get("data-title") == title]
    assert found, [s.get("data-title") for s in root.iter("svg")]
    return found[0]


def test_top_of_axis_is_one_two_or_five_times_a_power_of_ten() -> None:
    assert top_of([0.3, 0.7]) == 1.0 and top_of([1.2]) == 2.0 and top_of([3.0]) == 5.0
    assert top_of([12.5]) == 20.0 and top_of([0.0]) == 1.0 and top_of([math.nan]) == 1.0
    assert top_of([5.0]) == 5.0 and top_of([0.0042]) == pytest.approx(0.005)


def test_ping_points_are_the_sampled_rtts_in_ms() -> None:
    history = History(points=13)
    rtts = [0.010, 0.012, 0.030, 0.011]
    for i, rtt in enumerate(rtts):
        record(history, 1000.0 + 10 * i, RTT.of(rtt, "gw", "10.0.0.1"), LOSS.of(0, "gw", "10.0.0.1"))
    root = flat(graphs.charts(history, now=1030.0, span=120, step=10))
    svg = chart(root, "ping gw → 10.0.0.1")
    assert svg.get("data-unit") == "ms" and svg.get("data-ymax") == "50.0"
    [line] = svg.iter("polyline")
    read = values(svg, line)
    assert [t for t, _ in read] == pytest.approx([1000.0, 1010.0, 1020.0, 1030.0], abs=0.01)
    assert [v for _, v in read] == pytest.approx([r * 1000 for r in rtts], abs=0.01)
    x_last, y_last = (float(c) for c in line.get("points", "").split()[-1].split(","))
    assert x_last == W - RIGHT and y_last == pytest.approx(BOTTOM - 11 / 50 * (BOTTOM - TOP))
    assert line.findtext("title") == "rtt: last 11 ms"


def test_loss_band_merges_equal_samples_and_colours_by_loss() -> None:
    history = History(points=10)
    for i, loss in enumerate((0.0, 0.0, 0.5, 0.5, 0.0)):
        record(history, 100.0 + i, RTT.of(0.001, "gw", "t"), LOSS.of(loss, "gw", "t"))
    svg = chart(flat(graphs.charts(history, now=104.0, span=60, step=1)), "ping gw → t")
    bands = [(r.get("data-loss"), r.get("fill"), r.findtext("title")) for r in svg.iter("rect")]
    assert bands == [("0.0", "#3a3", "loss 0.0%"), ("0.5", "#c00", "loss 50.0%"),
                     ("0.0", "#3a3", "loss 0.0%")]


def test_gap_splits_the_line_and_a_lone_point_is_a_dot() -> None:
    history = History(points=10)
    record(history, 1.0, OPEN.of(1, "web"))
    record(history, 2.0, OPEN.of(2, "web"))
    record(history, 3.0, OPEN, RTT.of(0.001, "x", "y"))   # keeps the time going: a gap
    record(history, 4.0, OPEN.of(3, "web"))
    svg = chart(flat(graphs.charts(history, now=4.0, span=60, step=1)),
                "forward: open connections")
    [line] = svg.iter("polyline")
    assert [v for _, v in values(svg, line)] == pytest.approx([1.0, 2.0], abs=0.01)
    [dot] = svg.iter("circle")
    assert dot.findtext("title") == "web: last 3"


def test_throughput_is_the_rate_of_the_byte_counters() -> None:
    history = History(points=10)
    for i, (up, down) in enumerate(((0, 0), (10240, 2048), (30720, 2048))):
        record(history, 10.0 * i, BYTES.with_samples([(("web", "up"), up), (("web", "down"), down)]))
    svg = chart(flat(graphs.charts(history, now=20.0, span=60, step=10)), "forward web: throughput")
    lines = {p.get("data-series"): values(svg, p) for p in svg.iter("polyline")}
    assert [v for _, v in lines["up"]] == pytest.approx([1024.0, 2048.0], abs=1)
    assert [v for _, v in lines["down"]] == pytest.approx([204.8, 0.0], abs=1)
    assert svg.get("data-unit") == "B/s"


def test_uplink_strips_show_active_up_and_down() -> None:
    history = History(points=10)
    for i, (up1, act1, up2) in enumerate(((1, 1, 1), (1, 1, 0), (0, 0, 1))):
        record(history, float(i), UP.with_samples([(("wan", "a"), up1), (("wan", "b"), up2)]),
               ACTIVE.with_samples([(("wan", "a"), act1), (("wan", "b"), 1 - act1)]))
    svg = chart(flat(graphs.charts(history, now=2.0, span=60, step=1)), "failover wan: uplinks")
    states = [(r.findtext("title"), r.get("data-state")) for r in svg.iter("rect")]
    assert states == [("a: active", "active"), ("a: down", "down"), ("b: up", "up"),
                      ("b: down", "down"), ("b: active", "active")]


def test_old_points_fall_off_the_left_edge() -> None:
    history = History(points=10)
    for t in (0.0, 50.0, 100.0):
        record(history, t, ELEMENTS.of(t / 10, "wan_ips"))
    svg = chart(flat(graphs.charts(history, now=100.0, span=60, step=50)), "set elements")
    [line] = svg.iter("polyline")
    assert [round(t) for t, _ in values(svg, line)] == [50, 100]
    assert float(line.get("points", "").split()[0].split(",")[0]) >= LEFT


def test_labels_are_escaped() -> None:
    history = History(points=4)
    record(history, 1.0, OPEN.of(1, "<script>x</script>"))
    record(history, 2.0, OPEN.of(1, "<script>x</script>"))
    out: list[bytes] = []
    flattenString(None, tags_div(graphs.charts(history, now=2.0, span=60, step=1))).addCallback(
        out.append)
    assert b"<script>" not in out[0] and b"&lt;script&gt;" in out[0]


def test_frame_maps_its_ends_to_the_plot_edges() -> None:
    frame = Frame(100.0, 160.0)
    assert frame.x(100.0) == LEFT and frame.x(160.0) == W - RIGHT


def test_status_page_shows_the_graphs_below_the_problems() -> None:
    daemon = FakeDaemon(history=60, every=10)
    sampler = Sampler(daemon)
    sampler.startService()
    for rtt in (0.001, 0.002):
        daemon.rtt = rtt
        daemon.reactor.advance(10)
    broken = {**HEALTHY, "ready": False}
    done: list[bytes] = []
    flattenString(None, StatusPage(read_status(broken), {}, 5, now=NOW,
                                   sampler=sampler)).addCallback(done.append)
    body = ET.fromstring(done[0]).find("body")
    assert body is not None
    ids = [child.get("id") for child in body if child.get("id")]
    assert ids[:2] == ["problems", "graphs"]
    assert chart(body, "ping gw → 10.0.0.1").get("data-unit") == "ms"
    sampler.stopService()


def test_graphs_section_is_absent_while_off_and_says_when_empty() -> None:
    assert graphs.section(None, 0.0) == ""
    idle = Sampler(FakeDaemon(page=False))
    idle.startService()
    assert graphs.section(idle, 0.0) == ""
    fresh = Sampler(FakeDaemon())
    fresh.startService()
    assert flat(graphs.section(fresh, 0.0)).findtext(".//p") == "no samples yet"
