"""The control socket's line protocol (``socat`` users) over a StringTransport, with the
stand-in daemon of ``standin.py`` in place of the service tree: no socket, no reactor."""

from __future__ import annotations

import json

from twisted.internet.testing import StringTransport

from netsentinel.control.clients import MAX_PENDING
from netsentinel.control.server import ControlLines
from tests.control.standin import StandInDaemon, clients


def connect(daemon: StandInDaemon) -> tuple[ControlLines, StringTransport]:
    proto = ControlLines(daemon, clients(daemon))
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_ping_is_answered_pong() -> None:
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"ping\n")
    assert transport.value() == b"PONG\n"
    assert not transport.disconnecting


def test_blank_lines_get_no_reply() -> None:
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"\n   \nping\n")
    assert transport.value() == b"PONG\n"


def test_last_command_without_newline_is_answered_at_half_close() -> None:
    """``printf ping | socat - UNIX-CONNECT:...``: the client half-closes after ``ping``."""
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"ping")
    assert transport.value() == b""          # not a line yet
    proto.readConnectionLost()
    assert transport.value() == b"PONG\n"
    assert transport.disconnecting           # closed once every reply is written


def test_half_close_waits_for_pending_replies() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"wait a\n")
    proto.readConnectionLost()
    assert not transport.disconnecting
    daemon.waiting["a"].callback("done")
    assert transport.value() == b"done\n"
    assert transport.disconnecting


def test_unknown_command_is_one_error_line() -> None:
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"frobnicate now\n")
    out = transport.value()
    assert out.startswith(b"ERROR: unknown command 'frobnicate now'")
    assert out.count(b"\n") == 1 and out.endswith(b"\n")
    assert not transport.disconnecting       # an error does not end the connection


def test_internal_error_is_one_error_line() -> None:
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"crash\n")
    assert transport.value() == b"ERROR: internal error: boom\n"


def test_pipelined_lines_are_answered_in_order() -> None:
    proto, transport = connect(StandInDaemon())
    proto.dataReceived(b"echo one\nping\necho three\nrefuse x\n")
    assert transport.value().splitlines() == [b"one", b"PONG", b"three",
                                              b"ERROR: refused: x"]


def test_slow_reply_keeps_request_order() -> None:
    """A later, faster command waits for the earlier, slower one's reply."""
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"wait first\nping\n")
    assert transport.value() == b""
    daemon.waiting["first"].callback("first")
    assert transport.value() == b"first\nPONG\n"


def test_status_is_the_daemons_json_on_one_line() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"status\n")
    out = transport.value()
    assert out.count(b"\n") == 1
    assert json.loads(out) == daemon.status()


def test_over_long_line_is_refused_and_closed() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"x" * (ControlLines.MAX_LENGTH + 2) + b"\nping\n")
    assert transport.value() == b"ERROR: line too long (at most 4096 bytes)\n"
    assert transport.disconnecting
    assert daemon.calls == []                # neither the long line nor what follows ran
    assert daemon.control_clients.dropped["socket"]["line_too_long"] == 1


def test_over_long_line_without_newline_is_refused() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    for _ in range(3):                       # arrives in pieces, never a newline
        proto.dataReceived(b"y" * 2000)
    assert transport.value().startswith(b"ERROR: line too long")
    assert transport.disconnecting


def test_line_at_the_limit_is_accepted() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    line = b"echo " + b"z" * (ControlLines.MAX_LENGTH - 5)
    proto.dataReceived(line + b"\n")
    assert transport.value() == b"z" * (ControlLines.MAX_LENGTH - 5) + b"\n"


def test_too_many_pending_requests_pause_reading() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"".join(b"wait %d\n" % i for i in range(MAX_PENDING)) + b"ping\n")
    assert transport.producerState == "paused"
    assert len(daemon.waiting) == MAX_PENDING and ["ping"] not in daemon.calls
    daemon.waiting["0"].callback("r0")
    assert ["ping"] in daemon.calls          # the buffered line is parsed on resume...
    assert transport.producerState == "paused"   # ...and makes MAX_PENDING again
    for i in range(1, MAX_PENDING):
        daemon.waiting[str(i)].callback(f"r{i}")
    assert transport.producerState == "producing"
    assert transport.value().splitlines() == [b"r%d" % i for i in range(MAX_PENDING)] + [b"PONG"]


def test_full_output_buffer_pauses_reading() -> None:
    """The transport calls pauseProducing when its buffer fills: no more lines are parsed
    until it drains."""
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    assert transport.producer is proto and transport.streaming
    proto.pauseProducing()
    proto.dataReceived(b"ping\n")
    assert daemon.calls == []
    proto.resumeProducing()
    assert daemon.calls == [["ping"]]
    assert transport.value() == b"PONG\n"


def test_connection_lost_releases_the_client() -> None:
    daemon = StandInDaemon()
    admission = clients(daemon)
    assert admission.admit()
    proto = ControlLines(daemon, admission)
    proto.makeConnection(StringTransport())
    assert daemon.control_clients.connected["socket"] == 1
    proto.connectionLost()
    proto.connectionLost()                   # released once only
    assert daemon.control_clients.connected["socket"] == 0
