"""The whole daemon's ``status``: the spine's own values and every feature's snapshot.

:class:`DaemonStatus` is what ``status`` prints (:meth:`DaemonStatus.to_json`), what the
status page is drawn from, and what ``netsentinel-ctl`` and the tests read back from the
JSON (:func:`read_status`, each feature's section by its ``Feature.snapshot`` class).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.actions import ActionsStatus
from netsentinel.control.clients import ControlStatus
from netsentinel.faults import FaultsStatus
from netsentinel.nft.watch import WatchStatus
from netsentinel.page import PageView, Row, pairs
from netsentinel.priority import PriorityStatus
from netsentinel.readable import duration
from netsentinel.snapshot import Snapshot, from_json, omitted, to_json

# the order of the page's sections and of the problems they list
PAGE_ORDER = ("ha", "forward", "checks", "addresses", "names", "traffic", "docker", "manhole")


@attrs.frozen
class MetricsStatus:
    """The ``metrics`` section (present while ``control.metrics`` is set)."""

    listen: str
    listening: bool
    error: str | None


@attrs.frozen
class DaemonStatus:
    version: str
    ready: bool
    started_at: float
    uptime: float
    config: str | None
    reloads: dict[str, int]
    events: int
    actions: ActionsStatus
    control: ControlStatus
    faults: FaultsStatus
    metrics: MetricsStatus | None = omitted()
    priority: PriorityStatus | None = omitted()  # control.priority, when set
    nftables: WatchStatus | None = omitted()     # while a feature writes sets
    features: dict[str, Snapshot] = attrs.field(factory=dict, metadata={"omit_none": True})

    def to_json(self) -> dict[str, Any]:
        spine: dict[str, Any] = to_json(attrs.evolve(self, features={}))
        del spine["features"]
        for key, snapshot in self.features.items():
            spine[key] = snapshot.to_json()
        return spine

    def ordered(self) -> Iterable[Snapshot]:
        """The features' snapshots in the page's order, then any other."""
        keys = [k for k in PAGE_ORDER if k in self.features]
        keys += sorted(k for k in self.features if k not in PAGE_ORDER)
        return (self.features[k] for k in keys)

    def problems(self) -> list[str]:
        """Everything wrong, the daemon's first; each feature words its own."""
        found: list[str] = []
        if not self.ready:
            found.append("daemon: not ready (a feature's first sync has not finished)")
        if self.actions.failed:
            found.append(f"actions: {self.actions.failed} script(s) failed")
        found += self.faults.problems()
        if self.metrics and self.metrics.error:
            found.append(f"metrics: not listening on {self.metrics.listen}: "
                         f"{self.metrics.error}")
        if self.priority and self.priority.error:
            found.append(f"control.priority: {self.priority.error}")
        if self.nftables and self.nftables.error:
            found.append(f"nftables: {self.nftables.error} (sets heal only every "
                         f"nftables.verify seconds)")
        for snapshot in self.ordered():
            found += snapshot.problems()
        return found

    def section(self, view: PageView) -> Tag:
        """The daemon's own table on the status page."""
        a = self.actions
        rows: list[Row] = [
            ("version", self.version),
            ("uptime", duration(self.uptime)),
            ("ready", self.ready),
            ("config", self.config),
            ("reloads", f"{self.reloads['ok']} ok, {self.reloads['refused']} refused"),
            ("bus events", self.events),
            ("faults", self.faults.total),
            ("actions", f"{a.running} running, {a.queued} queued, {a.finished} finished, "
                        f"{a.failed} failed, {a.dropped} dropped"),
        ]
        if self.metrics is not None:
            rows.append(("metrics", self.metrics.listen + (
                "" if self.metrics.listening else f" (not listening: {self.metrics.error})")))
        if self.nftables is not None:
            n = self.nftables
            rows.append(("nftables monitor", (
                "listening" if n.listening else f"not listening ({n.error})")
                + f", {n.outside_changes} outside change(s), {n.overflows} overflow(s)"))
        bad = [label for label, flag in (("ready", not self.ready), ("actions", a.failed),
                                         ("faults", self.faults.total)) if flag]
        return tags.section(tags.h2("daemon"), pairs(rows, bad, id="daemon"))


def read_status(data: Mapping[str, Any]) -> DaemonStatus:
    """A ``status`` JSON read back: the spine, and each configured feature's section as
    its own snapshot class."""
    from netsentinel.features import load_features
    classes = {f.key: f.snapshot_class() for f in load_features() if f.key in data}
    spine = {k: v for k, v in data.items() if k not in classes}
    status = from_json(DaemonStatus, spine)
    return attrs.evolve(status, features={
        key: from_json(cls, data[key]) for key, cls in classes.items()})
