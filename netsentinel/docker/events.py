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

    def script_args(self) -> tuple[str, ...]:
        """The action script's words: ``CHANGE CONTAINER IPS`` (comma-separated)."""
        return self.change, self.container, ",".join(self.ips)


@attrs.frozen
class DockerConnection(Event):
    """The Engine API became reachable, or stopped being so (sets keep their content)."""

    kind = "docker-connection"
    connected: bool
    error: str | None
