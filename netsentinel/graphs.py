"""The status page's graphs: small SVG charts drawn on the server from the sampler's rings.

Pure: a :class:`~netsentinel.history.History` and a clock in, twisted.web.template
tags out (every label escaped by the flattener; no script, so the page's CSP holds).
Each ``<svg>`` carries its scale as data attributes (``data-t0``/``data-t1`` at
``data-left``/``data-right``, ``data-ymin``/``data-ymax`` at ``data-bottom``/
``data-top``, values in ``data-unit``), so a reader can turn a polyline's points back
into the values that were sampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
from twisted.web.template import Tag, tags

from netsentinel import history as h
from netsentinel.history import History, Point, Sampler, Series

W, LEFT, RIGHT = 400, 58, 6
TOP, BOTTOM, BAND = 6, 100, 8   # the plot, then a strip (ping loss) under it
ROW = 16                        # one uplink's strip in a state chart
COLORS = ("#1f6fb4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
          "#e377c2")
LOSS_COLORS = ((0.0, "#3a3"), (0.05, "#cb2"), (0.2, "#e80"), (math.inf, "#c00"))
FONT = {"font-size": "10", "font-family": "system-ui,sans-serif", "fill": "#555"}


def svg(name: str, *children: Tag | str, **attributes: str) -> Tag:
    """An SVG element (``tags`` knows only HTML's names); values are escaped as any."""
    return Tag(name, attributes={k.replace("_", "-"): v for k, v in attributes.items()},
               children=list(children))


@attrs.frozen
class Unit:
    """How a series' values are shown: scaled by ``factor``, then written by ``text``."""

    name: str
    factor: float
    text: Callable[[float], str]


def _short(v: float) -> str:
    """At most three significant digits, and never an exponent (an axis label is short)."""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) >= 0.001 or not v \
        else f"{v:.6f}".rstrip("0")


def _rate(v: float) -> str:
    for unit in ("B/s", "KiB/s", "MiB/s", "GiB/s"):
        if abs(v) < 1024 or unit == "GiB/s":
            return f"{_short(v)} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


MS = Unit("ms", 1000.0, lambda v: f"{_short(v)} ms")
RATE = Unit("B/s", 1.0, _rate)
COUNT = Unit("count", 1.0, _short)
SHARE = Unit("%", 100.0, lambda v: f"{v:.0f}%")


@attrs.frozen
class Line:
    label: str
    points: tuple[Point, ...]       # values already in the unit (factor applied)


@attrs.frozen
class Frame:
    """The time axis: a chart spans ``t0``..``t1`` (the last ``history`` seconds)."""

    t0: float
    t1: float

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (W - LEFT - RIGHT)


def top_of(values: Iterable[float]) -> float:
    """The y axis' top: 1, 2 or 5 times a power of ten, at or above every value."""
    peak = max((v for v in values if not math.isnan(v)), default=0.0)
    if peak <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(peak))
    return next(power * m for m in (1, 2, 5, 10) if peak <= power * m * (1 + 1e-9))


def y_of(value: float, ymax: float) -> float:
    return BOTTOM - value / ymax * (BOTTOM - TOP)


def runs(points: Sequence[Point], t0: float) -> list[list[Point]]:
    """The points split at every gap (NaN) and clipped to the frame."""
    found: list[list[Point]] = [[]]
    for t, v in points:
        if math.isnan(v) or t < t0:
            if found[-1]:
                found.append([])
        else:
            found[-1].append((t, v))
    return [run for run in found if run]


def _scale(frame: Frame, ymax: float, unit: Unit, height: int) -> dict[str, str]:
    return {"viewBox": f"0 0 {W} {height}", "width": "100%", "role": "img",
            "data-t0": f"{frame.t0:.3f}", "data-t1": f"{frame.t1:.3f}",
            "data-left": str(LEFT), "data-right": str(W - RIGHT), "data-top": str(TOP),
            "data-bottom": str(BOTTOM), "data-ymin": "0", "data-ymax": repr(ymax),
            "data-unit": unit.name}


def _axes(frame: Frame, ymax: float, unit: Unit, height: int) -> list[Tag]:
    span = frame.t1 - frame.t0
    minutes = span >= 120
    marks = []
    for share in (0.0, 0.5, 1.0):
        ago = span * (1 - share)
        text = "now" if not ago else (f"-{ago / 60:g} min" if minutes else f"-{ago:g} s")
        anchor = "start" if share == 0 else "end" if share == 1 else "middle"
        marks.append(svg("text", text, x=f"{LEFT + share * (W - LEFT - RIGHT):.1f}",
                         y=str(height - 3), text_anchor=anchor, **FONT))
    for value in (ymax, ymax / 2):
        y = y_of(value, ymax)
        marks.append(svg("line", x1=str(LEFT), x2=str(W - RIGHT), y1=f"{y:.2f}", y2=f"{y:.2f}",
                         stroke="#ddd"))
        marks.append(svg("text", unit.text(value), x=str(LEFT - 3), y=f"{y + 4:.2f}",
                         text_anchor="end", **FONT))
    marks.append(svg("line", x1=str(LEFT), x2=str(W - RIGHT), y1=str(BOTTOM), y2=str(BOTTOM),
                     stroke="#999"))
    marks.append(svg("text", unit.text(0), x=str(LEFT - 3), y=str(BOTTOM + 4),
                     text_anchor="end", **FONT))
    return marks


def _plot(line: Line, color: str, frame: Frame, ymax: float, unit: Unit) -> list[Tag]:
    drawn: list[Tag] = []
    for run in runs(line.points, frame.t0):
        where = [(frame.x(t), y_of(v, ymax)) for t, v in run]
        tip = f"{line.label}: last {unit.text(run[-1][1])}"
        if len(run) == 1:
            (x, y), = where
            drawn.append(svg("circle", svg("title", tip), cx=f"{x:.2f}", cy=f"{y:.2f}", r="2",
                             fill=color, data_series=line.label))
        else:
            drawn.append(svg("polyline", svg("title", tip), fill="none", stroke=color,
                             stroke_width="1.5", data_series=line.label,
                             points=" ".join(f"{x:.2f},{y:.2f}" for x, y in where)))
    return drawn


def spans(points: Sequence[Point], frame: Frame, step: float) -> Iterator[tuple[float, float,
                                                                                 float]]:
    """(x0, width, value) of each stretch of equal samples; a sample covers the ``step``
    before it, so one sample is a visible bar."""
    for run in runs(points, frame.t0):
        start = 0
        for i in range(1, len(run) + 1):
            if i < len(run) and run[i][1] == run[start][1]:
                continue
            x0 = frame.x(max(frame.t0, run[start][0] - step))
            yield x0, max(frame.x(run[i - 1][0]) - x0, 1.0), run[start][1]
            start = i


def _loss_band(points: Sequence[Point], frame: Frame, step: float) -> list[Tag]:
    """Smokeping's colours for the loss of each sample, equal neighbours merged."""
    return [svg("rect", svg("title", f"loss {100 * loss:.1f}%"), x=f"{x:.2f}",
                width=f"{width:.2f}", y=str(BOTTOM + 2), height=str(BAND - 2),
                fill=next(c for limit, c in LOSS_COLORS if loss <= limit), data_loss=repr(loss))
            for x, width, loss in spans(points, frame, step)]


def line_chart(title: str, lines: Sequence[Line], unit: Unit, frame: Frame,
               loss: Sequence[Point] = (), step: float = 0.0) -> Tag:
    """Lines over the last hour, under them (ping) the loss band, a legend below."""
    height = BOTTOM + BAND + 16
    ymax = top_of(v for line in lines for t, v in line.points if t >= frame.t0)
    body: list[Tag] = _axes(frame, ymax, unit, height)
    for i, line in enumerate(lines):
        body += _plot(line, COLORS[i % len(COLORS)], frame, ymax, unit)
    body += _loss_band(loss, frame, step)
    picture = svg("svg", svg("title", title), *body, data_title=title,
                  **_scale(frame, ymax, unit, height))
    legend = [tags.span("■ ", style=f"color:{COLORS[i % len(COLORS)]}", class_="key")(
        line.label, " ") for i, line in enumerate(lines)]
    return tags.div(tags.h3(title), picture, tags.div(legend, class_="muted"), class_="graph")


def state_chart(title: str, rows: Sequence[tuple[str, Sequence[Point]]], frame: Frame,
                step: float) -> Tag:
    """One strip per uplink: dark green while active, green while up, red while down."""
    height = len(rows) * ROW + 16
    body: list[Tag] = []
    for n, (label, points) in enumerate(rows):
        y = n * ROW
        body.append(svg("text", label, x=str(LEFT - 3), y=str(y + 11), text_anchor="end",
                        **FONT))
        for x, width, state in spans(points, frame, step):
            word, color = (("active", "#282") if state >= 2 else ("up", "#8c8")
                           if state >= 1 else ("down", "#c33"))
            body.append(svg("rect", svg("title", f"{label}: {word}"), x=f"{x:.2f}",
                            width=f"{width:.2f}", y=str(y + 2), height=str(ROW - 4),
                            fill=color, data_state=word))
    for share, text in ((0.0, ""), (1.0, "now")):
        body.append(svg("text", text, x=f"{LEFT + share * (W - LEFT - RIGHT):.1f}",
                        y=str(height - 3), text_anchor="end", **FONT))
    picture = svg("svg", svg("title", title), *body, data_title=title, role="img",
                  viewBox=f"0 0 {W} {height}", width="100%")
    return tags.div(tags.h3(title), picture, tags.div("dark green: carrying the default "
                                                      "route · green: up · red: down",
                                                      class_="muted"), class_="graph")


def _scaled(series: Series, unit: Unit) -> tuple[Point, ...]:
    return tuple((t, v * unit.factor) for t, v in series.values())


def ping_charts(history: History, frame: Frame, step: float) -> list[Tag]:
    """Smokeping's picture per target: the last check's RTT, the loss band under it."""
    rtts = {(s.labels["name"], s.labels["target"]): s for s in history.series(h.PING_RTT)}
    losses = {(s.labels["name"], s.labels["target"]): s for s in history.series(h.PING_LOSS)}
    charts = []
    for key in sorted(set(rtts) | set(losses)):
        rtt, loss = rtts.get(key), losses.get(key)
        lines = [Line("rtt", _scaled(rtt, MS))] if rtt else []
        charts.append(line_chart(f"ping {key[0]} → {key[1]}", lines, MS, frame,
                                 loss.points if loss else (), step))
    return charts


def uplink_charts(history: History, frame: Frame, step: float) -> list[Tag]:
    """Per failover: each uplink's state over time, and its share of the route (multi-WAN)."""
    active = {(s.labels["name"], s.labels["uplink"]): s.points
              for s in history.series(h.UPLINK_ACTIVE)}
    strips: dict[str, list[tuple[str, Sequence[Point]]]] = {}
    for s in history.series(h.UPLINK_UP):
        key = (s.labels["name"], s.labels["uplink"])
        on = active.get(key, ())
        points = tuple((t, v + (on[i][1] if i < len(on) and v else 0.0))
                       for i, (t, v) in enumerate(s.points))
        strips.setdefault(key[0], []).append((key[1], points))
    shares: dict[str, list[Line]] = {}
    for s in history.series(h.UPLINK_SHARE):
        shares.setdefault(s.labels["name"], []).append(Line(s.labels["uplink"],
                                                            _scaled(s, SHARE)))
    charts = [state_chart(f"failover {name}: uplinks", rows, frame, step)
              for name, rows in strips.items()]
    return charts + [line_chart(f"failover {name}: share of the route", lines, SHARE, frame)
                     for name, lines in shares.items()]


def forward_charts(history: History, frame: Frame) -> list[Tag]:
    """Per service its throughput (bytes a second each way), then open connections."""
    throughput: dict[str, list[Line]] = {}
    for s in history.series(h.FORWARD_BYTES):
        throughput.setdefault(s.labels["service"], []).append(
            Line(s.labels["direction"], _scaled(s, RATE)))
    charts = [line_chart(f"forward {service}: throughput", lines, RATE, frame)
              for service, lines in throughput.items()]
    connections = [Line(s.labels["service"], _scaled(s, COUNT))
                   for s in history.series(h.FORWARD_OPEN)]
    if connections:
        charts.append(line_chart("forward: open connections", connections, COUNT, frame))
    return charts


def set_charts(history: History, frame: Frame) -> list[Tag]:
    lines = [Line(f"{family.split('_')[1]} {s.labels['set']}", _scaled(s, COUNT))
             for family in h.SET_ELEMENTS for s in history.series(family)]
    return [line_chart("set elements", lines, COUNT, frame)] if lines else []


def charts(history: History, now: float, span: float, step: float) -> list[Tag]:
    frame = Frame(now - span, now)
    return [*ping_charts(history, frame, step), *uplink_charts(history, frame, step),
            *forward_charts(history, frame), *set_charts(history, frame)]


def section(sampler: Sampler | None, now: float) -> Tag | str:
    """The page's "graphs" section; nothing while the graphs are off."""
    if sampler is None or sampler.history is None or sampler.settings is None:
        return ""
    span, every = sampler.settings
    history = sampler.history
    drawn = charts(history, history.last_time() or now, span, every) if history.count else []
    note = (f"the last {span / 60:g} min, a sample every {every} s"
            if drawn else "no samples yet" if not history.count else "nothing to draw yet")
    return tags.div(tags.h2("graphs"), tags.p(note, class_="muted"),
                    tags.div(drawn, class_="graphs"), id="graphs")
