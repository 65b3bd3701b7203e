"""``control.metrics``: GET /metrics over HTTP for Prometheus, read-only; and with
``control.status_page``, the status page (/) and its JSON (/status.json).

Every answer is rendered from the daemon at each request (the same data as the
``metrics`` and ``status`` control commands); no request can change anything.
Requests are not logged: a scrape every 15 s would drown the log.  A client must send
its headers within ``HEADER_TIMEOUT`` of its request's first byte (slowloris), may
sit idle ``IDLE_TIMEOUT`` between requests, and the listener holds at most its share
of the descriptor reserve (``control.clients``).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from twisted.application import service
from twisted.internet import defer, endpoints, protocol
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from twisted.web.template import flattenString

from netsentinel.config import Config
from netsentinel.control.clients import HEADER_TIMEOUT, IDLE_TIMEOUT, ClientCounters, Clients
from netsentinel.control.statuspage import StatusPage, refresh_seconds
from netsentinel.deferreds import observe
from netsentinel.forward.config import Endpoint
from netsentinel.metrics import CONTENT_TYPE
from netsentinel.status import DaemonStatus, MetricsStatus

log = Logger()

PATH = b"/metrics"
STATUS_PAGE = b"/"
STATUS_JSON = b"/status.json"
HTML = b"text/html; charset=utf-8"


class DaemonView(Protocol):
    """What the listener reads from the daemon; the only command it dispatches is the
    read-only ``forward stats``."""

    config: Config

    def metrics_text(self) -> str: ...
    def status(self) -> dict[str, Any]: ...
    def snapshot(self) -> DaemonStatus: ...
    def dispatch(self, words: list[str]) -> defer.Deferred[Any]: ...


class MetricsPage(resource.Resource):
    """GET (and HEAD) of /metrics, and of / and /status.json while ``control.status_page``
    is on (read at each request, so a reload toggles it); anything else is 404 or 405."""

    isLeaf = True

    def __init__(self, daemon: DaemonView) -> None:
        super().__init__()
        self.daemon = daemon

    def render(self, request: server.Request) -> bytes | int:
        pages = (PATH, STATUS_PAGE, STATUS_JSON) if self.daemon.config.control.status_page \
            else (PATH,)
        if request.path not in pages:
            return _plain(request, 404, b"not found: try " + b", ".join(pages) + b"\n")
        if request.method not in (b"GET", b"HEAD"):
            # answered here: Twisted would say 501 for methods it does not know (PUT, DELETE)
            request.setHeader(b"allow", b"GET, HEAD")
            return _plain(request, 405, b"method not allowed: read-only\n")
        if request.path == STATUS_JSON:
            # the bytes `netsentinel-ctl status --json` prints
            text = json.dumps(self.daemon.status(), indent=2, sort_keys=True) + "\n"
            return _body(request, b"application/json", text.encode())
        if request.path == STATUS_PAGE:
            return self._status_page(request)
        return _body(request, CONTENT_TYPE.encode(), self.daemon.metrics_text().encode())

    def _status_page(self, request: server.Request) -> bytes | int:
        try:
            asked: list[bytes] = request.args.get(b"refresh", []) if request.args else []
            refresh = refresh_seconds(asked[-1] if asked else None)
        except ValueError:
            return _plain(request, 400, b"refresh: expected whole seconds (0 = off)\n")
        status = self.daemon.snapshot()
        # the open connections are in `forward stats`, not in `status`
        detail = self.daemon.dispatch(["forward", "stats"]) if "forward" in status.features \
            else defer.succeed({})

        def render(stats: dict[str, Any]) -> defer.Deferred[bytes]:
            connections = {name: s.get("open", []) for name, s in stats.items()}
            return flattenString(None, StatusPage(status, connections, refresh,
                                                  sampler=getattr(self.daemon, "history", None)))

        gone: list[Failure] = []        # the client left while the page was built
        request.notifyFinish().addErrback(gone.append)

        def write(page: bytes) -> None:
            if not gone:
                # no script is needed, so none may run, even if escaping ever failed
                request.setHeader(b"content-security-policy",
                                  b"default-src 'none'; style-src 'unsafe-inline'")
                request.write(_body(request, HTML, b"<!DOCTYPE html>\n" + page))
                request.finish()

        def failed(failure: Failure) -> None:
            log.failure("status page failed", failure)
            if not gone:
                request.write(_plain(request, 500, b"internal error: see the daemon's log\n"))
                request.finish()
        detail.addCallback(render).addCallbacks(write, failed)
        return server.NOT_DONE_YET


def _body(request: server.Request, content_type: bytes, body: bytes) -> bytes:
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", b"%d" % len(body))
    return b"" if request.method == b"HEAD" else body   # Twisted warns of a HEAD body


def _plain(request: server.Request, code: int, text: bytes) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return text


class _Channel(http.HTTPChannel):
    """An HTTP connection whose request headers must all be in within ``HEADER_TIMEOUT``
    of the request's first byte: a client sending them a byte at a time is dropped."""

    site: _QuietSite
    _deadline: Any = None

    def dataReceived(self, data: bytes) -> None:
        if self._deadline is None and not self._handlingRequest and data:
            self._deadline = self.callLater(HEADER_TIMEOUT, self._headers_too_slow)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        self._cancel_deadline()
        super().allHeadersReceived()

    def _headers_too_slow(self) -> None:
        self._deadline = None
        self.site.clients.dropped("header_timeout")
        transport: Any = self.transport
        transport.abortConnection()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._cancel_deadline()
        self.site.clients.release()
        super().connectionLost(reason)


class _QuietSite(server.Site):
    protocol = _Channel         # type: ignore[assignment]  # no HTTP/2: headers are ours

    def __init__(self, page: resource.Resource, clients: Clients, reactor: Any) -> None:
        super().__init__(page, timeout=IDLE_TIMEOUT, reactor=reactor)
        self.clients = clients

    def buildProtocol(self, addr: Any) -> Any:
        """None (the socket is closed at once) past the cap or into the last descriptors."""
        if not self.clients.admit():
            return None
        return super().buildProtocol(addr)      # Site sets the channel's ``site``

    def log(self, request: Any) -> None:
        """No access log: Prometheus scrapes all day."""


class MetricsServer(service.Service):
    """Listens on ``listen`` while running; a failed bind is logged and kept in ``error``."""

    def __init__(self, daemon: DaemonView, listen: Endpoint, reactor: Any) -> None:
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
        counters = getattr(self.daemon, "control_clients", None) or ClientCounters()
        site = _QuietSite(MetricsPage(self.daemon), Clients.http(counters), self.reactor)
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

    def status(self) -> MetricsStatus:
        return MetricsStatus(str(self.listen), self.port is not None, self.error)
