from __future__ import annotations

import attrs
import pytest
from twisted.internet.testing import MemoryReactorClock

from netsentinel.events import EventBus
from netsentinel.features import CommandError, Context
from netsentinel.traffic.config import SourceConfig, TrafficConfig, TriggerConfig
from netsentinel.traffic.packet import DLT_RAW, Batch
from netsentinel.traffic.service import TrafficService
from tests.traffic.fakes import RecordingRunner
from tests.traffic.packets import udp4
from tests.traffic.test_source import Opener

VPN = TriggerConfig("vpn", (SourceConfig("nflog:2"),), ("/bin/vpn",), idle=60)
WEB = TriggerConfig("web", (SourceConfig("tun0", "tcp"),), ("/bin/web",), idle=60)
PACKETS = Batch.of(DLT_RAW, [udp4("10.0.0.2", "10.0.0.1", 1, 2)])


def make(*triggers: TriggerConfig) -> tuple[TrafficService, RecordingRunner, Opener]:
    runner, opener = RecordingRunner(), Opener(missing=False)
    context = Context(MemoryReactorClock(), EventBus(), runner)  # type: ignore[arg-type]
    service = TrafficService(TrafficConfig(triggers), context, opener)
    service.startService()
    return service, runner, opener


def test_reload_keeps_the_state_of_unchanged_and_changed_triggers() -> None:
    service, runner, opener = make(VPN, WEB)
    service.triggers["vpn"].trigger.receive(PACKETS, "nflog:2")
    runner.finish(0)
    assert service.reconfigure(TrafficConfig((attrs.evolve(VPN, idle=5),)))
    assert list(service.triggers) == ["vpn"]
    assert service.status().triggers["vpn"].state == "active"
    assert service.status().triggers["vpn"].idle == 5
    assert len(opener.opened) == 2 and opener.opened[1].closed    # web's capture closed
    assert not opener.opened[0].closed


def test_reload_with_new_sources_reopens_captures() -> None:
    service, _, opener = make(VPN)
    service.reconfigure(TrafficConfig((attrs.evolve(VPN, sources=(SourceConfig("nflog:3"),)),)))
    assert opener.opened[0].closed and not opener.opened[1].closed
    assert service.status().triggers["vpn"].sources[0].device == "nflog:3"


def test_commands_refuse_bad_arguments() -> None:
    service, _, _ = make(VPN)
    commands = service.commands()
    assert commands["trigger list"]([])["vpn"]["state"] == "standby"
    with pytest.raises(CommandError, match="usage: trigger standby NAME"):
        commands["trigger standby"]([])
    with pytest.raises(CommandError, match="known: vpn"):
        commands["trigger standby"](["web"])
