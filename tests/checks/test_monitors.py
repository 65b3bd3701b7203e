"""Monitors as state machines, driven by a Clock and a fake engine."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.actions import script_argv
from netsentinel.checks.config import (
    Alarm,
    DdnsConfig,
    InterfaceSource,
    PingConfig,
    Probe,
    UpdownConfig,
)
from netsentinel.checks.ddns import DdnsMonitor
from netsentinel.checks.events import CheckEvent, ImonCall
from netsentinel.checks.hysteresis import Change, Hysteresis, LinkState
from netsentinel.checks.ping import PingMonitor
from netsentinel.checks.sources import SourceError, validate
from netsentinel.checks.updown import UpdownMonitor, duration
from tests.checks.fakes import FakeEngine, tools


def names(events: list[CheckEvent]) -> list[tuple[str, ...]]:
    return [(e.name, *e.args) for e in events]


def test_hysteresis_needs_consecutive_results() -> None:
    h = Hysteresis(down_after=3, up_after=2)
    assert h.feed(True) == Change(LinkState.UP, True)
    assert [h.feed(g) for g in (False, False, True, False, False)] == [None] * 5
    assert h.changing
    assert h.feed(False) == Change(LinkState.DOWN, False)
    assert h.feed(True) is None and h.feed(True) == Change(LinkState.UP, False)


def test_imon_duration_is_days_hours_minutes_seconds() -> None:
    assert duration(0) == "0:0:0:0"
    assert duration(90061.7) == "1:1:1:1"


def test_script_argv_follows_imon() -> None:
    event = CheckEvent("ddns", "home", "ddns-ip-update", ("1.2.3.4", "unknown"))
    assert script_argv(("/bin/act",), ImonCall(event, syslog=True)) == (
        "/bin/act", "home", "0", "ddns-ip-update", "1.2.3.4", "unknown")
    quiet = ImonCall(CheckEvent("ddns", "home", "ddns-no-update"), syslog=False)
    assert script_argv(("/bin/act",), quiet) == ("/bin/act", "home", "1", "ddns-no-update")


def updown(clock: Clock, engine: FakeEngine, **kw: Any) -> tuple[UpdownMonitor, list[Any]]:
    config = UpdownConfig(**{"name": "net", "targets": ("10.0.0.1",), "interval": 10.0,
                             "fast_interval": 1.0, "probe": Probe(1, 0.5), "down_after": 3,
                             "up_after": 2, **kw})
    t, events = tools(clock, engine)
    monitor = UpdownMonitor(config, t)
    monitor.startService()
    return monitor, events


def test_updown_goes_offline_after_down_after_and_probes_faster() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, events = updown(clock, engine)
    clock.advance(0)
    assert monitor.state.state is LinkState.UP and events == []
    engine.alive["10.0.0.1"] = False
    clock.advance(10)
    assert monitor.next_delay() == 1.0
    clock.advance(1)
    assert events == []
    clock.advance(1)
    assert names(events) == [("updown-offline", "10.0.0.1")]
    engine.alive["10.0.0.1"] = True
    clock.advance(10)
    clock.advance(1)
    assert names(events)[-1] == ("updown-online", "10.0.0.1", "0:0:0:11")


def test_updown_quorum_tolerates_one_dead_target() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive.update({"10.0.0.1": True, "10.0.0.2": True, "10.0.0.3": False})
    monitor, events = updown(clock, engine, targets=("10.0.0.1", "10.0.0.2", "10.0.0.3"),
                             quorum=2, down_after=1)
    clock.advance(0)
    engine.alive["10.0.0.2"] = False
    clock.advance(10)
    assert monitor.state.state is LinkState.DOWN
    assert names(events) == [("updown-offline", "10.0.0.1,10.0.0.2,10.0.0.3")]


def test_updown_reports_addping_with_the_event() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive.update({"10.0.0.1": True, "192.168.1.1": True})
    monitor, events = updown(clock, engine, addping=("192.168.1.1", "192.168.2.1"),
                             down_after=1)
    clock.advance(0)
    engine.alive["10.0.0.1"] = False
    clock.advance(10)
    assert events[0].notes == ("addping 192.168.1.1 online", "addping 192.168.2.1 offline")


class FakeDns:
    def __init__(self) -> None:
        self.answer: list[str] | Exception = []

    def addresses(self, name: str, family: int = 4) -> defer.Deferred[list[str]]:
        if isinstance(self.answer, Exception):
            return defer.fail(self.answer)
        return defer.succeed(self.answer)


def test_updown_dns_answer_keeps_it_online() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, events = updown(clock, engine, down_after=1, dns_server="10.9.9.1",
                             dns_lookup="example.com")
    monitor.dns = dns = FakeDns()  # type: ignore[assignment]  # a stand-in querier
    clock.advance(0)
    engine.alive["10.0.0.1"] = False
    dns.answer = ["10.9.9.9"]
    clock.advance(10)
    assert monitor.state.state is LinkState.UP and monitor.refuted
    dns.answer = TimeoutError("no answer")
    clock.advance(10)
    assert names(events) == [("updown-offline", "10.0.0.1")]


def ping(clock: Clock, engine: FakeEngine, alarm: Alarm | None) -> tuple[PingMonitor, list[Any]]:
    t, events = tools(clock, engine)
    monitor = PingMonitor(PingConfig("gw", "10.0.0.1", 1.0, Probe(2, 0.5), window=4,
                                     alarm=alarm), t)
    monitor.startService()
    return monitor, events


def test_ping_reports_each_check_in_imon_form() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, events = ping(clock, engine, None)
    clock.pump([0, 1])
    assert names(events) == [("ping-result", "10.0.0.1:True:1.0:1.0:1.0:0.0:0.0")] * 2
    assert (window := monitor.status().window) is not None and window.sent == 4


def test_ping_alarm_raises_on_loss_and_clears_after_hold() -> None:
    clock, engine = Clock(), FakeEngine()
    engine.alive["10.0.0.1"] = True
    monitor, events = ping(clock, engine, Alarm(loss=0.3, hold=5.0))
    clock.advance(0)
    engine.alive["10.0.0.1"] = False
    clock.pump([1, 1])
    alarms = [e for e in names(events) if e[0] != "ping-result"]
    assert alarms == [("ping-alarm", "10.0.0.1", "loss", "0.5", "1.0")]
    engine.alive["10.0.0.1"] = True
    clock.pump([1] * 3)      # the loss is back under 0.3, but the hold is not over
    assert [e for e in names(events) if e[0] == "ping-alarm-clear"] == []
    clock.pump([1])
    assert [e[0] for e in names(events) if e[0].startswith("ping-alarm")] == [
        "ping-alarm", "ping-alarm-clear"]


def test_validate_refuses_wrong_family_private_and_cgnat() -> None:
    assert validate(" 8.8.4.4\n", 4, False) == "8.8.4.4"
    for text, family, private in (("10.0.0.1", 4, False), ("100.64.1.1", 4, False),
                                  ("2001:db8::1", 4, True), ("127.0.0.1", 4, True),
                                  ("<html>", 4, True)):
        try:
            validate(text, family, private)
        except SourceError:
            continue
        raise AssertionError(f"{text} accepted")
    assert validate("10.0.0.1", 4, True) == "10.0.0.1"
    assert validate("8.8.8.8", 4, False) == "8.8.8.8"


def ddns(tmp_path: Any, addresses: dict[str, list[str]], state: bool) -> tuple[DdnsMonitor, list[Any], Clock]:
    clock = Clock()
    t, events = tools(clock, FakeEngine())
    config = DdnsConfig("ext", (InterfaceSource("wan0"), InterfaceSource("wan1")), interval=60,
                        accept_private=True,
                        state_file=str(tmp_path / "ip") if state else None)
    monitor = DdnsMonitor(config, t, lambda name, family: addresses.get(name, []))
    monitor.startService()
    return monitor, events, clock


def test_ddns_first_report_has_unknown_old_address(tmp_path: Any) -> None:
    addresses = {"wan1": ["10.1.1.1"]}
    monitor, events, clock = ddns(tmp_path, addresses, state=False)
    clock.advance(0)
    assert names(events) == [("ddns-ip-update", "10.1.1.1", "unknown")]
    clock.advance(60)
    addresses["wan1"] = ["10.1.1.2"]
    clock.advance(60)
    addresses["wan1"] = []
    clock.advance(60)
    assert names(events)[1:] == [("ddns-ip-update", "10.1.1.2", "10.1.1.1"), ("ddns-no-update",)]


def test_ddns_state_file_remembers_across_restarts(tmp_path: Any) -> None:
    monitor, events, clock = ddns(tmp_path, {"wan0": ["10.1.1.1"]}, state=True)
    clock.advance(0)
    monitor.stopService()
    again, events2, clock2 = ddns(tmp_path, {"wan0": ["10.1.1.1"]}, state=True)
    clock2.advance(0)
    assert names(events) == [("ddns-ip-update", "10.1.1.1", "unknown")] and events2 == []
