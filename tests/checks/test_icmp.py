"""The ICMP engine driven by a Clock and fake channels: matching, timeouts, statistics."""

from __future__ import annotations

import time
from typing import Any

from icmplib import ICMPv4Socket, ICMPv6Socket
from twisted.internet.testing import MemoryReactorClock

from netsentinel.checks.icmp import (
    PAYLOAD,
    Binding,
    IcmpEngine,
    RawChannel,
    Reply,
    echo_request,
)
from netsentinel.checks.stats import ProbeResult, Window, merged
from tests.checks.fakes import FakeChannel


def engine() -> tuple[IcmpEngine, MemoryReactorClock, dict[Binding, FakeChannel]]:
    reactor = MemoryReactorClock()
    channels: dict[Binding, FakeChannel] = {}

    def open_channel(binding: Binding) -> FakeChannel:
        channels[binding] = FakeChannel(binding)
        return channels[binding]
    return IcmpEngine(reactor, open_channel), reactor, channels


def answer(e: IcmpEngine, channel: FakeChannel, index: int, source: str | None = None) -> None:
    destination, ident, sequence = channel.sent[index]
    channel.inbox.append(Reply(source or destination, ident, sequence))
    e.readers[channel.binding].doRead()


def results(d: Any) -> list[ProbeResult]:
    out: list[ProbeResult] = []
    d.addCallback(out.append)
    return out


def test_replies_are_matched_by_sequence_and_timed() -> None:
    e, clock, channels = engine()
    got = results(e.ping("10.0.0.1", 2, 1.0, spacing=0.2))
    channel = channels[Binding(4)]
    clock.advance(0.005)
    answer(e, channel, 0)
    clock.advance(0.2)
    clock.advance(0.010)
    answer(e, channel, 1)
    assert got == [ProbeResult("10.0.0.1", 2, (5.0, 10.0))]


def test_the_kernel_receive_time_is_the_reply_time() -> None:
    e, clock, channels = engine()
    clock.advance(100.0)
    got = results(e.ping("10.0.0.1", 1, 1.0))
    channel = channels[Binding(4)]
    destination, ident, sequence = channel.sent[0]
    clock.advance(0.5)                  # the reactor came late to a reply stamped at +2 ms
    channel.inbox.append(Reply(destination, ident, sequence, received_at=100.002))
    e.readers[channel.binding].doRead()
    assert got == [ProbeResult("10.0.0.1", 1, (2.0,))]


def test_echo_requests_are_icmplibs_packets() -> None:
    for kind, family in ((8, ICMPv4Socket), (128, ICMPv6Socket)):
        icmp = family(privileged=True)
        for ident, sequence in ((1, 0), (0xFFFF, 0xFFFF), (0x1234, 0xFEDC), (0x8000, 7)):
            built = icmp._create_packet(ident, sequence, PAYLOAD)
            assert echo_request(kind, ident, sequence) == built
        icmp.close()


def test_raw_channel_reads_echo_replies_with_kernel_times() -> None:
    channel = RawChannel(Binding(4))
    try:
        before = time.time()
        channel.send("127.0.0.1", 0x4242, 7)
        deadline, reply = time.monotonic() + 5, None
        while reply is None and time.monotonic() < deadline:
            try:
                got = channel.receive()
            except BlockingIOError:
                continue
            if got is not None and got.ident == 0x4242:
                reply = got
        assert reply is not None and (reply.source, reply.sequence) == ("127.0.0.1", 7)
        assert reply.received_at is not None and before <= reply.received_at <= time.time()
    finally:
        channel.close()


def test_unanswered_packets_count_as_loss_after_wait() -> None:
    e, clock, channels = engine()
    got = results(e.ping("10.0.0.1", 3, 1.0, spacing=0.1))
    clock.advance(0.05)
    answer(e, channels[Binding(4)], 0)
    clock.pump([0.1, 0.1, 1.0])
    assert len(got) == 1 and got[0].sent == 3 and got[0].received == 1
    assert got[0].loss == 0.67


def test_reply_from_another_address_or_ident_is_ignored() -> None:
    e, clock, channels = engine()
    got = results(e.ping("10.0.0.1", 1, 1.0))
    channel = channels[Binding(4)]
    answer(e, channel, 0, source="10.0.0.2")
    destination, ident, sequence = channel.sent[0]
    channel.inbox.append(Reply(destination, ident ^ 1, sequence))
    e.readers[channel.binding].doRead()
    assert got == []
    clock.advance(1.0)
    assert got == [ProbeResult("10.0.0.1", 1, ())]


def test_reply_on_another_binding_does_not_count() -> None:
    e, clock, channels = engine()
    got = results(e.ping("10.0.0.1", 1, 1.0, interface="eth1"))
    e.ping("10.0.0.9", 1, 1.0)
    bound, unbound = channels[Binding(4, "eth1")], channels[Binding(4)]
    destination, ident, sequence = bound.sent[0]
    unbound.inbox.append(Reply(destination, ident, sequence))
    e.readers[unbound.binding].doRead()
    clock.advance(1.0)
    assert got == [ProbeResult("10.0.0.1", 1, ())]


def test_many_targets_share_one_socket_per_family() -> None:
    e, clock, channels = engine()
    for n in range(1, 200):
        e.ping(f"10.0.{n // 250}.{n % 250 + 1}", 1, 1.0)
    e.ping("fd00::1", 1, 1.0)
    e.ping("fd00::2", 1, 1.0)
    assert set(channels) == {Binding(4), Binding(6)}
    assert len(channels[Binding(4)].sent) == 199
    sequences = [s for _, _, s in channels[Binding(4)].sent]
    assert len(set(sequences)) == 199


def test_a_send_error_is_loss_not_failure() -> None:
    e, clock, channels = engine()
    e.ping("10.0.0.1", 1, 1.0)
    channels[Binding(4)].refuse = True
    got = results(e.ping("10.0.0.2", 2, 1.0, spacing=0.1))
    clock.advance(0.1)
    assert got == [ProbeResult("10.0.0.2", 2, ())]
    assert e.send_errors == 2


def test_close_ends_probes_in_flight_and_closes_sockets() -> None:
    e, clock, channels = engine()
    got = results(e.ping("10.0.0.1", 1, 5.0))
    e.close()
    assert got == [ProbeResult("10.0.0.1", 1, ())]
    assert channels[Binding(4)].closed
    assert clock.getDelayedCalls() == []


def test_ipv6_targets_are_normalised_for_matching() -> None:
    e, clock, channels = engine()
    got = results(e.ping("fd00:0::0001", 1, 1.0))
    channel = channels[Binding(6)]
    _, ident, sequence = channel.sent[0]
    channel.inbox.append(Reply("fd00::1", ident, sequence))
    e.readers[channel.binding].doRead()
    assert got and got[0].alive


def test_imon_result_has_icmplib_figures() -> None:
    result = ProbeResult("10.0.0.1", 4, (1.0, 3.0, 2.0))
    assert result.imon_result() == "10.0.0.1:True:1.0:2.0:3.0:0.25:1.5"
    assert ProbeResult("10.0.0.1", 2).imon_result() == "10.0.0.1:False:0.0:0.0:0.0:1.0:0.0"


def test_window_keeps_the_last_checks() -> None:
    window = Window("a", 2)
    window.add(ProbeResult("a", 2, ()))
    window.add(ProbeResult("a", 2, (1.0,)))
    window.add(ProbeResult("a", 2, (3.0, 5.0)))
    total = window.total()
    assert total == merged("a", [ProbeResult("a", 2, (1.0,)), ProbeResult("a", 2, (3.0, 5.0))])
    assert total.loss == 0.25 and total.avg_rtt == 3.0

