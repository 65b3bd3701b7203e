"""The main process ↔ worker channel: reports sent in one reactor turn travel as one
packet, a handed-over socket goes at once with what waited before it, and a finishing
channel closes only once its last reports are out.  A real ``SOCK_SEQPACKET`` pair; a
``Clock`` is the reactor's turn (``advance(0)`` ends it)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import attrs
import pytest

from netsentinel.forward.channel import (
    MAX_FDS,
    MAX_PACKET,
    Channel,
    Message,
    pack,
    pair,
    unpack,
)
from tests.forward.peers import DescriptorClock


@attrs.define
class Link:
    """The main process's end of a channel, what it received and lost, and the worker's
    raw end."""

    reactor: DescriptorClock
    channel: Channel
    theirs: socket.socket
    got: list[tuple[Message, list[int]]]
    lost: list[bool]


@pytest.fixture
def link() -> Iterator[Link]:
    reactor = DescriptorClock()
    main, theirs = pair()
    got: list[tuple[Message, list[int]]] = []
    lost: list[bool] = []
    channel = Channel(main, reactor, lambda message, fds: got.append((message, fds)),
                      lambda: lost.append(True), "test")
    try:
        yield Link(reactor, channel, theirs, got, lost)
    finally:
        channel.close()
        theirs.close()


@pytest.fixture
def clients() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    """Connected socket pairs to hand over (``[i][0]``) and check from (``[i][1]``)."""
    made = [socket.socketpair() for _ in range(MAX_FDS + 5)]
    try:
        yield made
    finally:
        for a, b in made:
            a.close()
            b.close()


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


def test_reports_of_one_turn_travel_as_one_packet(link: Link) -> None:
    for number in range(3):
        link.channel.send({"t": "closed", "n": number})
    assert packets(link.theirs) == []           # nothing until the turn ends
    link.reactor.advance(0)
    assert [[m for m, _ in p] for p in packets(link.theirs)] == [
        [{"t": "closed", "n": 0}, {"t": "closed", "n": 1}, {"t": "closed", "n": 2}]]


def test_a_handed_socket_goes_at_once_after_what_waited_before_it(
        link: Link, clients: list[tuple[socket.socket, socket.socket]]) -> None:
    channel, theirs = link.channel, link.theirs
    channel.send({"t": "svc", "sid": "web"})
    channel.send({"t": "conn", "n": 1}, clients[0][0])      # a client waits: now
    [packet] = packets(theirs)
    assert [m for m, _ in packet] == [{"t": "svc", "sid": "web"}, {"t": "conn", "n": 1}]
    assert packet[0][1] == [] and same_socket(packet[1][1][0], clients[0][1])
    assert clients[0][0].fileno() == -1     # the sender's copy is closed once sent
    channel.send({"t": "conn", "n": 2}, clients[1][0])
    [[(message, fds)]] = packets(theirs)
    assert message == {"t": "conn", "n": 2} and same_socket(fds[0], clients[1][1])
    link.reactor.advance(0)
    assert packets(theirs) == []            # the end of the turn has nothing left


def test_many_descriptors_are_cut_into_packets_in_order(
        clients: list[tuple[socket.socket, socket.socket]]) -> None:
    found = list(pack([(json.dumps({"n": n}).encode(), ours)
                       for n, (ours, _) in enumerate(clients)]))
    assert [len(passing) for _, passing in found] == [MAX_FDS, 5]
    numbers = [m["n"] for data, passing in found
               for m, _ in unpack(data, [s.fileno() for s in passing])]
    assert numbers == list(range(MAX_FDS + 5))


def test_received_messages_each_get_their_descriptor(
        link: Link, clients: list[tuple[socket.socket, socket.socket]]) -> None:
    sender = Channel(link.theirs, link.reactor, lambda message, fds: None, lambda: None,
                     "peer")
    try:
        sender.send({"t": "tick", "rows": []})
        sender.send({"t": "conn", "n": 7}, clients[0][0])
        link.reactor.advance(0)
        link.channel.doRead()
        assert [m for m, _ in link.got] == [{"t": "tick", "rows": []}, {"t": "conn", "n": 7}]
        assert link.got[0][1] == [] and same_socket(link.got[1][1][0], clients[0][1])
    finally:
        sender.close()


def test_finish_closes_only_after_the_last_reports_are_sent(link: Link) -> None:
    channel = link.channel
    channel.send({"t": "closed", "n": 1})
    channel.finish()
    channel.send({"t": "closed", "n": 2})   # after finish: dropped, never half-sent
    assert link.lost == [True] and not channel.open
    found = packets(link.theirs)
    assert [[m for m, _ in p] for p in found] == [[{"t": "closed", "n": 1}]]
    assert link.theirs.recv(MAX_PACKET) == b""   # then the end of the channel


def test_a_full_socket_keeps_packets_queued_until_writable(link: Link) -> None:
    channel, reactor = link.channel, link.reactor
    big = "x" * 30000
    sent = 0
    while not reactor.writers and sent < 1000:
        channel.send({"t": "tick", "pad": big, "n": sent})
        reactor.advance(0)
        sent += 1
    assert channel in reactor.writers and channel.queue     # the kernel said "later"
    numbers: list[int] = []
    while channel.queue:
        numbers += [m["n"] for p in packets(link.theirs) for m, _ in p]
        channel.doWrite()
    numbers += [m["n"] for p in packets(link.theirs) for m, _ in p]
    assert numbers == list(range(sent)) and channel not in reactor.writers
