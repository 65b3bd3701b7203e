"""Reading answers and keeping them: CNAME chains, TTL clamping, stale answers, unions."""

from __future__ import annotations

from twisted.names import dns

from netsentinel.names.config import NameSetConfig
from netsentinel.names.records import (
    Answer,
    Record,
    answered,
    element_timeout,
    expired,
    failed,
    read_answer,
    union,
)

ENTRY = NameSetConfig("allow", ("a.example",), min_ttl=30, max_ttl=600, stale_for=100)


def a(name: str, address: str, ttl: int = 300) -> dns.RRHeader:
    return dns.RRHeader(name, dns.A, ttl=ttl, payload=dns.Record_A(address, ttl))


def cname(name: str, target: str, ttl: int = 300) -> dns.RRHeader:
    return dns.RRHeader(name, dns.CNAME, ttl=ttl, payload=dns.Record_CNAME(target, ttl))


def test_cname_chain_is_followed_and_the_lowest_ttl_counts() -> None:
    answers = [cname("a.example", "b.example", 120), cname("B.example", "c.example", 900),
               a("c.example", "192.0.2.1", 300), a("other.example", "192.0.2.9", 5)]
    assert read_answer("a.example", "A", answers) == Answer(frozenset({"192.0.2.1"}), 120)


def test_unresolved_cname_target_is_asked_for_next() -> None:
    assert read_answer("a.example", "A", [cname("a.example", "b.example", 60)]) == \
        Answer(frozenset(), 60, "b.example")


def test_aaaa_answer_and_empty_answer_take_the_soa_ttl() -> None:
    six = dns.RRHeader("a.example", dns.AAAA, ttl=40, payload=dns.Record_AAAA("2001:db8::1"))
    assert read_answer("a.example", "AAAA", [six]) == Answer(frozenset({"2001:db8::1"}), 40)
    soa = dns.RRHeader("example", dns.SOA, ttl=900, payload=dns.Record_SOA(minimum=50))
    assert read_answer("a.example", "AAAA", [], [soa]) == Answer(frozenset(), 50)
    assert read_answer("a.example", "AAAA", []) == Answer(frozenset(), None)


def test_ttl_is_clamped_to_min_and_max_ttl() -> None:
    low = answered(Record(), Answer(frozenset({"192.0.2.1"}), 5), 1000.0, ENTRY)
    assert (low.ttl, low.next_query, low.state) == (30, 1030.0, "ok")
    high = answered(Record(), Answer(frozenset({"192.0.2.1"}), 86400), 1000.0, ENTRY)
    assert high.ttl == 600
    assert answered(Record(), Answer(frozenset(), None), 0.0, ENTRY).ttl == 30


def test_failure_keeps_the_last_good_answer_until_stale_for_then_drops_it() -> None:
    ok = answered(Record(), Answer(frozenset({"192.0.2.1"}), 30), 0.0, ENTRY)
    stale = failed(ok, "nxdomain", "no such name", 30.0, ENTRY)
    assert (stale.state, stale.addresses, stale.error) == (
        "stale", frozenset({"192.0.2.1"}), "nxdomain: no such name")
    assert stale.next_query == 60.0 and stale.wake_at(ENTRY) == 60.0
    again = failed(stale, "nxdomain", "no such name", 60.0, ENTRY)
    assert again.next_query == 120.0 and again.wake_at(ENTRY) == 100.0   # backoff; drop first
    assert expired(again, 99.0, ENTRY) == again
    dropped = expired(again, 100.0, ENTRY)
    assert (dropped.state, dropped.addresses) == ("nxdomain", frozenset())
    assert failed(dropped, "timeout", "t", 130.0, ENTRY).state == "timeout"


def test_failure_without_a_good_answer_is_its_result() -> None:
    record = failed(Record(), "servfail", "server failure", 0.0, ENTRY)
    assert (record.state, record.addresses) == ("servfail", frozenset())


def test_union_keeps_the_longer_timeout_of_an_address_two_names_give() -> None:
    one = answered(Record(), Answer(frozenset({"192.0.2.1", "192.0.2.2"}), 30), 0.0, ENTRY)
    two = answered(Record(), Answer(frozenset({"192.0.2.2"}), 300), 0.0, ENTRY)
    assert union([one, two, Record()]) == {"192.0.2.1": element_timeout(30),
                                           "192.0.2.2": element_timeout(300)}
    assert (element_timeout(10), element_timeout(30), element_timeout(300)) == (40, 60, 600)
