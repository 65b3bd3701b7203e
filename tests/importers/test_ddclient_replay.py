"""ddclient's own test cases, replayed: ``t/parse_assignments.pl`` through the importer's
parser and ``t/protocol_dyndns2.pl`` through our dyndns2 client against a real HTTP
stand-in on loopback.

The fixtures are the project's own cases in the shapes of ddclient's (every category of
its cases is covered); the assignment cases were checked against ddclient 4.0's
``parse_assignments`` itself.  A dyndns2 case's ``wantrecap`` says per host what ddclient
records: an ``ipv4``/``ipv6`` key for an address the provider took, ``status-ipvN`` for its
word (``unknown`` when the reply has no line for the host: our code ``missing``);
``wantlogs`` are its log lines: SUCCESS, FAILED (the message pattern must match our
result's code and detail), WARNING (``nochg`` for one host, else a warning we log).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import attrs
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.logger import ILogObserver, globalLogPublisher
from twisted.web import resource, server

from netsentinel.checks import dyndns2
from netsentinel.checks.provider_config import UpdateConfig
from netsentinel.cli.importers.ddclient.conf import ddclient_values, parse_assignments

FIXTURES = Path(__file__).parent / "fixtures" / "ddclient"
ENV = {"NS_TEST_SECRET": "s3cr3t", "NS_TEST_LOGIN": "me"}
ASSIGN_CASES = json.loads((FIXTURES / "assign-cases.json").read_text())
DYNDNS2_CASES = json.loads((FIXTURES / "dyndns2-cases.json").read_text())


@pytest.mark.parametrize("case", ASSIGN_CASES, ids=[c["name"] for c in ASSIGN_CASES])
def test_assignments_parse_as_ddclient_parses_them(case: dict[str, Any]) -> None:
    parsed = parse_assignments(case["input"], ENV)
    assert (ddclient_values(parsed.found), parsed.rest) == (case["want_vars"], case["want_rest"])


def test_assignment_cases_cover_every_category_of_ddclients() -> None:
    categories = {"no assignments", "one assignment", "empty value", "sep", "leading space",
                  "trailing space", "leading comma", "trailing comma", "empty assignment",
                  "rest", "assign space rest", "assign comma rest", "single quoting",
                  "double quoting", "mixed quoting", "unquoted escaped backslash",
                  "squoted escaped squote", "dquoted escaped dquote", "env", "newline"}
    names = {c["name"] for c in ASSIGN_CASES}
    assert {c for c in categories if not any(n.startswith(c) for n in names)} == set()


@attrs.define
class StandIn(resource.Resource):
    """A dyndns2 provider: records each request's query and credentials, answers ``lines``."""

    isLeaf = True
    lines: list[str] = attrs.Factory(list)
    queries: list[str] = attrs.Factory(list)
    credentials: list[bytes | None] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        resource.Resource.__init__(self)

    def render_GET(self, request: Any) -> bytes:
        self.queries.append(urlsplit(request.uri.decode()).query)
        self.credentials.append(request.getHeader(b"authorization"))
        request.setHeader(b"content-type", b"text/plain")
        return "".join(f"{line}\n" for line in self.lines).encode()


@pytest.fixture
def provider() -> Iterator[tuple[StandIn, int]]:
    stand_in = StandIn()
    port = reactor.listenTCP(0, server.Site(stand_in), interface="127.0.0.1")  # type: ignore[arg-type]
    try:
        yield stand_in, port.getHost().port  # type: ignore[attr-defined]  # an IPv4Address
    finally:
        pytest_twisted.blockon(port.stopListening())


def perl_pattern(text: str) -> str:
    """``(?^:X)`` as Perl's qr// prints it: X."""
    return text.removeprefix("(?^:").removesuffix(")")


def check_case(case: dict[str, Any], results: list[dyndns2.HostResult],
               warnings: list[str]) -> None:
    by_host = {r.host: r for r in results}
    for host, recap in case["wantrecap"].items():
        result = by_host[host]
        for family in ("ipv4", "ipv6"):
            status = recap.get(f"status-{family}")
            if status is None:
                continue
            if status == "good":
                assert result.kind == dyndns2.OK and recap[family] == case["cfg"][host][f"want{family}"]
            else:
                assert result.kind != dyndns2.OK and family not in recap
                assert result.code == {"unknown": "missing"}.get(status, status)
    for entry in case["wantlogs"]:
        hosts, pattern = entry["ctx"][0].split(","), perl_pattern(entry["msg"])
        if entry["label"] == "SUCCESS":
            assert all(by_host[h].kind == dyndns2.OK for h in hosts)
        elif entry["label"] == "FAILED":
            assert all(re.search(pattern, f"{by_host[h].code}: {by_host[h].detail}") and
                       by_host[h].kind != dyndns2.OK for h in hosts)
        elif len(hosts) == 1 and pattern == "nochg":
            assert by_host[hosts[0]].code == "nochg"
        else:
            assert any(re.search(pattern, w) for w in warnings), (pattern, warnings)


@pytest.mark.parametrize("case", DYNDNS2_CASES, ids=[c["desc"] for c in DYNDNS2_CASES])
@pytest_twisted.inlineCallbacks
def test_dyndns2_requests_and_replies_as_ddclients(case: dict[str, Any],
                                                   provider: tuple[StandIn, int]) -> Any:
    stand_in, port = provider
    stand_in.lines = case["resp"]
    hosts = tuple(case["cfg"])
    [wanted] = {tuple(sorted(cfg.values())) for cfg in case["cfg"].values()}  # one group
    config = UpdateConfig(f"http://127.0.0.1:{port}/nic/update", "user", "pw", hosts)
    warnings: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_namespace") == dyndns2.log.namespace and "warning" in event:
            warnings.append(event["warning"])

    globalLogPublisher.addObserver(cast(ILogObserver, observe))
    try:
        results = yield dyndns2.update(reactor, config, 10.0, hosts, dyndns2.myip(*wanted))
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, observe))
    assert stand_in.queries == [case["wantquery"]]
    assert stand_in.credentials == [b"Basic dXNlcjpwdw=="]
    check_case(case, results, warnings)


@pytest_twisted.inlineCallbacks
def test_dyndns2_without_login_sends_no_credentials(provider: tuple[StandIn, int]) -> Any:
    stand_in, port = provider
    stand_in.lines = ["good"]
    config = UpdateConfig(f"http://127.0.0.1:{port}/update?token=t0k", "", "", ("a.example",))
    [result] = yield dyndns2.update(reactor, config, 10.0, ("a.example",), "198.51.100.1")
    assert result.kind == dyndns2.OK and stand_in.credentials == [None]
    assert stand_in.queries == ["token=t0k&hostname=a.example&myip=198.51.100.1"]


def test_myip_puts_ipv4_first_and_refuses_two_of_one_family() -> None:
    assert dyndns2.myip("2001:db8::1", "192.0.2.1") == "192.0.2.1,2001:db8::1"
    with pytest.raises(ValueError):
        dyndns2.myip("192.0.2.1", "192.0.2.2")
