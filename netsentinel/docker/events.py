"""Events published by the Docker monitor."""

from __future__ import annotations

import attrs

from netsentinel.events import Event


@attrs.frozen
class ContainerEvent(Event):
    """A container came up, went down, or its addresses changed (network connect/disconnect)."""

    kind = "container"
    change: str            # up | down | changed
    container: str         # name
    id: str
    ips: tuple[str, ...]   # down: the addresses it had


@attrs.frozen
class DockerConnection(Event):
    """The Engine API became reachable, or stopped being so (sets keep their content)."""

    kind = "docker-connection"
    connected: bool
    error: str | None
