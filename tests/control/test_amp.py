"""The control socket's first-byte sniffer and its AMP side, against ``netsentinel-ctl``'s
own AMP protocol, over StringTransports pumped by hand (no socket, no reactor); the
daemon is the stand-in of ``standin.py`` in place of the service tree."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure

from netsentinel.cli.ctl import _Client, error_text
from netsentinel.control.clients import ClientCounters, Clients
from netsentinel.control.commands import CHUNK, Call, Watch
from netsentinel.control.server import (
    ControlAMP,
    ControlFactory,
    ControlLines,
    _Sniffer,
)
from netsentinel.events import SyncFailed
from tests.control.standin import StandInDaemon, clients


class Pair:
    """A server protocol (behind the sniffer) and a ctl client joined by two
    StringTransports; ``pump`` moves the bytes both ways until both are quiet."""

    def __init__(self, daemon: StandInDaemon) -> None:
        self.daemon = daemon
        self.server = _Sniffer(daemon, clients(daemon))
        self.server_transport = StringTransport()
        self.server.makeConnection(self.server_transport)
        self.client = _Client(as_json=True)
        self.client_transport = StringTransport()
        self.client.makeConnection(self.client_transport)

    def pump(self) -> None:
        for _ in range(100):
            to_server = self.client_transport.value()
            to_client = self.server_transport.value()
            if not to_server and not to_client:
                return
            self.client_transport.clear()
            self.server_transport.clear()
            if to_server:
                self.server.dataReceived(to_server)
            if to_client:
                self.client.dataReceived(to_client)
        raise AssertionError("the protocols never went quiet")


def outcome(d: Any) -> list[Any]:
    got: list[Any] = []
    d.addBoth(got.append)
    return got


# -- the sniffer

def test_amp_box_first_byte_chooses_amp() -> None:
    daemon = StandInDaemon()
    sniffer = _Sniffer(daemon, clients(daemon))
    transport = StringTransport()
    sniffer.makeConnection(transport)
    box = amp.AmpBox(_command=b"Call", _ask=b"1")
    box[b"words"] = amp.ListOf(amp.Unicode()).toString(["ping"])
    data = box.serialize()
    assert data[:1] == b"\x00"
    sniffer.dataReceived(data)
    assert isinstance(sniffer.chosen, ControlAMP)
    assert getattr(transport, "protocol") is sniffer.chosen  # noqa: B009  later bytes skip the sniffer
    [reply] = amp.parseString(transport.value())
    assert reply[b"_answer"] == b"1"
    assert reply[b"reply.0"] == b'"PONG"'


def test_text_first_byte_chooses_lines() -> None:
    daemon = StandInDaemon()
    sniffer = _Sniffer(daemon, clients(daemon))
    transport = StringTransport()
    sniffer.makeConnection(transport)
    sniffer.dataReceived(b"pi")
    assert isinstance(sniffer.chosen, ControlLines)
    sniffer.dataReceived(b"ng\n")            # the rest of the line, to the same protocol
    assert transport.value() == b"PONG\n"


def test_sniffer_passes_half_close_to_the_line_protocol() -> None:
    daemon = StandInDaemon()
    sniffer = _Sniffer(daemon, clients(daemon))
    transport = StringTransport()
    sniffer.makeConnection(transport)
    sniffer.dataReceived(b"ping")
    sniffer.readConnectionLost()
    assert transport.value() == b"PONG\n"
    assert transport.disconnecting


def test_sniffer_closed_before_any_byte_releases_the_client() -> None:
    daemon = StandInDaemon()
    admission = clients(daemon)
    assert admission.admit()
    sniffer = _Sniffer(daemon, admission)
    transport = StringTransport()
    sniffer.makeConnection(transport)
    sniffer.readConnectionLost()
    assert transport.disconnecting
    sniffer.connectionLost(Failure(Exception("gone")))
    assert daemon.control_clients.connected["socket"] == 0


def test_factory_refuses_past_its_cap() -> None:
    daemon = StandInDaemon()
    factory = ControlFactory(daemon)
    assert factory.clients.counters is daemon.control_clients
    factory.clients = Clients("socket", daemon.control_clients, lambda limit: 2,
                              clients(daemon).budget)
    first, second = factory.buildProtocol(None), factory.buildProtocol(None)
    assert isinstance(first, _Sniffer) and isinstance(second, _Sniffer)
    assert factory.buildProtocol(None) is None
    assert daemon.control_clients.dropped["socket"]["connection_cap"] == 1
    first.connectionLost(Failure(Exception("gone")))     # before any byte
    assert isinstance(factory.buildProtocol(None), _Sniffer)


def test_factory_without_daemon_counters_keeps_its_own() -> None:
    daemon = StandInDaemon()
    del daemon.control_clients
    assert isinstance(ControlFactory(daemon).clients.counters, ClientCounters)


# -- AMP round trips

def test_call_round_trip() -> None:
    pair = Pair(StandInDaemon())
    got = outcome(pair.client.callRemote(Call, words=["ping"]))
    pair.pump()
    assert isinstance(pair.server.chosen, ControlAMP)
    assert got == [{"reply": "PONG"}]


def test_status_round_trip_is_data() -> None:
    daemon = StandInDaemon()
    pair = Pair(daemon)
    got = outcome(pair.client.callRemote(Call, words=["status"]))
    pair.pump()
    assert got == [{"reply": daemon.status()}]


def test_reply_larger_than_one_amp_value_is_chunked() -> None:
    daemon = StandInDaemon()
    daemon.status_value = {"big": "x" * (CHUNK * 2 + 10)}
    pair = Pair(daemon)
    got = outcome(pair.client.callRemote(Call, words=["status"]))
    pair.pump()
    assert got == [{"reply": daemon.status_value}]


def test_refusal_becomes_the_clients_error() -> None:
    pair = Pair(StandInDaemon())
    got = outcome(pair.client.callRemote(Call, words=["refuse", "nope"]))
    pair.pump()
    [failure] = got
    assert isinstance(failure, Failure)
    # Call.errors maps COMMAND_ERROR back to Exception on the client
    assert failure.check(Exception)
    assert error_text(failure.value) == "refused: nope"
    assert not pair.server_transport.disconnecting       # the connection stays usable
    again = outcome(pair.client.callRemote(Call, words=["ping"]))
    pair.pump()
    assert again == [{"reply": "PONG"}]


def test_unknown_command_and_crash_are_errors_too() -> None:
    pair = Pair(StandInDaemon())
    unknown = outcome(pair.client.callRemote(Call, words=["frobnicate"]))
    crash = outcome(pair.client.callRemote(Call, words=["crash"]))
    pair.pump()
    assert error_text(unknown[0].value).startswith("unknown command 'frobnicate'")
    assert error_text(crash[0].value) == "internal error: boom"


def test_slow_call_answers_when_its_work_is_done() -> None:
    daemon = StandInDaemon()
    pair = Pair(daemon)
    slow = outcome(pair.client.callRemote(Call, words=["wait", "a"]))
    fast = outcome(pair.client.callRemote(Call, words=["ping"]))
    pair.pump()
    assert slow == [] and fast == [{"reply": "PONG"}]    # AMP answers out of order
    daemon.waiting["a"].callback({"done": True})
    pair.pump()
    assert slow == [{"reply": {"done": True}}]


def test_watch_streams_events_to_the_client(capsys: pytest.CaptureFixture[str]) -> None:
    daemon = StandInDaemon()
    pair = Pair(daemon)
    got = outcome(pair.client.callRemote(Watch))
    pair.pump()
    assert got == [{}]
    daemon.bus.publish(SyncFailed(sink="wan_ips", error="EPERM"))
    pair.pump()
    assert '"event": "sync-failed"' in capsys.readouterr().out
    pair.server.connectionLost(Failure(Exception("gone")))
    assert not daemon.bus.wants(SyncFailed)              # unsubscribed on disconnect
