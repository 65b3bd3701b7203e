"""``control.status_page``: one glance at the whole daemon, like haproxy's stats page.

Rendered on the server with twisted.web.template from what ``status`` returns
(plus the open connections of ``forward stats``), so every value is escaped by
the flattener and the page needs no JavaScript.  A section appears only for a
configured feature; whatever is wrong is listed first, in red, then the graphs
(``control.history``: inline SVG drawn by :mod:`netsentinel.graphs`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.web.template import Element, Tag, TagLoader, renderer, tags

from netsentinel import graphs
from netsentinel.history import Sampler
from netsentinel.page import PageView
from netsentinel.readable import duration, size
from netsentinel.status import DaemonStatus

__all__ = ["MAX_REFRESH", "StatusPage", "duration", "refresh_seconds", "size"]

DEFAULT_REFRESH = 5
MAX_REFRESH = 3600      # an hour: a larger value is as good as off, and says so

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:8px;max-width:1100px;color:#222}
h1{font-size:20px;margin:4px 0}h2{font-size:17px;border-bottom:2px solid #468;margin:18px 0 6px}
h3{font-size:15px;margin:12px 0 4px}nav,.muted{color:#666;font-size:12px}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:4px 0;min-width:50%}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eef2f7;font-weight:600}.grid td{white-space:nowrap}
.grid td.wrap{white-space:normal;min-width:10em}td.n{text-align:right}
.ok{background:#dfd}.bad{background:#fcc;font-weight:600}
.problems{border:2px solid #c00;background:#fee;padding:6px 12px;margin:8px 0}
.problems h2{color:#c00;border:0;margin:0}
.graphs{display:flex;flex-wrap:wrap;gap:4px 16px}.graph{flex:1 1 300px;max-width:560px}
.graph svg{display:block;background:#fafafa}.key{font-weight:600}
"""


def refresh_seconds(value: bytes | None) -> int:
    """``?refresh=N``: 0 turns the reload off; anything else is held to 1..MAX_REFRESH."""
    if value is None:
        return DEFAULT_REFRESH
    seconds = int(value)        # ValueError for text: the caller answers 400
    return 0 if seconds <= 0 else min(seconds, MAX_REFRESH)


class StatusPage(Element):
    """The page for one ``status`` snapshot; ``connections`` is ``forward stats``'s detail."""

    loader = TagLoader(tags.html(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.meta(name="viewport", content="width=device-width, initial-scale=1"),
            tags.transparent(render="refresh"),
            tags.title("netsentinel status"),
            tags.style(CSS)),
        tags.body(
            tags.h1("netsentinel ", tags.transparent(render="version")),
            tags.transparent(render="nav"),
            tags.transparent(render="problems"),
            tags.transparent(render="graphs"),
            tags.transparent(render="sections")),
        lang="en"))

    def __init__(self, status: DaemonStatus,
                 connections: Mapping[str, Sequence[Mapping[str, Any]]], refresh: int,
                 now: float | None = None, sampler: Sampler | None = None) -> None:
        super().__init__()
        self.status = status
        self.sampler = sampler
        self.refresh_every = refresh
        self.view = PageView(time.time() if now is None else now, connections)

    @renderer
    def refresh(self, request: Any, tag: Tag) -> Tag | str:
        if not self.refresh_every:
            return ""
        return tags.meta(**{"http-equiv": "refresh", "content": str(self.refresh_every)})

    @renderer
    def version(self, request: Any, tag: Tag) -> str:
        return self.status.version

    @renderer
    def nav(self, request: Any, tag: Tag) -> Tag:
        every = f"every {self.refresh_every}s" if self.refresh_every else "off"
        return tags.nav(
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.view.now)),
            f" · reload {every}: ",
            tags.a("5s", href="?refresh=5"), " ", tags.a("30s", href="?refresh=30"), " ",
            tags.a("off", href="?refresh=0"), " · ", tags.a("JSON", href="/status.json"),
            " · ", tags.a("metrics", href="/metrics"))

    @renderer
    def problems(self, request: Any, tag: Tag) -> Tag | str:
        found = self.status.problems()     # daemon first; each feature words its own
        if not found:
            return ""
        return tags.div(tags.h2(f"{len(found)} problem(s)"),
                        tags.ul([tags.li(p) for p in found]), class_="problems", id="problems")

    @renderer
    def graphs(self, request: Any, tag: Tag) -> Tag | str:
        """The last hour drawn from the sampler's rings (``control.history``)."""
        return graphs.section(self.sampler, self.view.now)

    @renderer
    def sections(self, request: Any, tag: Tag) -> list[Tag | str]:
        """The daemon's table, then each configured feature's own section."""
        return [self.status.section(self.view),
                *(snapshot.section(self.view) for snapshot in self.status.ordered())]
