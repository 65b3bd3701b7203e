"""A worker takes connections only once it runs: until it says so the main process
relays them itself, and the daemon's readiness waits for it (a bounded time).  A
stand-in reactor records the spawn; the channel is a real socket pair."""

from __future__ import annotations

from typing import Any

from netsentinel.forward.pool import READY_TIMEOUT, Pool
from tests.forward.peers import DescriptorClock


class Spawned:
    pid = None          # prioritize() then touches no process


class Reactor(DescriptorClock):
    """What a pool asks of a reactor; nothing is started."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[list[str]] = []

    def spawnProcess(self, protocol: Any, executable: str, args: list[str],
                     **kwargs: Any) -> Spawned:
        self.spawned.append(args)
        return Spawned()


def test_a_worker_still_starting_gets_no_connection_and_readiness_waits() -> None:
    reactor = Reactor()
    pool = Pool(2, reactor, priority=0)
    pool.start()
    try:
        assert len(reactor.spawned) == 2 and pool.pick() is None    # the main relays
        ready = pool.when_ready()
        assert not ready.called
        first, second = pool.workers[1], pool.workers[2]
        first.received({"t": "ready"}, [])
        assert pool.pick() is first and not ready.called
        second.received({"t": "ready"}, [])
        assert ready.called and pool.when_ready().called
    finally:
        for worker in pool.workers.values():
            worker.channel.close()


def test_readiness_does_not_wait_for_ever_on_a_worker() -> None:
    reactor = Reactor()
    pool = Pool(1, reactor, priority=0)
    pool.start()
    try:
        ready = pool.when_ready()
        reactor.advance(READY_TIMEOUT - 1)
        assert not ready.called
        reactor.advance(1)
        assert ready.called and pool.pick() is None     # still relayed by the main
        pool.workers[1].received({"t": "ready"}, [])    # late: taken from then on
        assert pool.pick() is pool.workers[1]
    finally:
        for worker in pool.workers.values():
            worker.channel.close()
