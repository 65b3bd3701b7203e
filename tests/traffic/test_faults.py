"""A trigger or a source that trips on an unexpected exception records a fault and goes on."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from netsentinel.faults import FaultRecorder
from netsentinel.traffic.config import SourceConfig, TriggerConfig
from netsentinel.traffic.packet import Batch
from netsentinel.traffic.source import Source
from netsentinel.traffic.trigger import Trigger
from tests.traffic.fakes import RecordingRunner
from tests.traffic.test_source import FakeCapture, Opener
from tests.traffic.test_trigger import UDP


def test_an_opener_that_raises_is_a_fault_and_is_retried() -> None:
    reactor, faults = MemoryReactorClock(), FaultRecorder(Clock())
    opener = Opener(missing=False)
    calls: list[int] = []

    def flaky(config: SourceConfig) -> FakeCapture:
        calls.append(1)
        if len(calls) == 1:
            raise TypeError("bad argument from pcap")
        return opener(config)
    source = Source(SourceConfig("tun9"), lambda b, d: 0.0, reactor, flaky, retry=2.0,
                    faults=faults)
    source.start()
    assert source.status().state == "waiting"
    assert source.status().error == "source tun9: TypeError: bad argument from pcap"
    assert faults.faults["traffic"].count == 1
    reactor.advance(2.0)   # the retry loop survived the fault
    assert source.status().state == "listening" and source.status().error is None


def test_a_packet_the_code_trips_on_is_a_fault_and_reading_goes_on() -> None:
    reactor, faults, opener = MemoryReactorClock(), FaultRecorder(Clock()), Opener(False)
    got: list[int] = []

    def deliver(batch: Batch, device: str) -> float:
        got.append(len(batch))
        if len(got) == 1:
            raise IndexError("packet too short")
        return 0.0
    source = Source(SourceConfig("tun9"), deliver, reactor, opener, faults=faults)
    source.start()
    capture = opener.opened[0]
    capture.waiting = 128
    assert source.reader is not None
    source.reader.doRead()
    assert got == [64, 64]   # the second slice was still read
    assert faults.faults["traffic"].last == "source tun9 packet: IndexError: packet too short"
    assert not capture.closed and len(opener.opened) == 1   # not taken for a lost device


class BrokenRunner(RecordingRunner):
    def finish_with_fault(self) -> None:
        self.pending.pop(0).errback(Failure(RuntimeError("runner bug")))


def make(faults: FaultRecorder) -> tuple[Trigger, Clock, BrokenRunner]:
    config = TriggerConfig("vpn", (SourceConfig("tun9"),), ("/bin/cmd",), idle=10.0)
    clock, runner = Clock(), BrokenRunner()
    return (Trigger(config, clock, runner, lambda e: None, faults),  # type: ignore[arg-type]  # a stand-in runner
            clock, runner)


def test_a_runner_fault_counts_as_a_failed_command_and_the_machine_moves_on() -> None:
    faults = FaultRecorder(Clock())
    trigger, _, runner = make(faults)
    trigger.receive(UDP, "tun9")
    runner.finish_with_fault()
    assert trigger.state.value == "active"    # as after a failed start, as tuninetd does
    assert trigger.status().failures == 1
    assert faults.faults["traffic"].last == "trigger vpn start: RuntimeError: runner bug"


def test_an_idle_check_that_raises_is_a_fault() -> None:
    faults = FaultRecorder(Clock())
    trigger, clock, runner = make(faults)
    trigger.receive(UDP, "tun9")
    runner.finish(0)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("bad state")
    trigger._feed = broken   # type: ignore[method-assign]
    clock.advance(10.0)      # the reactor would have logged an unhandled error
    assert faults.faults["traffic"].last == "trigger vpn idle check: ValueError: bad state"
