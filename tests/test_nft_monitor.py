"""The nftables monitor's parsing and dispatch, from replayed kernel messages (no root,
no socket: the lab test tests/test_nft_monitor_lab.py runs it against the kernel)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import task

from netsentinel.netlink import wire
from netsentinel.nft.monitor import (
    DELSETELEM,
    DELTABLE,
    NEWGEN,
    NEWRULE,
    NEWSET,
    RulesetMonitor,
    Touched,
    parse,
)
from netsentinel.nft.watch import SetsWatch


def attr(kind: int, value: bytes) -> bytes:
    body = struct.pack("=HH", 4 + len(value), kind) + value
    return body + b"\0" * (-len(body) % 4)


def message(kind: int, family: int, *attrs: bytes) -> bytes:
    payload = struct.pack("=BBH", family, 0, 0) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(payload), (10 << 8) | kind, 0, 0, 0) + payload


def element(table: bytes, name: bytes, family: int = 1) -> bytes:
    return message(DELSETELEM, family, attr(1, table + b"\0"), attr(2, name + b"\0"))


def gen(pid: int) -> bytes:
    return message(NEWGEN, 0, attr(1, struct.pack(">I", 7)), attr(2, struct.pack(">I", pid)),
                   attr(3, b"nft\0"))


def one(data: bytes) -> wire.Message:
    return next(wire.messages(data))


def test_parse_tables_sets_elements_and_the_committing_thread() -> None:
    assert parse(one(element(b"filter", b"wan_ips"))) == Touched("inet", "filter", "wan_ips")
    assert parse(one(message(DELTABLE, 2, attr(1, b"nat\0")))) == Touched("ip", "nat")
    assert parse(one(message(NEWSET, 10, attr(1, b"f\0"), attr(2, b"s6\0")))) == \
        Touched("ip6", "f", "s6")
    assert parse(one(gen(4242))) == 4242
    assert parse(one(message(NEWRULE, 1, attr(1, b"filter\0")))) is None   # rules: no matter
    # a table nobody watches is dropped at its first attribute
    assert parse(one(element(b"foreign", b"s")), {b"filter"}) is None
    assert parse(one(element(b"filter", b"s")), {b"filter"}) == Touched("inet", "filter", "s")


class Reactor(task.Clock):
    """A Clock that takes readers (and never calls them: the tests feed ``received``)."""

    def addReader(self, reader: Any) -> None:
        pass

    def removeReader(self, reader: Any) -> None:
        pass


def monitor(changes: list[frozenset[Touched] | None], ours: Callable[[int], bool]) -> RulesetMonitor:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.close()
    return RulesetMonitor(changes.append, Reactor(), sock=a, ours=ours)


def test_a_transaction_is_reported_at_its_generation_unless_it_was_ours() -> None:
    changes: list[frozenset[Touched] | None] = []
    m = monitor(changes, lambda pid: pid == 1)
    m.received(element(b"filter", b"wan_ips") + element(b"filter", b"lan_ips"))
    assert changes == []                        # not committed yet
    m.received(gen(99))
    assert changes == [frozenset({Touched("inet", "filter", "wan_ips"),
                                  Touched("inet", "filter", "lan_ips")})]
    m.received(element(b"filter", b"wan_ips") + gen(1))     # our own write
    m.received(gen(99))                         # a transaction that touched no table or set
    assert len(changes) == 1 and (m.transactions, m.own) == (1, 1)
    m.overflowed()
    assert changes[-1] is None and m.overflows == 1
    m.close()


class Writer:
    """A set writer as the watch sees it."""

    def __init__(self, where: tuple[str, str] | None, names: set[str]) -> None:
        self.where = where
        self.names = names
        self.told = 0
        self.repairs: Mapping[str, int] = {}

    def touched_by(self, touched: frozenset[Touched]) -> bool:
        return any((t.family, t.table) == self.where and (t.set is None or t.set in self.names)
                   for t in touched)

    def outside_change(self) -> None:
        self.told += 1


def test_the_watch_tells_only_the_writers_whose_sets_were_touched() -> None:
    made: list[RulesetMonitor] = []
    changes: list[Any] = []

    def factory(on_change: Callable[[frozenset[Touched] | None], None],
                reactor: Any) -> RulesetMonitor:
        m = monitor(changes, lambda pid: False)
        m.on_change = on_change
        made.append(m)
        return m

    watch = SetsWatch(Reactor(), factory)
    watch._open()                               # a Clock is no IReactorFDSet: opened by hand
    addresses, docker = Writer(("inet", "filter"), {"wan_ips"}), Writer(None, set())
    stop_addresses = watch.register(addresses)
    watch.register(docker)
    assert made[0].tables == frozenset({b"filter"})
    made[0].received(element(b"filter", b"wan_ips") + gen(5))
    made[0].received(element(b"filter", b"other") + gen(5))
    made[0].received(element(b"foreign", b"wan_ips") + gen(5))
    assert (addresses.told, docker.told) == (1, 0)
    made[0].overflowed()                        # lost messages: everyone reads back
    assert (addresses.told, docker.told) == (2, 1)
    stop_addresses()
    assert made[0].tables == frozenset() and watch.status().writers == 1
