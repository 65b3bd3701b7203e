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
    m = RouteMonitor(calls.append, Clock(), FakeSocket(script))  # type: ignore[arg-type]
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


def test_a_dump_is_answered_from_the_replies_read() -> None:
    """RouteDumper against a stand-in socket replaying a kernel's link and address replies."""
    from netsentinel.netlink import wire
    from netsentinel.netlink.reader import RouteDumper

    def message(kind: int, seq: int, body: bytes, flags: int = 2) -> bytes:
        return wire.HEADER.pack(wire.HEADER.size + len(body), kind, flags, seq, 0) + body

    def attr(kind: int, value: bytes) -> bytes:
        raw = wire.RTATTR.pack(4 + len(value), kind) + value
        return raw + b"\0" * (-len(raw) % 4)
    link = message(wire.RTM_NEWLINK, 1, wire.IFINFOMSG.pack(0, 1, 7, 1, 0) +
                   attr(wire.IFLA_IFNAME, b"wan0\0"))
    addr = message(wire.RTM_NEWADDR, 2, wire.IFADDRMSG.pack(2, 24, 0, 0, 7) +
                   attr(wire.IFA_ADDRESS, bytes([192, 0, 2, 1])))
    script: list[bytes | int] = [link + message(wire.NLMSG_DONE, 1, b"\0" * 4),
                                 addr + message(wire.NLMSG_DONE, 2, b"\0" * 4)]

    class Recording(FakeSocket):
        sent: list[bytes] = []

        def send(self, data: bytes) -> int:
            self.sent.append(data)
            return len(data)
    dumper = RouteDumper(Clock(), Recording(script))  # type: ignore[arg-type]
    dumper.startReading = lambda: None  # type: ignore[method-assign]
    dumper.stopReading = lambda: None  # type: ignore[method-assign]
    tables: list[object] = []
    dumper.dump().addCallback(tables.append)
    dumper.doRead()
    dumper.doRead()
    assert len(Recording.sent) == 2
    (table,) = tables
    wan0 = table.get("wan0")  # type: ignore[attr-defined]
    assert (wan0.index, wan0.up, sorted(map(str, wan0.addresses))) == (7, True, ["192.0.2.1/24"])
