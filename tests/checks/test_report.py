"""The checks snapshot: JSON both ways, problems, metrics and the status page section."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import attrs

from netsentinel.checks.ddns_report import DdnsStatus, SourceFailure
from netsentinel.checks.failover_report import (
    FailoverStatus,
    Postping,
    RouteStatus,
    UplinkStatus,
)
from netsentinel.checks.icmp import EngineStatus
from netsentinel.checks.ping_report import PingStatus
from netsentinel.checks.provider import HostStatus, ProviderStatus
from netsentinel.checks.quality import Breach, QualityStatus, WindowFigures
from netsentinel.checks.report import ChecksStatus
from netsentinel.checks.stats import ProbeResult
from netsentinel.checks.updown_report import UpdownStatus
from netsentinel.metrics import render
from netsentinel.page import PageView
from netsentinel.snapshot import Snapshot, from_json
from tests.lab import samples
from tests.pagekit import flat, rows

NOW = 1_800_000_000.0
PROBE = ProbeResult("192.0.2.1", 2, (1.0, 2.0)).snapshot()
SILENT = ProbeResult("192.0.2.9", 2, ()).snapshot()
PROVIDER = ProviderStatus(
    protocol="dyndns2", server="https://dyn.example/nic/update", state="ok",
    address="198.51.100.7", wanted="198.51.100.7", last_attempt=NOW - 60, next_attempt=None,
    attempts=0, requests=1, results={"good": 1},
    hosts={"home.example.org": HostStatus("198.51.100.7", "good", "", NOW - 60)})
QUALITY = QualityStatus(
    rounds=4, limits="recovery", ipv4=WindowFigures(0.5, 0.002),
    breaches=(Breach(4, "failure_loss", 0.5, 0.4),))
PRIMARY = UplinkStatus("pnet", "eth1", "192.0.2.1", "192.0.2.1", "offline", 2, SILENT,
                       gateway6="2001:db8::1", target6="2001:db8::1", last6=None,
                       reason="no reply from 192.0.2.1", quality=QUALITY)
STANDBY = UplinkStatus("standby", "eth2", "198.51.100.1", "198.51.100.1", "online", 5, PROBE)
GW = PingStatus("192.0.2.1", PROBE, PROBE, False)
NET = UpdownStatus("online", ("192.0.2.1", "192.0.2.9"), 1, 3, False, (PROBE, SILENT), ())
EXT = DdnsStatus("198.51.100.7", "ipv4", NOW - 5, NOW - 50, (), PROVIDER)
WAN = FailoverStatus(
    active="standby", metric=201, switches=1, repairs=0, switched_at=NOW - 30,
    postping=Postping("standby", "192.0.2.53", "online", NOW - 29),
    routes={"ipv4": RouteStatus("standby", "198.51.100.1", "eth2"), "ipv6": None},
    uplinks={"primary": PRIMARY, "standby": STANDBY})
STATUS = ChecksStatus(
    ddns={"ext": EXT,
          "lan": DdnsStatus("unknown", "ipv6", NOW - 5, None,
                            (SourceFailure("https://ip.example", "timeout"),))},
    failover={"wan": WAN},
    ping={"gw": GW, "new": PingStatus("192.0.2.2", None, None, False)},
    updown={"net": NET},
    engine=EngineStatus(sockets=2, in_flight=1, sent=10, received=8, send_errors=0),
    events=3)


def section(status: ChecksStatus) -> ET.Element:
    return flat(status.section(PageView(NOW)))


def test_json_round_trip_keeps_nulls_and_kinds_present_only_when_set() -> None:
    snapshot: Snapshot = STATUS         # what the daemon takes from every feature
    data = snapshot.to_json()
    assert from_json(ChecksStatus, data) == STATUS
    assert list(data) == ["ddns", "failover", "ping", "updown", "engine", "events"]
    assert data["ddns"]["lan"]["provider"] is None and data["ddns"]["ext"]["provider"]["state"] == "ok"
    assert data["ping"]["gw"]["last"] == {
        "address": "192.0.2.1", "sent": 2, "received": 2, "alive": True, "loss": 0.0,
        "min_rtt": 1.0, "avg_rtt": 1.5, "max_rtt": 2.0, "jitter": 1.0}
    primary, standby = data["failover"]["wan"]["uplinks"].values()
    assert primary["last6"] is None and primary["quality"]["breaches"][0]["limit"] == 0.4
    assert "ipv6" not in primary["quality"] and standby["reason"] is None
    assert data["failover"]["wan"]["routes"] == {
        "ipv4": {"uplink": "standby", "gateway": "198.51.100.1", "interface": "eth2"},
        "ipv6": None}
    only_ping = ChecksStatus(ping=STATUS.ping, engine=None, events=0)
    assert list(only_ping.to_json()) == ["ping", "engine", "events"]
    assert from_json(ChecksStatus, only_ping.to_json()) == only_ping


def test_problems_in_page_order() -> None:
    assert STATUS.problems() == ["ddns lan: 1 source(s) failed"]
    broken = attrs.evolve(
        STATUS,
        ping={"gw": attrs.evolve(GW, alarm=True)},
        updown={"net": attrs.evolve(NET, state="offline")},
        ddns={"ext": attrs.evolve(EXT, provider=attrs.evolve(
            PROVIDER, state="failed", address=None,
            hosts={"home.example.org": HostStatus(None, "badauth", "", NOW)}))},
        failover={"wan": attrs.evolve(WAN, active=None)})
    assert broken.problems() == [
        "ping gw: alarm on 192.0.2.1",
        "updown net: offline",
        "ddns ext: provider failed (badauth)",
        "failover wan: no uplink carries the default route",
    ]


def test_metrics() -> None:
    m = samples(render(STATUS.metrics()))
    assert m["netsentinel_checks_events_total"] == 3
    assert m["netsentinel_icmp_requests_total"] == 10
    assert m["netsentinel_icmp_replies_total"] == 8
    assert m['netsentinel_ping_rtt_seconds{name="gw",target="192.0.2.1"}'] == 0.0015
    assert m['netsentinel_ping_jitter_seconds{name="gw",target="192.0.2.1"}'] == 0.001
    assert 'netsentinel_ping_last_rtt_seconds{name="new",target="192.0.2.2"}' not in m
    assert m['netsentinel_updown_state{name="net",state="online"}'] == 1
    assert m['netsentinel_updown_targets_alive{name="net"}'] == 1
    assert m['netsentinel_ddns_provider_state{name="ext",state="ok"}'] == 1
    assert m['netsentinel_ddns_provider_results_total{name="ext",result="good"}'] == 1
    assert m['netsentinel_ddns_provider_address_info{name="ext",address="198.51.100.7"}'] == 1
    assert m['netsentinel_ddns_source_failures{name="lan"}'] == 1
    assert 'netsentinel_ddns_last_change_timestamp_seconds{name="lan"}' not in m
    assert m['netsentinel_failover_active{name="wan",uplink="standby"}'] == 1
    assert m['netsentinel_failover_uplink_up{name="wan",uplink="primary"}'] == 0
    assert m['netsentinel_failover_uplink_loss_ratio{name="wan",uplink="primary",family="4"}'] \
        == 0.5
    assert m['netsentinel_failover_uplink_rtt_seconds{name="wan",uplink="primary",family="4"}'] \
        == 0.002
    assert m['netsentinel_failover_route{name="wan",family="4",uplink="standby",'
             'gateway="198.51.100.1"}'] == 1
    assert not [k for k in m if "family=\"6\"" in k]


def test_section() -> None:
    root = section(STATUS)
    assert [h.text for h in root.iter("h3")] == ["ping", "updown", "ddns", "failover"]
    assert rows(root, "ping")[1:] == [
        ["gw", "192.0.2.1", "1.500 ms", "1.500 ms", "0.0%", "1.000 ms", "no"],
        ["new", "192.0.2.2", "—", "—", "—", "—", "no"]]
    assert rows(root, "updown")[1] == ["net", "online", "192.0.2.1 192.0.2.9", "1", "1", "3"]
    ext, lan = rows(root, "ddns")[1:]
    assert ext == ["ext", "ipv4", "198.51.100.7", "5.0s ago", "50.0s ago", "—",
                   "ok 198.51.100.7"]
    assert lan[5] == "https://ip.example: timeout"
    assert rows(root, "failover")[1] == [
        "wan", "standby", "primary pnet: offline (no reply from 192.0.2.1) via 192.0.2.1 "
        "(eth1), standby: online via 198.51.100.1 (eth2)", "1", "0", "30.0s ago"]
    marked = [tr.get("class") for tr in root.findall(".//table[@id='ddns']/tbody/tr")]
    assert marked == [None, "bad"]
    muted = root.find("p")
    assert muted is not None and muted.text == (
        "ICMP: 10 sent, 8 received, 0 send errors, 1 in flight")


def test_provider_text_says_what_went_wrong_and_when_it_is_tried_again() -> None:
    retrying = attrs.evolve(PROVIDER, state="retrying", next_attempt=NOW + 300, hosts={
        "home.example.org": HostStatus("198.51.100.7", "911", "busy", NOW)})
    assert retrying.troubled and not PROVIDER.troubled
    assert retrying.text(NOW) == "retrying 198.51.100.7 (911) next in 5m 0s"
    assert retrying.text(None) == "retrying 198.51.100.7 (911)"
