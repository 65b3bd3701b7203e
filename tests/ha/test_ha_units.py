"""The ha feature without keepalived: the FIFO's lines, the weight, the config, and the
service driving a fake feature switch on a memory reactor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from netsentinel.config import load_config
from netsentinel.events import EventBus
from netsentinel.features import Context
from netsentinel.ha.config import HaConfig, holds
from netsentinel.ha.notify import FifoReader, Notice, ensure_fifo, parse_line
from netsentinel.ha.service import HaService
from netsentinel.ha.weight import Health, uplink_health
from netsentinel.schema import ConfigError


def test_instance_line_as_keepalived_documents_it() -> None:
    assert parse_line('INSTANCE "VI_WAN" MASTER 100') == Notice("INSTANCE", "VI_WAN", "MASTER",
                                                                 100)
    assert parse_line('GROUP "VG 1" FAULT') == Notice("GROUP", "VG 1", "FAULT")


@pytest.mark.parametrize("line", ['VS [10.0.0.1]:tcp:80 UP', 'INSTANCE "VI_1" DANCING 5',
                                  'INSTANCE "unterminated MASTER', "", "INSTANCE VI_1"])
def test_other_lines_are_ignored(line: str) -> None:
    assert parse_line(line) is None


def test_weight_in_proportion_to_uplinks_up() -> None:
    def failover(*states: str) -> dict[str, Any]:
        return {"failover": {"wan": {"uplinks": {str(i): {"state": s}
                                                 for i, s in enumerate(states)}}}}
    assert uplink_health(failover("online", "offline")) == Health(1, 2)
    assert uplink_health(failover("online", "offline")).weight(50) == 25
    assert uplink_health(failover("offline", "offline")).weight(50) == 0
    assert uplink_health(failover("unknown", "online")).weight(50) == 50   # not judged yet
    assert uplink_health(None).weight(50) == 50                              # no checks
    assert uplink_health({"ping": {}}).weight(40) == 40                      # no failover


def test_reader_joins_partial_lines(tmp_path: Path) -> None:
    got: list[str] = []
    reader = FifoReader(str(tmp_path / "fifo"), got.append, MemoryReactorClock())
    reader._feed(b'INSTANCE "VI_1" MAS')
    reader._feed(b'TER 100\nINSTANCE "VI_1" BACKUP 100\n')
    assert got == ['INSTANCE "VI_1" MASTER 100', 'INSTANCE "VI_1" BACKUP 100']


def test_fifo_is_made_when_missing_and_a_plain_file_refused(tmp_path: Path) -> None:
    ensure_fifo(str(tmp_path / "fifo"))
    assert (tmp_path / "fifo").is_fifo()
    (tmp_path / "plain").write_text("")
    with pytest.raises(OSError, match="not a FIFO"):
        ensure_fifo(str(tmp_path / "plain"))


def config_file(tmp_path: Path, master_only: str) -> Path:
    path = tmp_path / "netsentinel.yaml"
    path.write_text(f"ha:\n  keepalived:\n    notify_fifo: {tmp_path}/f\n    instance: VI_1\n"
                    f"  master_only: {master_only}\n")
    return path


def test_master_only_names_features(tmp_path: Path) -> None:
    config = load_config(str(config_file(tmp_path, "[forward, docker]")), {})
    assert config.features["ha"].master_only == ("forward", "docker")
    config = load_config(str(config_file(tmp_path, "[forward, ddns, failover]")), {})
    assert holds(config.features["ha"]) == ("forward", "checks.ddns", "checks.failover")
    with pytest.raises(ConfigError) as error:
        load_config(str(config_file(tmp_path, "[forward, ping]")), {})
    assert "ha.master_only: item 1: 'ping' is a monitor of checks that only watches" in str(
        error.value)
    with pytest.raises(ConfigError) as error:
        load_config(str(config_file(tmp_path, "[checks, ddns]")), {})
    assert "ha.master_only: checks moves as a whole already: ddns in it too" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_config(str(config_file(tmp_path, "[forwards]")), {})
    assert "'forwards' is not a feature (one of: addresses, checks" in str(error.value)


class FakeSwitch:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.on: set[str] = set()
        self.checks: Any = None

    def start(self, key: str) -> defer.Deferred[None]:
        self.calls.append(f"start {key}")
        self.on.add(key)
        return defer.succeed(None)

    def stop(self, key: str) -> defer.Deferred[None]:
        self.calls.append(f"stop {key}")
        self.on.discard(key)
        return defer.succeed(None)

    def running(self, key: str) -> bool:
        return key in self.on

    def held_parts(self, feature: str) -> frozenset[str]:
        return frozenset()

    def status(self, key: str) -> Any:
        return self.checks


class FakeChecks:
    def __init__(self, *states: str) -> None:
        self.states = states

    def to_json(self) -> dict[str, Any]:
        return {"failover": {"wan": {"uplinks": {
            k: {"state": s} for k, s in zip(("primary", "standby"), self.states, strict=True)}}}}


def service(tmp_path: Path, **changes: Any) -> tuple[HaService, FakeSwitch, MemoryReactorClock]:
    reactor, switch = MemoryReactorClock(), FakeSwitch()
    config = HaConfig(str(tmp_path / "notify.fifo"), "VI_1", str(tmp_path / "track"),
                      ("forward", "traffic"), **changes)
    ha = HaService(config, Context(reactor, EventBus(), None, switch=switch))  # type: ignore[arg-type]
    return ha, switch, reactor


def notify(tmp_path: Path, text: str, ha: HaService) -> None:
    fd = os.open(tmp_path / "notify.fifo", os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, text.encode())
    os.close(fd)
    ha.reader.doRead()


def test_master_starts_and_backup_stops_master_only_features_in_order(tmp_path: Path) -> None:
    ha, switch, reactor = service(tmp_path)
    ha.startService()
    reactor.advance(0)
    assert ha.when_ready().called and switch.calls == []
    notify(tmp_path, 'INSTANCE "VI_1" MASTER 100\nINSTANCE "VI_OTHER" BACKUP 90\n', ha)
    assert switch.calls == ["start forward", "start traffic"]
    notify(tmp_path, 'INSTANCE "VI_1" FAULT 100\n', ha)
    assert switch.calls[2:] == ["stop forward", "stop traffic"]
    status = ha.status()
    assert (status.state, status.transitions, status.features) == (
        "fault", 2, {"forward": False, "traffic": False})
    assert status.metrics()[0].samples == (((), 0),)
    ha.stopService()
    assert ha.reader.fd == -1


def test_track_file_follows_the_uplinks(tmp_path: Path) -> None:
    ha, switch, reactor = service(tmp_path, interval=1.0)
    switch.checks = FakeChecks("online", "online")
    ha.startService()
    assert (tmp_path / "track").read_text() == "50\n"
    switch.checks = FakeChecks("offline", "online")
    reactor.advance(1)
    assert (tmp_path / "track").read_text() == "25\n"
    switch.checks = FakeChecks("offline", "offline")
    reactor.advance(1)
    assert (tmp_path / "track").read_text() == "0\n" and ha.status().weight == 0
    ha.stopService()


def test_fifo_replaced_under_us_is_reopened(tmp_path: Path) -> None:
    ha, switch, reactor = service(tmp_path)
    ha.startService()
    os.unlink(tmp_path / "notify.fifo")
    reactor.advance(1)
    notify(tmp_path, 'INSTANCE "VI_1" MASTER 100\n', ha)
    assert switch.calls == ["start forward", "start traffic"]
    ha.stopService()


def test_vip_already_here_at_start_means_master(tmp_path: Path) -> None:
    ha, switch, reactor = service(tmp_path, vip="127.0.0.1")
    ha.startService()
    reactor.advance(0)
    assert ha.state == "master" and switch.calls == ["start forward", "start traffic"]
    ha.stopService()


def test_status_reads_back_and_draws_its_section(tmp_path: Path) -> None:
    from twisted.web.template import flattenString

    from netsentinel.ha.report import HaStatus
    from netsentinel.page import PageView
    from netsentinel.snapshot import from_json
    ha, switch, reactor = service(tmp_path)
    ha.startService()
    snapshot = ha.status()
    assert snapshot.to_json()["weight"] == 50
    assert from_json(HaStatus, snapshot.to_json()) == snapshot
    flattened: list[bytes] = []
    flattenString(None, snapshot.section(PageView(now=0.0))).addCallback(flattened.append)
    html = flattened[0].decode()
    assert "VI_1" in html and "50 in" in html
    ha.stopService()
