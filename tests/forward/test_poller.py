"""The forwarder's own epoll: every ready socket handled, in passes, a raising handler
recorded while the others carry on."""

from __future__ import annotations

import socket

import pytest

from netsentinel.forward import poller as module
from netsentinel.forward.poller import PASSES, Poller


class Reactor:
    def __init__(self) -> None:
        self.readers: list[object] = []

    def addReader(self, reader: object) -> None:
        self.readers.append(reader)

    def removeReader(self, reader: object) -> None:
        self.readers.remove(reader)


class Drain:
    """Reads one datagram per call, as the UDP readers do."""

    def __init__(self, sock: socket.socket, fail: bool = False) -> None:
        self.sock, self.fail = sock, fail
        self.got: list[bytes] = []

    def readable(self) -> None:
        self.got.append(self.sock.recv(100))
        if self.fail:
            raise RuntimeError("broken handler")


def pair() -> tuple[socket.socket, socket.socket]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    a.setblocking(False)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.connect(a.getsockname())
    return a, b


def test_every_waiting_datagram_is_read_in_passes_and_a_fault_is_reported() -> None:
    reactor, failures = Reactor(), list[BaseException]()
    poller = Poller(reactor, "t", failures.append)
    (a, a_peer), (b, b_peer) = pair(), pair()
    good, bad = Drain(a), Drain(b, fail=True)
    poller.add(a.fileno(), good)
    poller.add(b.fileno(), bad)
    assert reactor.readers == [poller]          # one reader on the reactor for both
    for n in range(5):
        a_peer.send(b"a%d" % n)
    b_peer.send(b"b")
    poller.doRead()
    assert good.got == [b"a0", b"a1", b"a2", b"a3", b"a4"] and bad.got == [b"b"]
    assert [str(e) for e in failures] == ["broken handler"]
    poller.remove(b.fileno())
    b_peer.send(b"unread")
    poller.doRead()
    assert bad.got == [b"b"]
    poller.close()
    assert reactor.readers == [] and poller.fileno() == -1
    for s in (a, a_peer, b, b_peer):
        s.close()


def test_a_turn_ends_after_its_passes_and_the_rest_waits_for_the_next() -> None:
    poller = Poller(Reactor(), "t", lambda e: None)
    a, peer = pair()
    drain = Drain(a)
    poller.add(a.fileno(), drain)
    for n in range(PASSES + 3):
        peer.send(b"%d" % n)
    poller.doRead()
    assert len(drain.got) == PASSES
    poller.doRead()
    assert len(drain.got) == PASSES + 3
    poller.close()
    a.close()
    peer.close()


def test_a_turn_with_many_busy_sockets_ends_at_its_call_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "TURN_CALLS", 4)
    poller = Poller(Reactor(), "t", lambda e: None)
    pairs = [pair() for _ in range(3)]
    drains = [Drain(a) for a, _ in pairs]
    for (a, peer), drain in zip(pairs, drains, strict=True):
        poller.add(a.fileno(), drain)
        for n in range(3):
            peer.send(b"%d" % n)
    poller.doRead()         # two passes of 3 ready sockets: 6 calls, over the budget
    assert sum(len(d.got) for d in drains) == 6
    poller.doRead()
    assert sum(len(d.got) for d in drains) == 9
    poller.close()
    for a, peer in pairs:
        a.close()
        peer.close()
