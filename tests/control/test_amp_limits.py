"""The AMP side's bounds over a StringTransport, the daemon being the stand-in of
``standin.py`` in place of the service tree: a client with ``MAX_PENDING`` calls in
work is not read until one finishes, and a box past ``MAX_BOX`` closes the connection."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.protocols import amp

from netsentinel.control.clients import MAX_BOX, MAX_PENDING
from netsentinel.control.server import ControlAMP
from tests.control.standin import StandInDaemon, clients


def call_box(ask: int, *words: str) -> bytes:
    box = amp.AmpBox(_command=b"Call", _ask=b"%d" % ask)
    box[b"words"] = amp.ListOf(amp.Unicode()).toString(list(words))
    serialized: bytes = box.serialize()
    return serialized


def connect(daemon: StandInDaemon) -> tuple[ControlAMP, StringTransport]:
    proto = ControlAMP(daemon, clients(daemon))
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_too_many_calls_in_work_pause_reading() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    data = b"".join(call_box(i, "wait", str(i)) for i in range(MAX_PENDING + 1))
    proto.dataReceived(data)
    assert transport.producerState == "paused"
    assert len(daemon.calls) == MAX_PENDING  # the last box is buffered, not read
    daemon.waiting["0"].callback("r0")
    assert len(daemon.calls) == MAX_PENDING + 1     # read on resume, then paused again
    assert transport.producerState == "paused"
    for i in range(1, MAX_PENDING + 1):
        daemon.waiting[str(i)].callback(i)
    assert transport.producerState == "producing"
    answers = [box[b"_answer"] for box in amp.parseString(transport.value())]
    assert sorted(answers) == sorted(b"%d" % i for i in range(MAX_PENDING + 1))


def test_buffered_call_answered_at_once_runs_once() -> None:
    """A call read on resume that finishes at once releases the hold inside AMP's own
    parsing loop; ``resumeProducing`` then re-enters ``dataReceived(b"")`` before
    ``_unprocessed`` is advanced, so the same box is dispatched again and again (until
    RecursionError).  ``ping`` is harmless; a buffered ``reload`` would run many times."""
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    data = b"".join(call_box(i, "wait", str(i)) for i in range(MAX_PENDING))
    proto.dataReceived(data + call_box(99, "ping"))
    assert transport.producerState == "paused"
    daemon.waiting["0"].callback("r0")
    assert daemon.calls.count(["ping"]) == 1
    answers = [box.get(b"_answer") for box in amp.parseString(transport.value())]
    assert answers.count(b"99") == 1


def test_box_past_max_box_is_dropped() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    box = amp.AmpBox(_command=b"Call", _ask=b"1")
    for i in range(MAX_BOX // 60000 + 2):    # many keys, each value under AMP's 64 KiB
        box[b"k%d" % i] = b"v" * 60000
    proto.dataReceived(box.serialize())
    assert transport.disconnected
    assert daemon.calls == []
    assert daemon.control_clients.dropped["socket"]["box_too_large"] == 1


def test_many_boxes_each_under_max_box_are_fine() -> None:
    daemon = StandInDaemon()
    proto, transport = connect(daemon)
    proto.dataReceived(b"".join(call_box(i, "echo", "w" * 50_000) for i in range(30)))
    assert not transport.disconnected
    assert len(amp.parseString(transport.value())) == 30
