"""A docker sync that raises is a fault in the daemon's recorder, and the next sync runs."""

from __future__ import annotations

import time

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from netsentinel.actions import ActionRunner
from netsentinel.docker.config import DockerConfig
from netsentinel.docker.service import DockerMonitor
from netsentinel.events import EventBus
from netsentinel.features import Context


def test_a_sync_that_raises_is_recorded_and_the_next_one_runs() -> None:
    reactor = MemoryReactorClock()
    bus = EventBus()
    context = Context(reactor, bus, ActionRunner(reactor, bus, 1, 1, 1.0))
    monitor = DockerMonitor(DockerConfig(socket="/nonexistent/docker.sock"), context)
    monitor.listed_at = time.time()    # a listing is known: the sync goes on to the sinks
    calls: list[int] = []

    def broken() -> defer.Deferred[None]:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("IPAddress")
        return defer.succeed(None)
    monitor._sync_nft = broken   # type: ignore[method-assign]
    first = monitor.sync()
    assert first.called and first.result is None
    assert context.faults.status().features["docker"].last == "sync: KeyError: 'IPAddress'"
    monitor.sync()
    assert calls == [1, 1] and monitor.syncs == 2
    assert context.faults.total == 1
