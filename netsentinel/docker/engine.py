"""The Docker Engine API over its unix socket, from the reactor: one listing, one event stream.

twisted.web's Agent speaks HTTP/1.1 (chunked bodies included) on a
UNIXClientEndpoint, so nothing here blocks and no thread is needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

log = Logger()

# what changes a container's addresses or presence; anything else is not asked for.
# Podman filters on its own names and sends Docker's: its "died" arrives as "die"
# (a filter on "die" alone never matches there); Docker knows no "died".
EVENT_FILTERS = {"type": ["container", "network"],
                 "event": ["start", "die", "died", "destroy", "rename", "connect", "disconnect"]}
REQUEST_TIMEOUT = 10.0
LINE_LIMIT = 1 << 20


class EngineError(Exception):
    """Docker answered with an error, or not at all."""


@implementer(IAgentEndpointFactory)
class UnixEndpoints:
    """Every URI goes to the one socket; the host name is only the Host header."""

    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path

    def endpointForURI(self, uri: Any) -> UNIXClientEndpoint:
        return UNIXClientEndpoint(self.reactor, self.path, timeout=REQUEST_TIMEOUT)


class EventStream(protocol.Protocol):
    """Newline-delimited JSON events; ``on_close`` learns why the stream ended."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None],
                 on_close: Callable[[EventStream, Failure], None]) -> None:
        self.on_event = on_event
        self.on_close = on_close
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > LINE_LIMIT:
            self.close()
            return
        for line in lines:
            try:
                event = json.loads(line) if line.strip() else None
            except ValueError:
                log.warn("docker: unreadable event line {line!r}", line=line[:200])
                continue
            if isinstance(event, dict):
                self.on_event(event)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.on_close(self, reason)

    def close(self) -> None:
        if self.transport is not None:
            # Agent hands a body protocol a producer: stopping it drops the connection
            self.transport.stopProducing()  # type: ignore[attr-defined]


class _QuietFactory(_HTTP11ClientFactory):
    """Twisted logs every client factory's start and stop: two lines per listing."""

    noisy = False


class EngineClient:
    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path
        pool = HTTPConnectionPool(reactor, persistent=False)
        pool._factory = _QuietFactory
        self.agent = Agent.usingEndpointFactory(reactor, UnixEndpoints(reactor, path), pool)

    def _get(self, path: str) -> defer.Deferred[Any]:
        pending: defer.Deferred[Any] = self.agent.request(b"GET", b"http://docker" + path.encode(),
                                  Headers({b"User-Agent": [b"netsentinel"]}))
        return pending

    async def _ok(self, path: str) -> Any:
        request = self._get(path)
        request.addTimeout(REQUEST_TIMEOUT, self.reactor)
        response = await request
        if response.code != 200:
            body = await readBody(response)
            raise EngineError(f"GET {path.partition('?')[0]}: HTTP {response.code} {body[:200]!r}")
        return response

    async def containers(self) -> list[dict[str, Any]]:
        """``GET /containers/json``: the running containers with names, labels, addresses."""
        response = await self._ok("/containers/json")
        body = await readBody(response)
        return list(json.loads(body))

    async def events(self, on_event: Callable[[dict[str, Any]], None],
                     on_close: Callable[[EventStream, Failure], None]) -> EventStream:
        """Open the event stream; returns once Docker has accepted it, so a listing
        taken after that cannot miss a change."""
        response = await self._ok("/events?filters=" + quote(json.dumps(EVENT_FILTERS)))
        stream = EventStream(on_event, on_close)
        response.deliverBody(stream)
        return stream
