"""RouteMonitor's reading loop with the socket replaced: no root, no kernel needed."""

from __future__ import annotations

import errno

from twisted.internet.task import Clock

from netsentinel.netlink.reader import READS_PER_WAKEUP, RouteMonitor


class FakeSocket:
    """Stands in for the netlink socket: replays a script of reads, then EAGAIN."""

    def __init__(self, script: list[bytes | int]) -> None:
        self.script = script

    def recv(self, size: int) -> bytes:
        if not self.script:
            raise BlockingIOError(errno.EAGAIN, "again")
        item = self.script.pop(0)
        if isinstance(item, int):
            raise OSError(item, "error")
        return item

    def fileno(self) -> int:
        return -1


def monitor(script: list[bytes | int]) -> tuple[RouteMonitor, list[bool]]:
    calls: list[bool] = []
    m = RouteMonitor(calls.append, Clock())
    m.socket.close()
    m.socket = FakeSocket(script)  # type: ignore[assignment]
    return m, calls


def test_every_notification_marks_dirty() -> None:
    m, calls = monitor([b"a", b"b"])
    m.doRead()
    assert calls == [False, False]


def test_overflow_asks_for_a_full_resync() -> None:
    m, calls = monitor([b"a", errno.ENOBUFS, b"b"])
    m.doRead()
    assert calls == [False, True, False] and m.overflows == 1


def test_reads_are_bounded_per_wakeup() -> None:
    m, calls = monitor([b"x"] * (READS_PER_WAKEUP + 10))
    m.doRead()
    assert len(calls) == READS_PER_WAKEUP
