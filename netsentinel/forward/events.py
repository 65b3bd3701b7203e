"""What the forwarder tells the bus: connections opened, closed, refused, failed."""

from __future__ import annotations

import attrs

from netsentinel.events import Event


@attrs.frozen
class ConnectionOpened(Event):
    kind = "forward-open"
    service: str
    conn: int
    client: str
    port: int


@attrs.frozen
class ConnectionClosed(Event):
    """``reason``: ``done``, ``client-reset``, ``backend-reset``, a timeout name,
    ``backend-failed``, ``rejected`` or ``stopped``."""

    kind = "forward-close"
    service: str
    conn: int
    client: str
    port: int
    up: int
    down: int
    duration: float
    reason: str


@attrs.frozen
class ConnectionRejected(Event):
    kind = "forward-reject"
    service: str
    client: str
    reason: str


@attrs.frozen
class BackendFailed(Event):
    kind = "forward-backend-failed"
    service: str
    client: str
    backend: str
    reason: str


@attrs.frozen
class ClientBanned(Event):
    """``network`` is the client's address, or its IPv6 prefix with ``ipv6_prefix``."""

    kind = "forward-ban"
    service: str
    client: str
    network: str
    seconds: int
    reason: str
