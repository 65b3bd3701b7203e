from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from twisted.internet.task import Clock

from netsentinel.events import Event
from netsentinel.traffic.config import SourceConfig, TriggerConfig
from netsentinel.traffic.packet import DLT_RAW, Batch
from netsentinel.traffic.savefile import file_linktype
from netsentinel.traffic.trigger import Trigger
from tests.traffic.fakes import RecordingRunner
from tests.traffic.packets import ACK, SYN, tcp4, udp4

UDP = Batch.of(DLT_RAW, [udp4("10.0.0.2", "10.0.0.1", 1000, 53)])
SYN_BATCH = Batch.of(DLT_RAW, [tcp4("10.0.0.2", "10.0.0.1", 1000, 80, SYN)])
ACK_BATCH = Batch.of(DLT_RAW, [tcp4("10.0.0.2", "10.0.0.1", 1000, 80, ACK)])


def make(**changes: Any) -> tuple[Trigger, Clock, RecordingRunner, list[Event]]:
    config = attrs.evolve(TriggerConfig("vpn", (SourceConfig("tun9"),), ("/bin/cmd",),
                                        idle=10.0), **changes)
    clock, runner = Clock(), RecordingRunner()
    events: list[Event] = []
    return (Trigger(config, clock, runner, events.append),  # type: ignore[arg-type]  # a stand-in runner
            clock, runner, events)


def test_first_packet_starts_and_idle_stops() -> None:
    trigger, clock, runner, events = make()
    trigger.receive(UDP, "tun9")
    assert runner.calls == [("/bin/cmd", "start")]
    assert trigger.state.value == "starting"
    runner.finish(0)
    assert trigger.state.value == "active"
    clock.advance(9.9)
    assert runner.verbs() == ["start"]
    clock.advance(0.1)
    assert runner.calls[-1] == ("/bin/cmd", "stop")
    runner.finish(0)
    assert trigger.state.value == "standby"
    assert [e.state for e in events] == ["starting", "active", "stopping", "standby"]
    assert "UDP 10.0.0.2:1000 > 10.0.0.1:53" in events[0].packet


def test_sources_rest_only_while_packets_are_not_needed() -> None:
    trigger, _, runner, _ = make(ack_only=True)
    assert trigger.receive(UDP, "tun9") == 0.5          # fired: idle / 20
    runner.finish(0)
    assert trigger.receive(UDP, "tun9") == 0.0          # not an ACK: keep looking
    assert trigger.receive(ACK_BATCH, "tun9") == 0.5
    trigger.standby()
    assert trigger.receive(ACK_BATCH, "tun9") == 0.0    # stopping: read and drop


def test_packets_while_active_push_the_stop_back() -> None:
    trigger, clock, runner, _ = make()
    trigger.receive(UDP, "tun9")
    runner.finish(0)
    for _ in range(5):
        clock.advance(6)
        trigger.receive(UDP, "tun9")
    assert runner.verbs() == ["start"]
    clock.advance(10)
    assert runner.verbs() == ["start", "stop"]


def test_start_still_running_is_never_started_twice() -> None:
    trigger, clock, runner, _ = make()
    for _ in range(3):
        trigger.receive(UDP, "tun9")
        clock.advance(20)
    assert runner.verbs() == ["start"]
    runner.finish(0)      # the idle time counted while start ran: stop right away
    clock.advance(0)
    assert runner.verbs() == ["start", "stop"]


def test_failed_start_still_makes_the_trigger_active() -> None:
    trigger, _, runner, _ = make()
    trigger.receive(UDP, "tun9")
    runner.finish(3)
    assert trigger.state.value == "active"
    assert trigger.status().failures == 1


def test_ack_only_keeps_alive_only_on_tcp_ack() -> None:
    trigger, clock, runner, _ = make(ack_only=True)
    trigger.receive(SYN_BATCH, "tun9")            # any packet starts
    runner.finish(0)
    clock.advance(8)
    trigger.receive(UDP, "tun9")
    trigger.receive(SYN_BATCH, "tun9")
    clock.advance(2)
    assert runner.verbs() == ["start", "stop"]
    runner.finish(0)
    trigger.receive(SYN_BATCH, "tun9")
    runner.finish(0)
    clock.advance(8)
    trigger.receive(ACK_BATCH, "tun9")
    clock.advance(8)
    assert runner.verbs() == ["start", "stop", "start"]


def test_forced_standby_runs_stop_now_and_answers_after_it() -> None:
    trigger, _, runner, _ = make()
    trigger.receive(UDP, "tun9")
    runner.finish(0)
    replies: list[str] = []
    trigger.standby().addCallback(replies.append)
    assert runner.verbs() == ["start", "stop"]
    assert replies == []
    runner.finish(0)
    assert replies == ["vpn is in standby"]


def test_forced_standby_during_start_waits_for_start_then_stops() -> None:
    trigger, _, runner, _ = make()
    trigger.receive(UDP, "tun9")
    replies: list[str] = []
    trigger.standby().addCallback(replies.append)
    trigger.receive(UDP, "tun9")
    assert runner.verbs() == ["start"]
    runner.finish(0)
    assert runner.verbs() == ["start", "stop"]
    runner.finish(1)
    assert replies == ["vpn is in standby"]
    assert trigger.state.value == "standby"


def test_forced_standby_in_standby_is_a_no_op() -> None:
    trigger, _, runner, _ = make()
    replies: list[str] = []
    trigger.standby().addCallback(replies.append)
    assert replies == ["vpn is already in standby"]
    assert runner.calls == []


def test_shutdown_stops_only_with_stop_on_exit() -> None:
    for stop_on_exit, expected in ((False, ["start"]), (True, ["start", "stop"])):
        trigger, _, runner, _ = make(stop_on_exit=stop_on_exit)
        trigger.receive(UDP, "tun9")
        runner.finish(0)
        trigger.shutdown()
        assert runner.verbs() == expected


def test_reconfigured_idle_applies_to_the_running_timer() -> None:
    trigger, clock, runner, _ = make()
    trigger.receive(UDP, "tun9")
    runner.finish(0)
    trigger.reconfigure(attrs.evolve(trigger.config, idle=2.0))
    clock.advance(2)
    assert runner.verbs() == ["start", "stop"]


def test_packet_that_fired_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "fired.pcap"
    trigger, _, _runner, _ = make(capture=str(path))
    trigger.receive(UDP, "tun9")
    trigger.receive(SYN_BATCH, "tun9")
    data = path.read_bytes()
    assert file_linktype(data) == 101
    assert len(data) == 24 + 16 + len(next(iter(UDP)))
