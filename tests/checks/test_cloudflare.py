"""The cloudflare protocol's API calls and how each reply maps to a result.

``fetch`` is scripted here: the replies that matter (auth error codes, 404, 429,
HTML from a proxy, a hung API) cannot be had from the real API without an
account, and a Clock drives the timeout without waiting. The real HTTPS path,
against a stand-in API in a namespace, is tests/checks/test_ddns_lab.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.checks import cloudflare
from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.dyndns2 import OK, PERMANENT, TEMPORARY, HostResult

API = "https://api.test/client/v4"
TOKEN = "tok-5e1b"
CONFIG = UpdateConfig(API, "", TOKEN, ("home.example.com", "vpn.example.com"),
                      "cloudflare", zone="example.com")
ZONES = (200, {"success": True, "errors": [], "result": [{"id": "z1", "name": "example.com"}]})


def record(content: str, rid: str = "r1") -> tuple[int, Any]:
    return 200, {"success": True, "errors": [], "result": [{"id": rid, "content": content}]}


PATCHED = (200, {"success": True, "errors": [], "result": {"id": "r1"}})


class Api:
    """Answers each request with the next scripted (status, JSON or bytes); None hangs."""

    def __init__(self, *replies: tuple[int, Any] | None) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, str, Any]] = []
        self.headers: list[dict[bytes, list[bytes]]] = []

    def fetch(self, reactor: Any, url: str, family: int | None, ca: str | None,
              headers: dict[bytes, list[bytes]], limit: int, method: bytes = b"GET",
              body: bytes | None = None) -> defer.Deferred[tuple[int, bytes]]:
        self.requests.append((method.decode(), url.removeprefix(API),
                              None if body is None else json.loads(body)))
        self.headers.append(headers)
        reply = self.replies.pop(0)
        if reply is None:
            return defer.Deferred()
        status, data = reply
        return defer.succeed((status, data if isinstance(data, bytes)
                              else json.dumps(data).encode()))


@pytest.fixture(autouse=True)
def fresh_zone_ids() -> Iterator[None]:
    cloudflare._zone_ids.clear()
    yield
    cloudflare._zone_ids.clear()


def run(api: Api, monkeypatch: pytest.MonkeyPatch, address: str = "192.0.2.7",
        hosts: tuple[str, ...] = CONFIG.hostnames, clock: Clock | None = None,
        ) -> list[tuple[str, str, str]]:
    monkeypatch.setattr(cloudflare, "fetch", api.fetch)
    clock = clock or Clock()
    results: list[list[HostResult]] = []
    cloudflare.update(clock, CONFIG, 10.0, hosts, address).addCallback(results.append)
    clock.advance(11)
    [found] = results
    return [(r.host, r.code, r.kind) for r in found]


def test_updates_a_changed_record_and_leaves_an_equal_one(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    api = Api(ZONES, record("192.0.2.1"), PATCHED, record("192.0.2.7", "r2"))
    assert run(api, monkeypatch) == [("home.example.com", "good", OK),
                                     ("vpn.example.com", "nochg", OK)]
    assert api.requests == [
        ("GET", "/zones?name=example.com", None),
        ("GET", "/zones/z1/dns_records?type=A&name=home.example.com", None),
        ("PATCH", "/zones/z1/dns_records/r1", {"content": "192.0.2.7"}),
        ("GET", "/zones/z1/dns_records?type=A&name=vpn.example.com", None)]
    assert all(h[b"Authorization"] == [b"Bearer " + TOKEN.encode()] for h in api.headers)
    assert api.headers[2][b"Content-Type"] == [b"application/json"]


def test_the_zone_id_is_looked_up_once_and_ipv6_updates_aaaa(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    run(Api(ZONES, record("192.0.2.7"), record("192.0.2.7")), monkeypatch)
    api = Api(record("2001:db8::1"), PATCHED)
    assert run(api, monkeypatch, "2001:db8::7", CONFIG.hostnames[:1]) == [
        ("home.example.com", "good", OK)]
    assert api.requests[0] == (
        "GET", "/zones/z1/dns_records?type=AAAA&name=home.example.com", None)


def test_a_refused_token_is_badauth_for_every_host_without_more_requests(
        monkeypatch: pytest.MonkeyPatch) -> None:
    error = {"success": False, "errors": [{"code": 9109, "message": "Invalid access token"}],
             "result": None}
    api = Api((403, error))
    assert run(api, monkeypatch) == [(h, "badauth", PERMANENT) for h in CONFIG.hostnames]
    assert len(api.requests) == 1
    # an auth error code decides even without 401/403
    api = Api(ZONES, (400, {"success": False, "errors": [{"code": 10000, "message": "Auth"}]}))
    assert run(api, monkeypatch) == [(h, "badauth", PERMANENT) for h in CONFIG.hostnames]
    assert len(api.requests) == 2


def test_a_missing_zone_or_record_is_nohost(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = (200, {"success": True, "errors": [], "result": []})
    assert run(Api(empty), monkeypatch) == [(h, "nohost", PERMANENT) for h in CONFIG.hostnames]
    api = Api(ZONES, empty, record("192.0.2.1"), PATCHED)
    assert run(api, monkeypatch) == [("home.example.com", "nohost", PERMANENT),
                                     ("vpn.example.com", "good", OK)]
    assert [m for m, _, _ in api.requests] == ["GET", "GET", "GET", "PATCH"]   # never a POST
    api = Api(ZONES, record("192.0.2.7"))          # the zone is looked up again after nohost
    assert run(api, monkeypatch, hosts=CONFIG.hostnames[:1]) == [
        ("home.example.com", "nochg", OK)]
    assert api.requests[0] == ("GET", "/zones?name=example.com", None)


def test_overload_outages_and_strange_replies_are_temporary(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    one = CONFIG.hostnames[:1]
    busy = {"success": False, "errors": [{"code": 971, "message": "Please wait"}]}
    assert run(Api((429, busy)), monkeypatch, hosts=one) == [(one[0], "http 429", TEMPORARY)]
    assert run(Api((502, b"<html>Bad gateway</html>")), monkeypatch, hosts=one) == [
        (one[0], "http 502", TEMPORARY)]
    assert run(Api((200, b"{\"result\": []}")), monkeypatch, hosts=one) == [
        (one[0], "http 200", TEMPORARY)]
    assert run(Api(None), monkeypatch, hosts=one) == [(one[0], "network", TEMPORARY)]


def test_details_say_what_the_api_said_and_never_hold_the_token() -> None:
    with pytest.raises(cloudflare.Refused) as caught:
        cloudflare.judge(200, b"<html>captive portal</html>")
    assert "not a Cloudflare API reply" in caught.value.detail
    with pytest.raises(cloudflare.Refused) as caught:
        cloudflare.judge(403, json.dumps({"success": False, "errors": [
            {"code": 9109, "message": "Invalid access token"}]}).encode())
    assert caught.value.detail == "the API token is refused (9109: Invalid access token)"
    assert TOKEN not in repr(CONFIG)
