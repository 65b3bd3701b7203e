from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from netsentinel.traffic.capture import CaptureError
from netsentinel.traffic.config import SourceConfig
from netsentinel.traffic.packet import DLT_RAW, Batch
from netsentinel.traffic.source import SLICE, SLICES, CaptureReader, Source
from tests.traffic.packets import udp4

PACKET = udp4("10.0.0.2", "10.0.0.1", 1, 2)


class FakeCapture:
    """Holds ``waiting`` packets; ``fail`` makes the next read raise."""

    linktype = DLT_RAW

    def __init__(self, waiting: int = 0) -> None:
        self.waiting = waiting
        self.fail = False
        self.closed = False
        self.reads = 0

    def fileno(self) -> int:
        return 99

    def read(self, limit: int) -> Batch | None:
        self.reads += 1
        if self.fail:
            raise CaptureError("The interface went down")
        n = min(limit, self.waiting)
        self.waiting -= n
        return Batch.of(DLT_RAW, [PACKET] * n) if n else None

    def close(self) -> None:
        self.closed = True


class Opener:
    """Fails while ``missing`` is set, then hands out FakeCaptures."""

    def __init__(self, missing: bool) -> None:
        self.missing = missing
        self.opened: list[FakeCapture] = []

    def __call__(self, config: SourceConfig) -> FakeCapture:
        if self.missing:
            raise CaptureError(f"{config.device}: No such device exists")
        self.opened.append(FakeCapture())
        return self.opened[-1]


def reader(source: Source) -> CaptureReader:
    """The started source's reader."""
    assert source.reader is not None
    return source.reader


def make(missing: bool = False, rest: float = 0.0
         ) -> tuple[Source, MemoryReactorClock, Opener, list[int]]:
    reactor, opener, got = MemoryReactorClock(), Opener(missing), []

    def deliver(batch: Batch, device: str) -> float:
        got.append(len(batch))
        return rest
    source = Source(SourceConfig("tun9"), deliver, reactor, opener, retry=2.0)
    return source, reactor, opener, got


def test_missing_interface_is_picked_up_when_it_appears() -> None:
    source, reactor, opener, _ = make(missing=True)
    source.start()
    assert source.status().state == "waiting"
    assert "No such device" in (source.status().error or "")
    opener.missing = False
    reactor.advance(2.0)
    assert source.status().state == "listening"
    assert source.reader in reactor.getReaders()


def test_flood_is_read_in_bounded_slices() -> None:
    source, _reactor, opener, got = make()
    source.start()
    capture = opener.opened[0]
    capture.waiting = SLICE * SLICES * 3
    reader(source).doRead()
    assert got == [SLICE] * SLICES
    reader(source).doRead()
    reader(source).doRead()
    reader(source).doRead()
    assert sum(got) == SLICE * SLICES * 3
    assert source.status().packets == sum(got)


def test_read_error_closes_and_reopens() -> None:
    source, _reactor, opener, _ = make()
    source.start()
    first = opener.opened[0]
    first.fail = True
    reader(source).doRead()
    assert first.closed
    assert len(opener.opened) == 2
    assert source.status().state == "listening"


def test_hang_up_seen_by_the_reactor_reopens() -> None:
    source, reactor, opener, _ = make()
    source.start()
    opener.missing = True
    reader(source).connectionLost(Failure(ConnectionDone()))
    assert opener.opened[0].closed
    assert source.status().state == "waiting"
    opener.missing = False
    reactor.advance(2.0)
    assert source.status().state == "listening"


def test_stop_closes_the_capture_and_the_retry_timer() -> None:
    source, reactor, opener, _ = make(missing=True)
    source.start()
    source.stop()
    opener.missing = False
    reactor.advance(10)
    assert opener.opened == []
    source.start()
    source.stop()
    assert opener.opened[0].closed
    assert reactor.getReaders() == []


def test_source_rests_when_the_trigger_needs_no_packets() -> None:
    source, reactor, opener, got = make(rest=0.5)
    source.start()
    opener.opened[0].waiting = SLICE * 4
    reader(source).doRead()
    assert got == [SLICE]
    assert source.reader not in reactor.getReaders()
    assert source.status().state == "resting"
    reactor.advance(0.5)
    assert source.reader in reactor.getReaders()
    source.stop()
    assert reactor.getDelayedCalls() == []
