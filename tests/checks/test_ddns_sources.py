"""Where the address comes from: agreement between sources, ranges never taken, DNS
methods, and the checks that events start (an interface change, a failover switch).

Sources here are interfaces answered from a table, so agreement and timing are driven
by a Clock; the real sockets are in test_ddns_lab.py and test_rfc2136_lab.py."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.names import dns

from netsentinel.checks.config import DdnsConfig, InterfaceSource
from netsentinel.checks.ddns import DdnsMonitor, check_address
from netsentinel.checks.dns import _texts
from netsentinel.checks.events import CheckEvent
from netsentinel.checks.sources import AddressSources, SourceError, validate
from tests.checks.fakes import FakeEngine, tools

SOURCES = tuple(InterfaceSource(f"wan{n}") for n in range(3))


def sources(table: dict[str, str], agree: int, **extra: Any) -> AddressSources:
    config = DdnsConfig("ext", SOURCES, accept_private=True, agree=agree, **extra)
    return AddressSources(Clock(), config, lambda name, family: [table[name]] if name in table
                          else [])


def found(d: defer.Deferred[Any]) -> Any:
    result: list[Any] = []
    d.addCallback(result.append)
    assert result, "the lookup did not finish"
    return result[0]


def test_one_lying_source_cannot_move_the_address() -> None:
    lying = sources({"wan0": "10.9.9.9", "wan1": "10.0.0.7", "wan2": "10.0.0.7"}, agree=2)
    address, failures = found(lying.first(4))
    assert address == "10.0.0.7"
    assert failures == [("agree", "sources disagree: 10.0.0.7 from interface wan1, "
                         "interface wan2; 10.9.9.9 from interface wan0")]


def test_without_agreement_no_address_is_taken() -> None:
    split = sources({"wan0": "10.9.9.9", "wan1": "10.0.0.7"}, agree=2)
    address, failures = found(split.first(4))
    assert address is None
    assert failures[-1] == ("agree", "no address reported by 2 sources")


def test_agree_one_takes_the_first_source_that_answers() -> None:
    first = sources({"wan1": "10.0.0.7", "wan2": "10.0.0.8"}, agree=1)
    address, failures = found(first.first(4))
    assert address == "10.0.0.7"
    assert failures == [("interface wan0", "wan0 has no usable IPv4 address")]


@pytest.mark.parametrize("address", ["192.0.2.7", "198.51.100.1", "203.0.113.9",
                                     "2001:db8::1", "127.0.0.1", "169.254.1.1", "224.0.0.1",
                                     "fe80::1", "ff02::1"])
def test_never_an_external_address_even_with_accept_private(address: str) -> None:
    family = ipaddress.ip_address(address).version
    with pytest.raises(SourceError):
        validate(address, family, accept_private=True)


@pytest.mark.parametrize("address", ["10.1.1.1", "100.64.0.1", "192.168.1.1", "fd00::1"])
def test_private_and_cgnat_only_with_accept_private(address: str) -> None:
    family = ipaddress.ip_address(address).version
    with pytest.raises(SourceError, match="private"):
        validate(address, family, accept_private=False)
    assert validate(address, family, accept_private=True) == address


def test_rejected_networks_are_never_taken() -> None:
    cdn = (ipaddress.ip_network("104.16.0.0/13"),)
    with pytest.raises(SourceError, match="rejected 104.16.0.0/13"):
        validate("104.16.1.1", 4, False, cdn)
    assert validate("8.8.8.8", 4, False, cdn) == "8.8.8.8"


def test_whoami_cloudflare_txt_answer_is_read() -> None:
    message = dns.Message()
    message.answers.append(dns.RRHeader(b"whoami.cloudflare", dns.TXT, dns.CH,
                                        payload=dns.Record_TXT(b"203.0.114.5")))
    assert _texts(message) == ["203.0.114.5"]


def test_dual_stack_state_is_read_back() -> None:
    assert check_address("10.0.0.7,fd00::7", (4, 6)) == "10.0.0.7,fd00::7"
    with pytest.raises(SourceError):
        check_address("10.0.0.7,10.0.0.8", (4,))


class Bus:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def subscribe(self, kind: type[CheckEvent], callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def publish(self, event: CheckEvent) -> None:
        for callback in list(self.callbacks):
            callback(event)


class Links:
    def __init__(self) -> None:
        self.on_change: Any = None
        self.closed = False

    def __call__(self, on_change: Any) -> Links:
        self.on_change = on_change
        return self

    def close(self) -> None:
        self.closed = True


def monitor(table: dict[str, list[str]], **extra: Any) -> tuple[DdnsMonitor, Clock, Bus,
                                                                 Links, list[Any]]:
    clock = Clock()
    t, events = tools(clock, FakeEngine())
    bus, links = Bus(), Links()
    config = DdnsConfig("ext", (InterfaceSource("wan0"),), interval=3600, accept_private=True,
                        **extra)
    m = DdnsMonitor(config, t, lambda name, family: list(table.get(name, [])), bus.subscribe,
                    links)
    m.startService()
    clock.advance(0)
    return m, clock, bus, links, events


def updates(events: list[Any]) -> list[tuple[str, ...]]:
    return [e.args for e in events if e.name == "ddns-ip-update"]


def test_an_interface_change_is_checked_after_the_debounce_not_the_interval() -> None:
    table = {"wan0": ["10.0.0.7"]}
    m, clock, _, links, events = monitor(table, debounce=0.2)
    assert updates(events) == [("10.0.0.7", "unknown")]
    table["wan0"] = ["10.0.0.8"]
    for _ in range(5):                   # a burst of netlink messages: one check
        links.on_change(False)
        clock.advance(0.1)
    assert updates(events)[1:] == []
    clock.advance(0.2)
    assert updates(events)[1:] == [("10.0.0.8", "10.0.0.7")]
    assert m.triggers == {"interface": 1}
    m.stopService()
    assert links.closed


def test_changes_of_other_interfaces_ask_no_source() -> None:
    table = {"wan0": ["10.0.0.7"]}
    m, clock, _, links, _ = monitor(table, debounce=0.2)
    links.on_change(False)
    clock.advance(1)
    links.on_change(False)               # docker adding a veth: wan0 is as it was
    clock.advance(1)
    assert m.triggers == {"interface": 1}     # the first sight of wan0 only


def test_a_switch_of_the_followed_failover_checks_at_once() -> None:
    table = {"wan0": ["10.0.0.7"]}
    m, clock, bus, _, events = monitor(table, follow="wan")
    table["wan0"] = ["10.0.0.9"]
    bus.publish(CheckEvent("failover", "other", "failover-standby"))
    bus.publish(CheckEvent("ping", "wan", "failover-standby"))
    assert updates(events)[1:] == []
    bus.publish(CheckEvent("failover", "wan", "failover-standby", ("eth1",)))
    clock.advance(0)
    assert updates(events)[1:] == [("10.0.0.9", "10.0.0.7")]
    m.stopService()
    assert bus.callbacks == []
