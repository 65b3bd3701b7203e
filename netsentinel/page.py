"""The status page's building blocks, shared by every feature's section.

A feature's snapshot renders its own section (``Snapshot.section``) from these;
``control/statuspage.py`` only lays out the page around them.  Every value goes
through twisted.web.template's flattener, so it is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.nft.sets import SetStatus
from netsentinel.readable import ago

Row = tuple[str, Any]
WRAP = {"elements", "addresses", "targets", "uplinks", "sources", "networks", "failures",
        "error"}    # grid columns holding lists or messages, which may take several lines


@attrs.frozen
class PageView:
    """What a section needs besides its snapshot: the page's clock, and the open
    connections of ``forward stats`` (not part of ``status``) by service."""

    now: float
    connections: Mapping[str, Sequence[Mapping[str, Any]]] = attrs.field(factory=dict)


def cell(value: Any, *classes: str) -> Tag:
    text = "—" if value is None else ("yes" if value is True else
                                      "no" if value is False else str(value))
    names = " ".join(c for c in classes if c)
    return tags.td(text, class_=names) if names else tags.td(text)


def pairs(rows: Iterable[Row], bad: Sequence[str] = (), id: str | None = None) -> Tag:
    """A two-column table, the shape that stays readable on a phone."""
    table = tags.table([tags.tr(tags.th(label), cell(value, "bad" if label in bad else ""))
                        for label, value in rows])
    if id is not None:
        table(id=id)
    return tags.div(table, class_="scroll")


def grid(headers: Sequence[str], rows: Iterable[Sequence[Any]],
         bad_rows: Iterable[bool] = (), id: str | None = None) -> Tag:
    """A table with a row per item; figures stay on one line, lists (WRAP) may wrap."""
    kinds = ["wrap" if h in WRAP else "" for h in headers]
    flags = list(bad_rows)
    body = []
    for i, row in enumerate(rows):
        tr = tags.tr([cell(v, kind, "n" if isinstance(v, (int, float))
                           and not isinstance(v, bool) else "") for v, kind in zip(row, kinds, strict=False)])
        if i < len(flags) and flags[i]:
            tr(class_="bad")
        body.append(tr)
    table = tags.table(tags.thead(tags.tr([tags.th(h) for h in headers])), tags.tbody(body),
                       class_="grid")
    if id is not None:
        table(id=id)
    return tags.div(table, class_="scroll")


def sets_grid(key: str, sets: Mapping[str, SetStatus], now: float) -> Tag:
    """A feature's nft sets (the set writer's snapshot), those in error marked."""
    return grid(("set", "elements", "count", "last sync", "error"),
                [(name, " ".join(s.elements) or "(empty)", len(s.elements),
                  ago(s.synced_at, now), s.error) for name, s in sets.items()],
                [bool(s.error) for s in sets.values()], id=f"{key}-sets")


