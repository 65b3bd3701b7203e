"""The names service with a Clock, a stand-in resolver and a recording nft: TTL
scheduling, unions, stale answers, logging, status (no root, no network)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.names import dns
from twisted.names import error as dns_error

from netsentinel.actions import ActionRunner
from netsentinel.events import EventBus
from netsentinel.features import Context
from netsentinel.names.config import NamesConfig, NameSetConfig
from netsentinel.names.report import NamesStatus
from netsentinel.names.service import NameFollower
from netsentinel.snapshot import from_json
from tests.test_set_writer import FakeNft

Zone = dict[tuple[str, str], Any]     # (name, "A"|"AAAA") -> [(address, ttl)] or an exception


class StandIn:
    """A resolver answering from ``zone``; it remembers every question."""

    def __init__(self) -> None:
        self.zone: Zone = {}
        self.asked: list[tuple[str, str]] = []

    def lookupAddress(self, name: str, timeout: Any = None) -> defer.Deferred[Any]:
        return self._answer(name, "A")

    def lookupIPV6Address(self, name: str, timeout: Any = None) -> defer.Deferred[Any]:
        return self._answer(name, "AAAA")

    def _answer(self, name: str, family: str) -> defer.Deferred[Any]:
        self.asked.append((name, family))
        found = self.zone.get((name, family), [])
        if isinstance(found, Exception):
            return defer.fail(found)
        kind, record = (dns.A, dns.Record_A) if family == "A" else (dns.AAAA, dns.Record_AAAA)
        return defer.succeed(([dns.RRHeader(name, kind, ttl=ttl, payload=record(address, ttl))
                               for address, ttl in found], [], []))


@attrs.define
class Setup:
    clock: Clock
    dns: StandIn
    nft: FakeNft
    service: NameFollower

    def set(self, name: str) -> set[str]:
        return set(self.nft.sets.get(name, set()))

    def asked(self, name: str) -> int:
        return sum(1 for n, family in self.dns.asked if n == name and family == "A")


ENTRY = NameSetConfig("allow", ("a.example", "b.example"), min_ttl=10, max_ttl=300, stale_for=100)


@pytest.fixture
def setup() -> Setup:
    clock, bus = Clock(), EventBus()
    standin, nft = StandIn(), FakeNft({}, clock)
    standin.zone = {("a.example", "A"): [("192.0.2.1", 60)],
                    ("b.example", "A"): [("192.0.2.1", 30), ("192.0.2.2", 30)],
                    ("b.example", "AAAA"): [("2001:db8::2", 30)]}
    service = NameFollower(NamesConfig((("192.0.2.53", 53),), (ENTRY,)),
                           Context(clock, bus, ActionRunner(clock, bus, 1, 1, 1.0)),
                           resolver=lambda config, reactor: standin,
                           nft=lambda: nft,   # type: ignore[arg-type, return-value]
                           in_thread=defer.maybeDeferred)
    service.startService()
    return Setup(clock, standin, nft, service)


def test_start_fills_the_sets_with_the_union_and_element_timeouts(setup: Setup) -> None:
    assert setup.service.when_ready().called
    assert setup.set("allow") == {"192.0.2.1", "192.0.2.2"}
    assert setup.set("allow6") == {"2001:db8::2"}
    assert setup.nft.expiry[("allow", "192.0.2.1")][0] == 120      # a's 60 s + 60 s grace
    assert setup.nft.expiry[("allow", "192.0.2.2")][0] == 60       # b's 30 s + 30 s grace
    assert setup.nft.transactions == 1


def test_each_name_is_asked_again_when_its_ttl_runs_out(setup: Setup) -> None:
    setup.clock.advance(29)
    assert (setup.asked("a.example"), setup.asked("b.example")) == (1, 1)
    setup.clock.advance(1)
    assert (setup.asked("a.example"), setup.asked("b.example")) == (1, 2)
    setup.clock.advance(30)
    assert (setup.asked("a.example"), setup.asked("b.example")) == (2, 3)


def test_ttl_below_min_ttl_is_clamped(setup: Setup) -> None:
    setup.dns.zone[("b.example", "A")] = [("192.0.2.2", 1)]
    setup.clock.advance(30)
    assert setup.asked("b.example") == 2
    setup.clock.advance(9)
    assert setup.asked("b.example") == 2
    setup.clock.advance(1)
    assert setup.asked("b.example") == 3


def test_a_changed_answer_changes_the_set_in_one_transaction(setup: Setup) -> None:
    setup.dns.zone[("b.example", "A")] = [("192.0.2.3", 30)]
    setup.clock.advance(30)
    setup.clock.advance(1)          # the debounced write
    assert setup.set("allow") == {"192.0.2.1", "192.0.2.3"}
    assert setup.nft.transactions == 2


def test_elements_never_expire_while_the_service_runs(setup: Setup) -> None:
    for _ in range(60):
        setup.clock.advance(5)
        assert setup.set("allow") == {"192.0.2.1", "192.0.2.2"}
        assert setup.set("allow6") == {"2001:db8::2"}


def test_nxdomain_keeps_the_last_good_answer_until_stale_for_passes(setup: Setup) -> None:
    setup.dns.zone[("b.example", "A")] = dns_error.DNSNameError("b.example")
    setup.clock.advance(30)
    record = setup.service.status().names["allow"].names["b.example"]["A"]
    assert (record.state, record.addresses) == ("stale", ("192.0.2.1", "192.0.2.2"))
    for _ in range(13):
        setup.clock.advance(5)
        assert setup.set("allow") == {"192.0.2.1", "192.0.2.2"}
    setup.clock.advance(6)          # 101 s since the last good answer
    setup.clock.advance(1)
    assert setup.set("allow") == {"192.0.2.1"}          # a.example still gives .1
    record = setup.service.status().names["allow"].names["b.example"]["A"]
    assert (record.state, record.addresses, record.last_ok) == ("nxdomain", (), 0.0)


def test_failures_are_logged_once_per_change_of_state(setup: Setup) -> None:
    with capturedLogs() as events:
        setup.dns.zone[("b.example", "A")] = dns_error.DNSServerError("b.example")
        for _ in range(12):
            setup.clock.advance(5)      # three failed queries (at 30, 40, 60), still stale
        setup.dns.zone[("b.example", "A")] = [("192.0.2.2", 30)]
        setup.service.sync()
    lines = [formatEvent(e) for e in events if "b.example A" in formatEvent(e)]
    assert len(lines) == 2, lines
    assert "servfail" in lines[0] and "keeping 2 addresses" in lines[0]
    assert "resolves: 192.0.2.2" in lines[1]
    assert setup.service.queries["servfail"] == 3


def test_timeout_is_its_own_state_and_counted(setup: Setup) -> None:
    setup.dns.zone[("a.example", "AAAA")] = defer.TimeoutError("a.example")
    setup.service.sync()
    status = setup.service.status()
    assert status.names["allow"].names["a.example"]["AAAA"].state == "timeout"
    assert status.queries["timeout"] == 1 and status.states["timeout"] == 1
    assert status.problems() == ["names: a.example AAAA (allow): timeout: timeout: a.example"]


def test_sync_command_asks_every_name_now(setup: Setup) -> None:
    setup.dns.zone[("a.example", "A")] = [("192.0.2.7", 60)]
    answer = setup.service.commands()["names sync"]([])
    assert answer.result == "OK: 4 lookups, 0 failing"
    assert setup.set("allow") == {"192.0.2.1", "192.0.2.2", "192.0.2.7"}


def test_status_reads_back_from_its_json_and_has_metrics(setup: Setup) -> None:
    status = setup.service.status()
    again = from_json(NamesStatus, json.loads(json.dumps(status.to_json())))
    assert again == status
    families = {f.name: f for f in status.metrics()}
    assert dict(families["netsentinel_names_set_elements"].samples) == {("allow",): 2,
                                                                        ("allow6",): 1}
    assert dict(families["netsentinel_names_lookups"].samples)[("ok",)] == 4
    assert dict(families["netsentinel_names_queries_total"].samples)[("ok",)] == 4


def test_reconfigure_empties_the_sets_of_a_removed_entry(setup: Setup) -> None:
    other = NameSetConfig("other", ("a.example",))
    setup.service.reconfigure(NamesConfig((("192.0.2.53", 53),), (other,)))
    assert setup.set("other") == {"192.0.2.1"}
    assert setup.set("allow") == set() and setup.set("allow6") == set()


def test_stop_cancels_every_timer(setup: Setup) -> None:
    setup.service.stopService()
    assert setup.clock.getDelayedCalls() == []
