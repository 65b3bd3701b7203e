"""``control.metrics``: GET /metrics over HTTP for Prometheus, read-only.

The page is rendered from the daemon at each scrape (the same text as the
``metrics`` control command); nothing else is served, and no request can
change anything.  Scrapes are not logged: one every 15 s would drown the log.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from netsentinel.deferreds import observe
from netsentinel.forward.config import Endpoint
from netsentinel.metrics import CONTENT_TYPE

log = Logger()

PATH = b"/metrics"


class MetricsSource(Protocol):
    def metrics_text(self) -> str: ...


class MetricsPage(resource.Resource):
    """/metrics answers GET (and HEAD); any other path is 404, any other method 405."""

    isLeaf = True

    def __init__(self, daemon: MetricsSource) -> None:
        super().__init__()
        self.daemon = daemon

    def render(self, request: server.Request) -> bytes:
        if request.path != PATH:
            return _plain(request, 404, b"not found: try /metrics\n")
        if request.method not in (b"GET", b"HEAD"):
            # answered here: Twisted would say 501 for methods it does not know (PUT, DELETE)
            request.setHeader(b"allow", b"GET, HEAD")
            return _plain(request, 405, b"method not allowed: read-only\n")
        body = self.daemon.metrics_text().encode()
        request.setHeader(b"content-type", CONTENT_TYPE.encode())
        request.setHeader(b"content-length", b"%d" % len(body))
        return b"" if request.method == b"HEAD" else body   # Twisted warns of a HEAD body


def _plain(request: server.Request, code: int, text: bytes) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return text


class _QuietSite(server.Site):
    def log(self, request: Any) -> None:
        """No access log: Prometheus scrapes all day."""


class MetricsServer(service.Service):
    """Listens on ``listen`` while running; a failed bind is logged and kept in ``error``."""

    def __init__(self, daemon: MetricsSource, listen: Endpoint, reactor: Any) -> None:
        self.daemon = daemon
        self.listen = listen
        self.reactor = reactor
        self.port: IListeningPort | None = None
        self.error: str | None = None
        self._listening: defer.Deferred[None] = defer.succeed(None)

    def _endpoint(self) -> Any:
        host, port = self.listen.host, self.listen.port
        if ":" in host:
            return endpoints.TCP6ServerEndpoint(self.reactor, port, interface=host)
        return endpoints.TCP4ServerEndpoint(self.reactor, port, interface=host)

    def startService(self) -> None:
        super().startService()
        site = _QuietSite(MetricsPage(self.daemon))
        site.noisy = False
        self._listening = self._endpoint().listen(site).addCallbacks(
            self._bound, self._failed)

    def _bound(self, port: IListeningPort) -> None:
        self.port, self.error = port, None
        log.info("metrics: serving http://{listen}/metrics", listen=str(self.listen))

    def _failed(self, failure: Failure) -> None:
        self.error = failure.getErrorMessage()
        log.error("metrics: cannot listen on {listen}: {error}", listen=str(self.listen),
                  error=self.error)

    def when_listening(self) -> defer.Deferred[None]:
        """Fires once the bind succeeded or failed (never with an error)."""
        return observe(self._listening)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.when_listening().addCallback(lambda _: self._close())

    def _close(self) -> Any:
        port, self.port = self.port, None
        return port.stopListening() if port is not None else None

    def status(self) -> dict[str, Any]:
        return {"listen": str(self.listen), "listening": self.port is not None,
                "error": self.error}
