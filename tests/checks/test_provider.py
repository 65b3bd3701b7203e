"""Updating a DNS provider: the dyndns2 reply parser and the updater driven by a Clock.

The updater's transport is a stand-in that answers with canned dyndns2 replies:
backoff and min_interval span minutes to hours, which only a Clock can drive
without sleeping, and a Clock cannot drive real sockets. The real HTTPS path,
against a dyndns2 server in a namespace, is tests/checks/test_ddns_lab.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.checks.config import DdnsConfig, InterfaceSource, UpdateConfig
from netsentinel.checks.ddns import DdnsMonitor
from netsentinel.checks.dyndns2 import (
    OK,
    PERMANENT,
    TEMPORARY,
    HostResult,
    parse_reply,
    request_url,
)
from netsentinel.checks.provider import (
    FAILED,
    PENDING,
    RETRYING,
    ProviderUpdater,
    retry_delay,
)
from netsentinel.metrics import render
from tests.checks.fakes import FakeEngine, tools
from tests.lab import samples

HOSTS = ("home.example.org", "vpn.example.org")


def kinds(results: list[HostResult]) -> list[tuple[str, str, str]]:
    return [(r.host, r.code, r.kind) for r in results]


def test_one_result_line_per_host_in_order() -> None:
    reply = b"good 192.0.2.7\nnohost\n"
    assert kinds(parse_reply(200, reply, HOSTS)) == [
        ("home.example.org", "good", OK), ("vpn.example.org", "nohost", PERMANENT)]


def test_one_line_answers_for_every_host() -> None:
    assert kinds(parse_reply(401, b"badauth\n", HOSTS)) == [
        (h, "badauth", PERMANENT) for h in HOSTS]
    assert kinds(parse_reply(200, b"911\n", HOSTS)) == [(h, "911", TEMPORARY) for h in HOSTS]


def test_replies_without_a_dyndns2_word_follow_the_http_status() -> None:
    assert kinds(parse_reply(503, b"<html>busy</html>", HOSTS[:1])) == [
        (HOSTS[0], "http 503", TEMPORARY)]
    assert kinds(parse_reply(404, b"", HOSTS[:1])) == [(HOSTS[0], "http 404", PERMANENT)]
    assert kinds(parse_reply(429, b"", HOSTS[:1])) == [(HOSTS[0], "http 429", TEMPORARY)]
    assert kinds(parse_reply(200, b"good\ngood\n", HOSTS + ("x.example.org",)))[2:] == [
        ("x.example.org", "missing", TEMPORARY)]
    assert kinds(parse_reply(200, b"nochg\nwhatever\n", HOSTS))[1] == (
        "vpn.example.org", "whatever", TEMPORARY)


def test_request_keeps_the_servers_own_query() -> None:
    assert request_url("https://dyn.example/nic/update?system=dyndns", HOSTS, "192.0.2.7") == (
        "https://dyn.example/nic/update?system=dyndns"
        "&hostname=home.example.org,vpn.example.org&myip=192.0.2.7")


def test_retry_delay_doubles_to_an_hour_never_below_min_interval() -> None:
    assert [retry_delay(n, 60) for n in (1, 2, 3, 4, 5, 9)] == [
        300, 600, 1200, 2400, 3600, 3600]
    assert retry_delay(1, 900) == 900


class Provider:
    """Answers each update with the next canned reply and records what was asked."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[tuple[str, ...], str]] = []

    def send(self, hosts: tuple[str, ...], address: str) -> defer.Deferred[list[HostResult]]:
        self.asked.append((hosts, address))
        return defer.succeed(parse_reply(200, self.replies.pop(0), hosts))


def updater(provider: Provider, confirmed: dict[str, tuple[str, float | None]] | None = None,
            min_interval: float = 300.0,
            max_interval: float = 25 * 86400) -> tuple[ProviderUpdater, list[tuple[Any, ...]],
                                                        Clock]:
    clock = Clock()
    clock.advance(1000)
    events: list[tuple[Any, ...]] = []
    config = UpdateConfig("https://dyn.example/nic/update", "me", "s3cret", HOSTS,
                          min_interval=min_interval, max_interval=max_interval)
    u = ProviderUpdater("ext", config, clock, provider.send,
                        lambda *args, **kw: events.append(args), lambda: None, confirmed or {})
    return u, events, clock


def test_good_updates_every_host_once() -> None:
    provider = Provider(b"good 192.0.2.7\ngood 192.0.2.7\n")
    u, events, clock = updater(provider)
    u.want("192.0.2.7")
    assert u.state == PENDING
    clock.advance(0)
    u.want("192.0.2.7")
    clock.advance(86400)
    assert provider.asked == [(HOSTS, "192.0.2.7")]
    assert events == [("ddns-provider-updated", "192.0.2.7", ",".join(HOSTS))]
    assert u.state == "ok" and u.address() == "192.0.2.7" and u.confirmed() == dict.fromkeys(
        HOSTS, ("192.0.2.7", 1000))


def test_confirmed_hosts_are_not_sent_again() -> None:
    provider = Provider(b"nochg 192.0.2.7\n")
    u, events, clock = updater(provider, confirmed={HOSTS[0]: ("192.0.2.7", 900)})
    u.want("192.0.2.7")
    clock.advance(0)
    assert provider.asked == [(HOSTS[1:], "192.0.2.7")]
    assert events == [("ddns-provider-updated", "192.0.2.7", HOSTS[1])]


def test_badauth_is_never_retried_until_the_address_changes() -> None:
    provider = Provider(b"badauth\n", b"good\ngood\n")
    u, events, clock = updater(provider)
    u.want("192.0.2.7")
    clock.advance(0)
    assert u.state == FAILED and events == [("ddns-provider-error", "badauth")]
    for _ in range(48):
        clock.advance(3600)
        u.want("192.0.2.7")
    assert len(provider.asked) == 1 and u.next_attempt() is None
    u.want("192.0.2.8")
    clock.advance(300)        # min_interval after the refused attempt
    assert provider.asked[1:] == [(HOSTS, "192.0.2.8")] and u.state == "ok"


def test_911_is_retried_with_backoff_then_succeeds() -> None:
    provider = Provider(b"911\n", b"dnserr\n", b"good\ngood\n")
    u, events, clock = updater(provider, min_interval=60)
    u.want("192.0.2.7")
    clock.advance(0)
    assert u.state == RETRYING and u.next_attempt() == clock.seconds() + 300
    assert events == [("ddns-provider-retry", "911", "300")]
    clock.advance(299)
    assert len(provider.asked) == 1
    clock.advance(1)
    assert len(provider.asked) == 2 and events[-1] == ("ddns-provider-retry", "dnserr", "600")
    clock.advance(600)
    assert len(provider.asked) == 3 and u.state == "ok" and u.attempts == 0
    assert u.status().results == {"911": 2, "dnserr": 2, "good": 2}


def test_no_two_updates_of_a_host_within_min_interval() -> None:
    provider = Provider(b"good\ngood\n", b"good\ngood\n")
    u, _, clock = updater(provider, min_interval=300)
    u.want("192.0.2.7")
    clock.advance(0)
    clock.advance(10)
    u.want("192.0.2.8")
    clock.advance(289)
    assert len(provider.asked) == 1 and u.next_attempt() == clock.seconds() + 1
    clock.advance(1)
    assert provider.asked[1] == (HOSTS, "192.0.2.8")


def test_an_unchanged_address_is_refreshed_after_max_interval() -> None:
    """Free accounts expire host names nobody updates: re-send before that, not sooner."""
    provider = Provider(b"nochg\n", b"nochg\nnochg\n")
    u, events, clock = updater(provider, confirmed={HOSTS[0]: ("192.0.2.7", 0),
                                                    HOSTS[1]: ("192.0.2.7", None)},
                               max_interval=86400)
    clock.advance(43200)
    u.want("192.0.2.7")                 # each check tells the address again
    clock.advance(0)
    assert provider.asked == []
    clock.advance(43200 - 1)
    u.want("192.0.2.7")
    clock.advance(0)
    assert provider.asked == [((HOSTS[0],), "192.0.2.7")]     # confirmed a day ago
    clock.advance(43200)
    u.want("192.0.2.7")                 # the line without a time counted from the start
    clock.advance(0)
    assert provider.asked[1:] == [((HOSTS[1],), "192.0.2.7")]
    assert u.confirmed()[HOSTS[0]] == ("192.0.2.7", clock.seconds() - 43200)


def test_max_interval_zero_never_refreshes() -> None:
    provider = Provider()
    u, _, clock = updater(provider, confirmed=dict.fromkeys(HOSTS, ("192.0.2.7", 1000)),
                          max_interval=0)
    for _ in range(400):
        clock.advance(86400)
        u.want("192.0.2.7")
    assert provider.asked == []


def test_state_file_holds_the_providers_address_across_restarts(tmp_path: Path) -> None:
    """The monitor writes what the provider confirmed beside the address; a new monitor
    reading that file sends nothing for the same address."""
    config = DdnsConfig("ext", (InterfaceSource("wan0"),), interval=60, accept_private=True,
                        state_file=str(tmp_path / "ip"),
                        update=UpdateConfig("https://dyn.example/nic/update", "me", "pw",
                                            HOSTS))
    provider = Provider(b"good\ngood\n")

    def monitor() -> DdnsMonitor:
        t, _ = tools(Clock(), FakeEngine())
        m = DdnsMonitor(config, t, lambda name, family: ["10.1.1.1"])
        assert m.provider is not None
        m.provider.send = provider.send
        m.startService()
        t.clock.advance(0)
        return m

    monitor().stopService()
    assert (tmp_path / "ip").read_text() == (
        "10.1.1.1\nhome.example.org 10.1.1.1 0\nvpn.example.org 10.1.1.1 0\n")
    again = monitor()
    assert len(provider.asked) == 1 and (p := again.status().provider) is not None and p.state == "ok"


def test_provider_metrics() -> None:
    provider = Provider(b"good\n911\n")
    u, _, clock = updater(provider)
    config = DdnsConfig("ext", (InterfaceSource("wan0"),), interval=60, accept_private=True,
                        update=u.config)
    t, _ = tools(clock, FakeEngine())
    m = DdnsMonitor(config, t, lambda name, family: ["10.1.1.1"])
    assert m.provider is not None
    m.provider.send = provider.send
    m.startService()
    clock.advance(0)
    found = samples(render(m.metrics()))
    assert found['netsentinel_ddns_provider_state{name="ext",state="retrying"}'] == 1
    assert found['netsentinel_ddns_provider_state{name="ext",state="ok"}'] == 0
    assert found['netsentinel_ddns_provider_requests_total{name="ext"}'] == 1
    assert found['netsentinel_ddns_provider_results_total{name="ext",result="911"}'] == 1
    assert found['netsentinel_ddns_provider_last_attempt_timestamp_seconds{name="ext"}'] == 1000
    assert found['netsentinel_ddns_provider_next_attempt_timestamp_seconds{name="ext"}'] == 1300
    assert not any(k.startswith("netsentinel_ddns_provider_address_info") for k in found)
