"""The metrics/status HTTP resource with DummyRequest, and its channel's header deadline
with a Clock; the daemon is the stand-in of ``standin.py`` in place of the service tree."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.test._util import _render
from twisted.web.test.requesthelper import DummyRequest

from netsentinel.control.clients import HEADER_TIMEOUT, Clients
from netsentinel.control.web import MetricsPage, _QuietSite
from netsentinel.fdbudget import FdBudget, http_cap
from netsentinel.metrics import CONTENT_TYPE
from tests.control.standin import METRICS, StandInDaemon


def get(daemon: StandInDaemon, path: bytes, method: bytes = b"GET",
        args: dict[bytes, list[bytes]] | None = None) -> DummyRequest:
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    request.path = path  # type: ignore[attr-defined]  # DummyRequest lacks it
    request.method = method
    request.args = args or {}
    done: list[Any] = []
    _render(MetricsPage(daemon), request).addBoth(done.append)
    assert done == [None]                    # answered at once: nothing is left waiting
    return request


def header(request: DummyRequest, name: bytes) -> bytes | None:
    values = request.responseHeaders.getRawHeaders(name)
    return values[-1] if values else None


def body(request: DummyRequest) -> bytes:
    return b"".join(request.written)


def test_metrics_text_and_content_type() -> None:
    request = get(StandInDaemon(), b"/metrics")
    assert request.responseCode in (None, 200)
    assert header(request, b"content-type") == CONTENT_TYPE.encode()
    assert b"netsentinel_up 1\n" in body(request).splitlines(keepends=True)
    assert header(request, b"content-length") == b"%d" % len(METRICS)


def test_head_has_headers_and_no_body() -> None:
    request = get(StandInDaemon(), b"/metrics", method=b"HEAD")
    assert header(request, b"content-length") == b"%d" % len(METRICS)
    assert body(request) == b""


def test_status_json_is_the_daemons_status() -> None:
    daemon = StandInDaemon()
    request = get(daemon, b"/status.json")
    assert header(request, b"content-type") == b"application/json"
    assert json.loads(body(request)) == daemon.status()


def test_status_page_is_html() -> None:
    daemon = StandInDaemon()
    request = get(daemon, b"/")
    assert request.responseCode in (None, 200)
    assert header(request, b"content-type") == b"text/html; charset=utf-8"
    assert header(request, b"content-security-policy", ).startswith(  # type: ignore[union-attr]
        b"default-src 'none'")
    page = body(request)
    assert page.startswith(b"<!DOCTYPE html>\n<html")
    assert b"netsentinel 0.0-test" in page
    assert daemon.calls == []                # no forward section: `forward stats` not asked


def test_status_page_asks_forward_stats_when_forward_runs() -> None:
    daemon = StandInDaemon()
    daemon.status_value = dict(daemon.status_value, forward={})
    request = get(daemon, b"/")
    assert body(request).startswith(b"<!DOCTYPE html>")
    assert daemon.calls == [["forward", "stats"]]


def test_status_page_bad_refresh_is_400() -> None:
    request = get(StandInDaemon(), b"/", args={b"refresh": [b"soon"]})
    assert request.responseCode == 400


def test_unknown_path_is_404() -> None:
    request = get(StandInDaemon(), b"/nope")
    assert request.responseCode == 404
    assert body(request) == b"not found: try /metrics, /, /status.json\n"


def test_status_pages_are_404_while_switched_off() -> None:
    daemon = StandInDaemon(status_page=False)
    assert get(daemon, b"/").responseCode == 404
    assert get(daemon, b"/status.json").responseCode == 404
    assert get(daemon, b"/metrics").responseCode in (None, 200)


def test_writes_are_405() -> None:
    request = get(StandInDaemon(), b"/metrics", method=b"DELETE")
    assert request.responseCode == 405
    assert header(request, b"allow") == b"GET, HEAD"


def test_headers_sent_too_slowly_are_cut_off() -> None:
    """The channel's deadline runs on the site's reactor: a Clock here."""
    clock = Clock()
    daemon = StandInDaemon()
    budget = FdBudget(limit=lambda: 4096, count=lambda: 10, clock=clock.seconds)
    admission = Clients("http", daemon.control_clients, http_cap, budget)
    site = _QuietSite(MetricsPage(daemon), admission, clock)
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    assert daemon.control_clients.connected["http"] == 1
    channel.dataReceived(b"GET /metrics HTTP/1.1\r\n")
    clock.advance(HEADER_TIMEOUT - 0.5)
    channel.dataReceived(b"Host: x\r\n")
    assert not transport.disconnected
    clock.advance(0.5)
    assert transport.disconnected            # aborted: whatever was sent so far counts
    assert daemon.control_clients.dropped["http"]["header_timeout"] == 1
    channel.connectionLost(Exception("aborted"))
    assert daemon.control_clients.connected["http"] == 0
    assert not clock.getDelayedCalls()       # no timer left behind


def test_headers_in_time_are_answered() -> None:
    clock = Clock()
    daemon = StandInDaemon()
    budget = FdBudget(limit=lambda: 4096, count=lambda: 10, clock=clock.seconds)
    site = _QuietSite(MetricsPage(daemon),
                      Clients("http", daemon.control_clients, http_cap, budget), clock)
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(HEADER_TIMEOUT * 2)
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(METRICS.encode())
    assert daemon.control_clients.dropped["http"]["header_timeout"] == 0
