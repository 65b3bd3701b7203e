"""The accept pause when descriptors run short: timer-driven, two log lines per pause."""

from __future__ import annotations

import errno
import socket
from typing import Any, cast

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import ILogObserver, Logger

from netsentinel.fdbudget import FdBudget, reserve
from netsentinel.forward import port as port_module
from netsentinel.forward.port import NO_FILES_PAUSE, ListeningPort

LIMIT = 1000


class Table:
    """The process's descriptors as the fake budget counts them."""

    def __init__(self, open_fds: int) -> None:
        self.open = open_fds


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(port_module, "log", Logger(observer=cast(ILogObserver, seen.append)))
    return seen


def listening(reactor: MemoryReactorClock, table: Table,
              accepted: list[Any]) -> ListeningPort:
    budget = FdBudget(limit=lambda: LIMIT, count=lambda: table.open, clock=reactor.seconds)
    port = ListeningPort("127.0.0.1", 0, 16, reactor, lambda s, peer: accepted.append(s),
                         "test", budget=budget)
    port.startListening()
    return port


def lines(events: list[dict[str, Any]], text: str) -> int:
    return sum(text in e["log_format"] for e in events)


def test_a_close_during_the_pause_does_not_resume_accepting(
        events: list[dict[str, Any]]) -> None:
    reactor, table = MemoryReactorClock(), Table(LIMIT - 1)
    accepted: list[Any] = []
    port = listening(reactor, table, accepted)
    try:
        port.doRead()                   # no room: paused
        assert not port.reading and port not in reactor.readers
        for _ in range(100):            # what each closing connection asks
            port.startReading()
        assert not port.reading
        reactor.advance(NO_FILES_PAUSE)
        assert port.reading             # the timer tries again
        port.doRead()                   # still full: paused again, silently
        assert not port.reading and port.pauses == 2
        assert lines(events, "cannot accept") == 1
        assert lines(events, "accepting again") == 0
    finally:
        port.stopListening()


def test_the_pause_ends_with_one_line_once_there_is_room(events: list[dict[str, Any]]) -> None:
    reactor, table = MemoryReactorClock(), Table(LIMIT - 1)
    accepted: list[Any] = []
    port = listening(reactor, table, accepted)
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        port.doRead()
        table.open = 10
        reactor.advance(NO_FILES_PAUSE)
        port.doRead()
        assert len(accepted) == 1 and port.reading and port.paused_at is None
        assert lines(events, "cannot accept") == 1
        assert lines(events, "accepting again") == 1
        start = next(e for e in events if "cannot accept" in e["log_format"])
        assert (start["open"], start["limit"]) == (LIMIT - 1, LIMIT)
    finally:
        client.close()
        for s in accepted:
            s.close()
        port.stopListening()


def test_a_descriptor_inside_the_reserve_is_closed_and_counted(
        events: list[dict[str, Any]]) -> None:
    """Linux gives the lowest free number: one that high means the table is that full."""
    reactor, table = MemoryReactorClock(), Table(10)
    accepted: list[Any] = []
    port = listening(reactor, table, accepted)
    refused: list[Any] = []
    port.refused = refused.append
    port.budget.is_reserved = lambda fd, keep: True     # type: ignore[method-assign]
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        port.doRead()
        assert accepted == [] and len(refused) == 1 and not port.reading
        assert client.recv(1) == b""            # closed at once
        assert reserve(LIMIT) == 64
    finally:
        client.close()
        port.stopListening()


class OutOfFiles:
    """A listening socket whose every accept fails with EMFILE."""

    family = socket.AF_INET

    def _accept(self) -> Any:
        raise OSError(errno.EMFILE, "Too many open files")

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        pass


def test_emfile_pauses_once_however_often_closes_ask_to_resume(
        events: list[dict[str, Any]]) -> None:
    reactor, table = MemoryReactorClock(), Table(10)
    budget = FdBudget(limit=lambda: LIMIT, count=lambda: table.open, clock=reactor.seconds)
    port = ListeningPort("127.0.0.1", 0, 16, reactor, lambda s, peer: None, "test",
                         budget=budget)
    port.sock = OutOfFiles()            # type: ignore[assignment]
    port.startReading()
    for _ in range(50):                 # 50 pauses' worth of tries and closes
        port.doRead()
        port.startReading()             # a connection closed
        assert not port.reading
        reactor.advance(NO_FILES_PAUSE)
        assert port.reading
    port.stopListening()
    assert lines(events, "cannot accept") == 1
    assert port.pauses == 50
