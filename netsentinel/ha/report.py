"""The ``ha`` section of ``status``: keepalived's state as last notified, what it caused,
and the weight written to its track file."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.metrics import Family, counter, gauge, one_hot
from netsentinel.page import PageView, Row, pairs
from netsentinel.readable import duration
from netsentinel.snapshot import omitted, to_json

STATES = ("unknown", "master", "backup", "fault", "stop")

MASTER = gauge("netsentinel_ha_master", "1 while keepalived reports this node MASTER.")
STATE = gauge("netsentinel_ha_state", "1 for the VRRP state keepalived last notified.",
              "state")
TRANSITIONS = counter("netsentinel_ha_transitions_total",
                      "State changes notified by keepalived for the instance.")
WEIGHT = gauge("netsentinel_ha_track_weight",
               "The weight last written to keepalived's track file (0: every uplink down).")
RUNNING = gauge("netsentinel_ha_feature_running",
                "1 while a master_only feature runs on this node.", "feature")


@attrs.frozen
class HaStatus:
    """``state``: MASTER/BACKUP/... lower-cased, ``unknown`` before the first notice;
    ``features``: each master_only feature and whether it runs; ``error``: the last
    failure to read the FIFO, write the track file or start/stop a feature."""

    instance: str
    state: str
    since: float | None
    transitions: int
    features: dict[str, bool]
    uplinks_up: int
    uplinks: int
    track_file: str | None = omitted()
    weight: int | None = omitted()
    error: str | None = omitted()

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        found = [f"ha: {self.error}"] if self.error else []
        wrong = sorted(key for key, running in self.features.items()
                       if running != (self.state == "master"))
        if wrong and self.state != "unknown":
            found.append(f"ha: {', '.join(wrong)} not yet following state {self.state}")
        return found

    def metrics(self) -> list[Family]:
        families = [MASTER.of(self.state == "master"), one_hot(STATE, STATES, self.state),
                    TRANSITIONS.of(self.transitions),
                    RUNNING.with_samples(((key,), on) for key, on in self.features.items())]
        if self.weight is not None:
            families.append(WEIGHT.of(self.weight))
        return families

    def section(self, view: PageView) -> Tag:
        since = "" if self.since is None else f" for {duration(view.now - self.since)}"
        rows: list[Row] = [
            ("instance", self.instance),
            ("state", self.state + since),
            ("transitions", self.transitions),
            ("master only", ", ".join(f"{k} ({'running' if on else 'stopped'})"
                                      for k, on in self.features.items()) or None),
            ("uplinks up", f"{self.uplinks_up} of {self.uplinks}"),
            ("track weight", None if self.weight is None
             else f"{self.weight} in {self.track_file}"),
            ("error", self.error),
        ]
        bad = ["error"] if self.error else []
        return tags.section(tags.h2("ha"), pairs(rows, bad, id="ha"))
