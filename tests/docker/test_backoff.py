"""Reconnect backoff and the once-per-outage report, on a MemoryReactorClock (no Docker)."""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from netsentinel.actions import ActionRunner
from netsentinel.docker.config import DockerConfig
from netsentinel.docker.events import DockerConnection
from netsentinel.docker.service import DockerMonitor
from netsentinel.events import EventBus
from netsentinel.features import Context


def refuse_last(reactor: MemoryReactorClock) -> None:
    """Fail the newest connection attempt as a missing dockerd would."""
    _, factory, _, _ = reactor.unixClients[-1]
    factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))


def test_retries_back_off_to_retry_max_and_report_once() -> None:
    reactor = MemoryReactorClock()
    bus = EventBus()
    seen: list[Any] = []
    bus.subscribe(DockerConnection, seen.append)
    monitor = DockerMonitor(DockerConfig(socket="/nonexistent/docker.sock", retry_max=5),
                            Context(reactor, bus, ActionRunner(reactor, bus, 1, 1, 1.0)))
    monitor.startService()
    ready = monitor.when_ready()
    delays = []
    for _ in range(5):
        refuse_last(reactor)
        [call] = reactor.getDelayedCalls()
        delays.append(call.getTime() - reactor.seconds())
        reactor.advance(delays[-1])
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(reactor.unixClients) == 6
    assert ready.called                           # ready without Docker
    assert [e.connected for e in seen] == [False]  # one report per outage
    assert monitor.status().connected is False and monitor.status().error
    monitor.stopService()
    assert reactor.getDelayedCalls() == []
