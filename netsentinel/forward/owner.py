"""What a relayed connection needs from whoever owns it: the owner interface of ``relay``.

A :class:`relay.Connection` moves bytes on its own; it asks its owner only for
the reactor to register its sockets with, a clock, pipes for ``splice``, the
options a backend socket gets, and a PROXY header, and it reports back a failed
backend, hex-dump chunks and its close.  The owner sees the connection only as a
:class:`Record`.  ``listener.Forwarder`` is the owner in the daemon; a test can
drive a connection with a stand-in of a few lines (tests/forward/test_owner.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorFDSet, IReactorTime

from netsentinel.forward.buffers import PipePool


class Record(Protocol):
    """A connection as its owner sees it, in its callbacks."""

    number: int
    ip: str
    port: int
    started: float
    up: int                     # client → backend bytes
    down: int                   # backend → client bytes
    reason: str                 # why it closed, once it has

    def local_address(self) -> Any:
        """The address the client connected to."""


class Owner(Protocol):
    """The owner of relayed connections (magic-wormhole's ``ITransitClient`` in spirit)."""

    @property
    def reactor(self) -> IReactorFDSet:
        """Where the connection registers its sockets for reading and writing."""

    @property
    def clock(self) -> IReactorTime:
        """The time stalls and half-closes are stamped with."""

    @property
    def pipes(self) -> PipePool:
        """Pipes the connection's buffers splice through."""

    @property
    def dial_options(self) -> Sequence[tuple[int, int, int]]:
        """``setsockopt`` arguments for a new backend socket."""

    def proxy_header(self, conn: Record) -> bytes:
        """The bytes sent to the backend ahead of the client's (b"": none)."""

    def dump(self, conn: Record, direction: str, data: bytes) -> None:
        """A chunk read while hex dumps are on; ``direction`` is "up" or "down"."""

    def backend_failed(self, conn: Record, why: str) -> None:
        """The backend could not be reached; the connection closes right after."""

    def closed(self, conn: Record) -> None:
        """The connection closed, both sockets with it; ``conn.reason`` says why."""
