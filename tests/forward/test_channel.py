"""The main process ↔ worker channel: reports sent in one reactor turn travel as one
packet, a handed-over socket goes at once with what waited before it, and a finishing
channel closes only once its last reports are out.  A real ``SOCK_SEQPACKET`` pair; a ``Clock`` is the reactor's
turn (``advance(0)`` ends it)."""

from __future__ import annotations

import json
import socket
from typing import Any

from twisted.internet.task import Clock

from netsentinel.forward.channel import (
    MAX_FDS,
    MAX_PACKET,
    Channel,
    Message,
    pack,
    pair,
    unpack,
)


class Reactor(Clock):
    """A Clock that also keeps the readers and writers a channel registers."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[Any] = set()
        self.writers: set[Any] = set()

    def addReader(self, reader: Any) -> None:
        self.readers.add(reader)

    def removeReader(self, reader: Any) -> None:
        self.readers.discard(reader)

    def addWriter(self, writer: Any) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:
        self.writers.discard(writer)


def packets(sock: socket.socket) -> list[list[tuple[Message, list[int]]]]:
    """Every packet waiting on ``sock``, unpacked."""
    found: list[list[tuple[Message, list[int]]]] = []
    sock.setblocking(False)
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, MAX_FDS)
        except BlockingIOError:
            return found
        if not data:
            return found
        found.append(list(unpack(data, fds)))


def same_socket(fd: int, peer: socket.socket) -> bool:
    """``fd`` is the socket whose other end is ``peer``: a byte written there arrives."""
    received = socket.socket(fileno=fd)
    try:
        peer.send(b"x")
        received.settimeout(5)
        return received.recv(1) == b"x"
    finally:
        received.close()


def test_reports_of_one_turn_travel_as_one_packet() -> None:
    reactor = Reactor()
    main, theirs = pair()
    channel = Channel(main, reactor, lambda message, fds: None, lambda: None, "test")
    try:
        for number in range(3):
            channel.send({"t": "closed", "n": number})
        assert packets(theirs) == []            # nothing until the turn ends
        reactor.advance(0)
        assert [[m for m, _ in p] for p in packets(theirs)] == [
            [{"t": "closed", "n": 0}, {"t": "closed", "n": 1}, {"t": "closed", "n": 2}]]
    finally:
        channel.close()
        theirs.close()


def test_a_handed_socket_goes_at_once_after_what_waited_before_it() -> None:
    reactor = Reactor()
    main, theirs = pair()
    channel = Channel(main, reactor, lambda message, fds: None, lambda: None, "test")
    clients = [socket.socketpair() for _ in range(2)]
    try:
        channel.send({"t": "svc", "sid": "web"})
        channel.send({"t": "conn", "n": 1}, clients[0][0])      # a client waits: now
        [packet] = packets(theirs)
        assert [m for m, _ in packet] == [{"t": "svc", "sid": "web"}, {"t": "conn", "n": 1}]
        assert packet[0][1] == [] and same_socket(packet[1][1][0], clients[0][1])
        assert clients[0][0].fileno() == -1     # the sender's copy is closed once sent
        channel.send({"t": "conn", "n": 2}, clients[1][0])
        [[(message, fds)]] = packets(theirs)
        assert message == {"t": "conn", "n": 2} and same_socket(fds[0], clients[1][1])
        reactor.advance(0)
        assert packets(theirs) == []            # the end of the turn has nothing left
    finally:
        channel.close()
        theirs.close()
        for a, b in clients:
            a.close()
            b.close()


def test_many_descriptors_are_cut_into_packets_in_order() -> None:
    clients = [socket.socketpair() for _ in range(MAX_FDS + 5)]
    try:
        found = list(pack([(json.dumps({"n": n}).encode(), ours)
                           for n, (ours, _) in enumerate(clients)]))
        assert [len(passing) for _, passing in found] == [MAX_FDS, 5]
        numbers = [m["n"] for data, passing in found
                   for m, _ in unpack(data, [s.fileno() for s in passing])]
        assert numbers == list(range(MAX_FDS + 5))
    finally:
        for a, b in clients:
            a.close()
            b.close()


def test_received_messages_each_get_their_descriptor() -> None:
    reactor = Reactor()
    ours, theirs = pair()
    got: list[tuple[Message, list[int]]] = []
    receiver = Channel(ours, reactor, lambda message, fds: got.append((message, fds)),
                       lambda: None, "test")
    sender = Channel(theirs, reactor, lambda message, fds: None, lambda: None, "peer")
    client = socket.socketpair()
    try:
        sender.send({"t": "tick", "rows": []})
        sender.send({"t": "conn", "n": 7}, client[0])
        reactor.advance(0)
        receiver.doRead()
        assert [m for m, _ in got] == [{"t": "tick", "rows": []}, {"t": "conn", "n": 7}]
        assert got[0][1] == [] and same_socket(got[1][1][0], client[1])
    finally:
        receiver.close()
        sender.close()
        client[1].close()


def test_finish_closes_only_after_the_last_reports_are_sent() -> None:
    reactor = Reactor()
    main, theirs = pair()
    lost: list[bool] = []
    channel = Channel(main, reactor, lambda message, fds: None, lambda: lost.append(True),
                      "test")
    try:
        channel.send({"t": "closed", "n": 1})
        channel.finish()
        channel.send({"t": "closed", "n": 2})   # after finish: dropped, never half-sent
        assert lost == [True] and not channel.open
        found = packets(theirs)
        assert [[m for m, _ in p] for p in found] == [[{"t": "closed", "n": 1}]]
        assert theirs.recv(MAX_PACKET) == b""   # then the end of the channel
    finally:
        theirs.close()


def test_a_full_socket_keeps_packets_queued_until_writable() -> None:
    reactor = Reactor()
    main, theirs = pair()
    channel = Channel(main, reactor, lambda message, fds: None, lambda: None, "test")
    try:
        big = "x" * 30000
        sent = 0
        while not reactor.writers and sent < 1000:
            channel.send({"t": "tick", "pad": big, "n": sent})
            reactor.advance(0)
            sent += 1
        assert channel in reactor.writers and channel.queue     # the kernel said "later"
        numbers: list[int] = []
        while channel.queue:
            numbers += [m["n"] for p in packets(theirs) for m, _ in p]
            channel.doWrite()
        numbers += [m["n"] for p in packets(theirs) for m, _ in p]
        assert numbers == list(range(sent)) and channel not in reactor.writers
    finally:
        channel.close()
        theirs.close()
