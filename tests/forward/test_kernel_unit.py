"""``mode: kernel`` without a kernel: the config it refuses, the rules it writes, the
books it keeps from conntrack reads (a Clock), the refusals it reads from NFLOG (a
capture that tests hand in)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

import pytest
from twisted.internet.task import Clock

from netsentinel.events import EventBus
from netsentinel.forward import kernelnft
from netsentinel.forward.config import ServiceConfig
from netsentinel.forward.events import ConnectionClosed, ConnectionOpened
from netsentinel.forward.flows import CLOSE_WAIT, Flow, Tally, Totals
from netsentinel.forward.kernel import KernelForwarder
from netsentinel.forward.rejectlog import RejectLog
from netsentinel.schema import ConfigError
from netsentinel.traffic.packet import DLT_NFLOG, Batch
from tests.forward.test_config import read

KERNEL = """
forward:
  wg:
    protocol: udp
    mode: kernel
    listen: ":51820"
    backend: "10.0.0.2:51820"
    per_ip_limit: 2
    per_ip_rate: 0.5
    conn_limit: 100
    ip_blacklist: [192.0.2.0/24, "2001:db8::1"]
    ban: {after: 5}
"""


def kernel_service(text: str = KERNEL) -> ServiceConfig:
    config = read(text)
    assert config is not None
    return config.services[0]


def test_kernel_mode_is_read() -> None:
    service = kernel_service()
    assert service.mode == "kernel" and service.limits.per_ip_limit == 2


@pytest.mark.parametrize(("line", "key", "why"), [
    ("print_bytes: true", "print_bytes", "nothing to dump"),
    ("send_proxy: v1", "send_proxy", "PROXY header"),
    ("ip_limit: 3", "ip_limit", "distinct clients"),
    ("session_idle: 30", "session_idle", "nf_conntrack_udp_timeout_stream"),
    ("blacklist_set: inet filter x", "blacklist_set", "ip_blacklist"),
    ("ban: {table: inet filter}", "ban.table", "own rules"),
    ('backend: "backend.lan:51820"', "backend", "needs an IP address"),
])
def test_what_only_a_relay_does_is_refused_in_one_line(line: str, key: str, why: str) -> None:
    text = KERNEL.replace("    ban: {after: 5}\n", "").replace(
        '    backend: "10.0.0.2:51820"\n', "" if key == "backend" else
        '    backend: "10.0.0.2:51820"\n') + f"    {line}\n"
    with pytest.raises(ConfigError) as caught:
        read(text)
    [problem] = str(caught.value).splitlines()
    assert problem.startswith("test.yaml:") and f"forward.wg.{key}: " in problem
    assert why in problem


def test_a_listen_address_of_the_other_family_is_refused() -> None:
    with pytest.raises(ConfigError, match="between IPv4 and IPv6"):
        read(KERNEL.replace('listen: ":51820"', 'listen: "[2001:db8::9]:51820"'))


def rules(commands: list[dict[str, Any]], chain: str) -> list[list[Any]]:
    return [c["add"]["rule"]["expr"] for c in commands
            if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain]


def test_the_rules_admit_in_the_relays_order_then_dnat() -> None:
    service = kernel_service()
    commands = kernelnft.commands(service, service.blacklist, 6301)
    admission = rules(commands, "fwd_wg")
    kinds = [next(k for e in expr for k in e if k in ("log", "dnat", "drop"))
             for expr in admission]
    assert kinds == ["drop", "log", "log", "log", "log", "dnat"]    # ban, then refusals
    prefixes = [e["log"]["prefix"] for expr in admission for e in expr if "log" in e]
    assert prefixes == ["netsentinel wg blacklist", "netsentinel wg conn_limit",
                        "netsentinel wg per_ip_limit", "netsentinel wg per_ip_rate"]
    assert admission[-1][-1] == {"dnat": {"family": "ip", "addr": "10.0.0.2", "port": 51820}}
    # IPv4 only (the backend's family); the blacklist's IPv6 entry has no rule
    assert "2001:db8::1" not in str(admission)
    entry = rules(commands, "fwd_wg_pre")[0]
    assert {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                      "right": "local"}} in entry
    assert rules(commands, "fwd_wg_out")[0] == entry
    assert "masquerade" in str(rules(commands, "fwd_wg_post"))


def test_sets_a_rule_made_dynamic_are_not_declared_again() -> None:
    service = kernel_service()
    declared = {c["add"]["set"]["name"] for c in kernelnft.commands(
        service, (), 1, frozenset({"fwd_wg_ip4"})) if "set" in c.get("add", {})}
    assert "fwd_wg_ip4" not in declared and "fwd_wg_total" in declared
    assert {"ban_wg", "ban_wg6"} <= declared


@pytest.mark.parametrize(("per_second", "expected"), [
    (10, (10, "second")), (0.5, (30, "minute")), (2.5, (150, "minute")),
    (1 / 3600, (1, "hour")), (0.001, (86, "day"))])
def test_rates_become_whole_numbers_per_unit(per_second: float,
                                             expected: tuple[int, str]) -> None:
    assert kernelnft.rate(per_second) == expected


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)


def forwarder(text: str = KERNEL) -> tuple[KernelForwarder, Clock, Recorder]:
    clock, bus, seen = Clock(), EventBus(), Recorder()
    bus.subscribe(ConnectionOpened, seen)
    bus.subscribe(ConnectionClosed, seen)
    config = kernel_service(text.replace("    ban: {after: 5}\n", ""))
    return KernelForwarder(config, clock, bus, 6301), clock, seen


def flow(fid: int, up: int = 0, state: int = 0) -> Flow:
    return Flow(fid, "198.51.100.7", 40000 + fid, "10.0.0.1", up, up, 1, 1, state)


def test_flows_open_and_close_from_reads_and_totals_from_the_counters() -> None:
    kernel, clock, seen = forwarder()
    kernel.seen([flow(1, 10)], Totals(1, 10, 10, 1, 1), clock.seconds())
    clock.advance(1)
    # 2 is new; 3 began and ended between the reads: only the counters know it
    kernel.seen([flow(1, 30), flow(2, 5)], Totals(3, 40, 40, 4, 4), clock.seconds())
    status = kernel.status()
    assert (status.connections, status.total_connections, status.closed_connections) == \
        (2, 3, 1)
    assert (status.up, status.down) == (40, 40)
    clock.advance(1)
    kernel.seen([flow(2, 5)], Totals(3, 40, 40, 4, 4), clock.seconds())   # 1 went
    status = kernel.status()
    assert (status.connections, status.closed_connections, status.up) == (1, 2, 40)
    assert status.closes == {"idle-timeout": 2}
    assert [type(e).__name__ for e in seen.events] == \
        ["ConnectionOpened", "ConnectionOpened", "ConnectionClosed"]
    assert seen.events[-1].up == 30
    assert status.udp is not None and status.udp.datagrams_up == 4


def test_a_half_closed_tcp_flow_is_marked() -> None:
    kernel, clock, _ = forwarder(KERNEL.replace("    protocol: udp\n", ""))
    kernel.seen([flow(1, 10, CLOSE_WAIT)], Totals(1, 10, 10, 1, 1), clock.seconds())
    assert kernel.flows[1].half_closed_at == clock.seconds()
    assert kernel.status().closes == {}


def test_totals_are_since_the_start_and_survive_counters_made_anew() -> None:
    names = kernelnft.names(kernel_service())
    tally = Tally()
    tally.base({names["new"]: (5, 0), names["up"]: (50, 5000)}, names)   # a previous run's
    read = tally.update({names["new"]: (7, 0), names["up"]: (60, 5600)}, names, "udp", 4)
    assert (read.flows, read.packets_up, read.up) == (2, 10, 600 - 28 * 10)
    # nft flush ruleset: the counters went; the rules made them anew, from 0
    read = tally.update({names["new"]: (1, 0), names["up"]: (3, 200)}, names, "udp", 4)
    assert (read.flows, read.packets_up, read.up) == (3, 13, 800 - 28 * 13)


def nflog(prefix: bytes, source: str) -> bytes:
    """An NFLOG record (DLT_NFLOG) of an IPv4 UDP packet from ``source``."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0,
                     ipaddress.IPv4Address(source).packed, bytes(4)) + bytes(8)

    def tlv(kind: int, value: bytes) -> bytes:
        record = struct.pack("=HH", 4 + len(value), kind) + value
        return record + bytes(-len(record) % 4)
    return bytes(4) + tlv(10, prefix + b"\0") + tlv(9, ip)


class FakeCapture:
    linktype = DLT_NFLOG

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets

    def fileno(self) -> int:
        return -1

    def read(self, limit: int) -> Batch | None:
        if not self.packets:
            return None
        meta = b"".join(struct.pack("=IIII", 0, 0, sum(map(len, self.packets[:i])), len(p))
                        for i, p in enumerate(self.packets))
        batch = Batch(DLT_NFLOG, b"".join(self.packets), meta)
        self.packets = []
        return batch

    def close(self) -> None:
        pass


def test_refusals_are_read_by_prefix_and_others_ignored() -> None:
    got: list[tuple[str, str, str]] = []
    capture = FakeCapture([nflog(b"netsentinel wg per_ip_limit", "198.51.100.7"),
                           nflog(b"someone else's log", "198.51.100.8"),
                           nflog(b"netsentinel web blacklist", "192.0.2.1")])
    log = RejectLog(6301, lambda *a: got.append(a), Clock(), opener=lambda _: capture)
    batch = capture.read(64)
    assert batch is not None
    log._deliver(batch, "nflog:6301")
    assert got == [("wg", "198.51.100.7", "per_ip_limit"), ("web", "192.0.2.1", "blacklist")]


def test_a_conntrack_entry_is_read_from_its_bytes() -> None:
    from netsentinel.forward import ctdump as ct

    def attr(kind: int, payload: bytes, nested: bool = False) -> bytes:
        return ct._attribute(kind | (ct.NESTED if nested else 0), payload)

    def tuple_(src: str, dst: str, sport: int, dport: int) -> bytes:
        ip = attr(1, socket.inet_aton(src)) + attr(2, socket.inet_aton(dst))
        proto = attr(ct.CTA_PROTO_NUM, bytes([6])) + \
            attr(ct.CTA_PROTO_SRC_PORT, struct.pack("!H", sport)) + \
            attr(ct.CTA_PROTO_DST_PORT, struct.pack("!H", dport))
        return attr(ct.CTA_TUPLE_IP, ip, True) + attr(ct.CTA_TUPLE_PROTO, proto, True)

    def counters(packets: int, octets: int) -> bytes:
        return attr(ct.CTA_COUNTERS_PACKETS, struct.pack("!Q", packets)) + \
            attr(ct.CTA_COUNTERS_BYTES, struct.pack("!Q", octets))

    body = struct.pack("=BBH", socket.AF_INET, 0, 0) + \
        attr(ct.CTA_TUPLE_ORIG, tuple_("198.51.100.7", "10.0.0.1", 40001, 443), True) + \
        attr(ct.CTA_TUPLE_REPLY, tuple_("10.0.0.2", "10.0.0.1", 8443, 40001), True) + \
        attr(ct.CTA_STATUS, struct.pack("!I", 0x20)) + \
        attr(ct.CTA_PROTOINFO, attr(ct.CTA_PROTOINFO_TCP, attr(
            ct.CTA_PROTOINFO_TCP_STATE, bytes([3])), True), True) + \
        attr(ct.CTA_COUNTERS_ORIG, counters(3, 180), True) + \
        attr(ct.CTA_COUNTERS_REPLY, counters(2, 120), True) + \
        attr(ct.CTA_ID, struct.pack("!I", 77))
    entry = ct._entry(socket.AF_INET, body, 4, len(body))
    assert entry == ct.Entry(77, 0x20, "198.51.100.7", "10.0.0.1", 40001, 443, "10.0.0.2",
                             8443, 3, 180, 2, 120, 3)
    request = ct.request(socket.AF_INET, 17, 51820)
    length, kind, flags, _, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags) == (len(request), 0x101, 0x301)
