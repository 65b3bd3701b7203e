"""Watchers on the control socket (line and AMP) that stop reading: once more than
``WATCH_BACKLOG`` bytes of events wait while the transport says it is full, the watcher
is dropped and counted as ``slow``.  The daemon is the stand-in of ``standin.py`` in
place of the service tree; the transports are StringTransports."""

from __future__ import annotations

import json

from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from netsentinel.control.clients import WATCH_BACKLOG, Backlog
from netsentinel.control.server import ControlAMP, ControlLines
from netsentinel.events import SyncFailed
from tests.control.standin import StandInDaemon, clients

BIG = "e" * 10_000       # one event of about 10 kB


def lines_watcher(daemon: StandInDaemon) -> tuple[ControlLines, StringTransport]:
    proto = ControlLines(daemon, clients(daemon))
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"watch\n")
    return proto, transport


def publish_until_dropped(daemon: StandInDaemon, transport: StringTransport,
                          most: int) -> int:
    for n in range(1, most + 1):
        daemon.bus.publish(SyncFailed(sink="s", error=BIG))
        if transport.disconnected:
            return n
    return most


def test_line_watcher_gets_events_as_json_lines() -> None:
    daemon = StandInDaemon()
    proto, transport = lines_watcher(daemon)
    daemon.bus.publish(SyncFailed(sink="wan_ips", error="EPERM"))
    assert json.loads(transport.value()) == {"event": "sync-failed", "sink": "wan_ips",
                                             "error": "EPERM"}


def test_line_watcher_stays_after_half_close() -> None:
    """``echo watch | socat ...`` keeps streaming: a watcher is not closed at EOF."""
    daemon = StandInDaemon()
    proto, transport = lines_watcher(daemon)
    proto.readConnectionLost()
    assert not transport.disconnecting
    daemon.bus.publish(SyncFailed(sink="s", error="x"))
    assert transport.value()


def test_reading_watcher_is_never_dropped() -> None:
    """While the transport takes the bytes (never paused), nothing counts as waiting."""
    daemon = StandInDaemon()
    proto, transport = lines_watcher(daemon)
    sent = publish_until_dropped(daemon, transport, 3 * WATCH_BACKLOG // len(BIG))
    assert not transport.disconnected and sent == 3 * WATCH_BACKLOG // len(BIG)
    assert daemon.control_clients.dropped["socket"]["slow"] == 0


def test_line_watcher_that_never_reads_is_dropped() -> None:
    daemon = StandInDaemon()
    proto, transport = lines_watcher(daemon)
    proto.pauseProducing()                   # what the transport does when its buffer fills
    sent = publish_until_dropped(daemon, transport, 2 * WATCH_BACKLOG // len(BIG))
    assert transport.disconnected            # aborted, not closed after a flush
    # dropped on the first event that takes what waits past WATCH_BACKLOG
    per_event = len(json.dumps(SyncFailed(sink="s", error=BIG).to_dict())) + 1
    assert sent == WATCH_BACKLOG // per_event + 1
    assert daemon.control_clients.dropped["socket"]["slow"] == 1
    proto.connectionLost(Failure(Exception("aborted")))
    assert not daemon.bus.wants(SyncFailed)  # unsubscribed
    assert daemon.control_clients.dropped["socket"]["slow"] == 1


def test_watcher_that_drains_in_time_is_kept() -> None:
    daemon = StandInDaemon()
    proto, transport = lines_watcher(daemon)
    for _ in range(3):
        proto.pauseProducing()
        publish_until_dropped(daemon, transport, WATCH_BACKLOG // len(BIG) - 5)
        proto.resumeProducing()              # drained: the count starts again
    assert not transport.disconnected
    assert daemon.control_clients.dropped["socket"]["slow"] == 0


def test_amp_watcher_that_never_reads_is_dropped() -> None:
    daemon = StandInDaemon()
    proto = ControlAMP(daemon, clients(daemon))
    transport = StringTransport()
    proto.makeConnection(transport)
    assert proto.watch() == {}
    proto.pauseProducing()
    sent = publish_until_dropped(daemon, transport, 2 * WATCH_BACKLOG // len(BIG))
    assert transport.disconnected
    assert sent < 2 * WATCH_BACKLOG // len(BIG)
    assert daemon.control_clients.dropped["socket"]["slow"] == 1
    assert not daemon.bus.wants(SyncFailed)  # drop unsubscribes at once


def test_backlog_counts_only_while_full() -> None:
    backlog = Backlog(bound=10)
    assert backlog.fits((100,))              # not full: the transport took it
    backlog.pause()
    assert backlog.fits((6,)) and backlog.fits((4,))
    assert not backlog.fits((1,))
    backlog.resume()
    assert backlog.waiting == 0 and backlog.fits((10,))
