"""The container monitor at one moment: its connection, the last listing, its sets, and
what is wrong with them (the sets' lines are the set writer's:
:func:`netsentinel.nft.writer.sets_problems`)."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.docker.metrics import (
    CONNECTED,
    CONNECTS,
    CONTAINERS,
    EVENTS,
    SET_ELEMENTS,
    SET_ERROR,
    SYNCS,
    TRANSACTIONS,
)
from netsentinel.metrics import Family
from netsentinel.nft.sets import SetStatus
from netsentinel.nft.writer import sets_problems
from netsentinel.page import PageView, grid, pairs, sets_grid
from netsentinel.readable import ago
from netsentinel.snapshot import to_json


@attrs.frozen
class ContainerStatus:
    """A running container as listed: its short id, labels, and each network's addresses."""

    id: str
    labels: dict[str, str]
    networks: dict[str, tuple[str, ...]]


@attrs.frozen
class DockerStatus:
    """The connection to Docker, the last listing (containers by name) and the sets."""

    socket: str
    connected: bool
    error: str | None
    connects: int
    events: int
    listed_at: float | None
    containers: dict[str, ContainerStatus]
    sets: dict[str, SetStatus]
    syncs: int
    last_sync: float | None
    transactions: int
    pending: bool

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        found = sets_problems("docker", self.sets)
        if not self.connected:
            found.append(f"docker: not connected to {self.socket}: {self.error}")
        return found

    def metrics(self) -> list[Family]:
        sets = self.sets
        return [
            CONNECTED.of(self.connected),
            CONNECTS.of(self.connects),
            EVENTS.of(self.events),
            CONTAINERS.of(len(self.containers)),
            SET_ELEMENTS.with_samples(((n,), len(s.elements)) for n, s in sets.items()),
            SET_ERROR.with_samples(((n,), s.error is not None) for n, s in sets.items()),
            SYNCS.of(self.syncs),
            TRANSACTIONS.of(self.transactions),
        ]

    def section(self, view: PageView) -> Tag:
        now = view.now
        parts = [
            tags.h2("docker"),
            pairs([("socket", self.socket), ("connected", self.connected),
                   ("error", self.error), ("last listing", ago(self.listed_at, now)),
                   ("events", self.events), ("last sync", ago(self.last_sync, now))],
                  ["connected"] if not self.connected else [], id="docker"),
            tags.h3("containers"),
            grid(("name", "id", "networks"),
                 [(n, c.id, "; ".join(f"{net}: {' '.join(ips)}"
                                      for net, ips in c.networks.items()))
                  for n, c in self.containers.items()], id="docker-containers"),
        ]
        if self.sets:
            parts += [tags.h3("sets"), sets_grid("docker", self.sets, now)]
        return tags.section(parts)
