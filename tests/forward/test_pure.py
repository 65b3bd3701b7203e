"""Pure parts: blacklist matching, limiter arithmetic, PROXY headers, hex dump, nft sets, stats."""

from __future__ import annotations

import ipaddress
import struct

from netsentinel.forward import counters, proxyheader
from netsentinel.forward.blacklist import Blacklist, client_address
from netsentinel.forward.config import Limits, NftSetRef
from netsentinel.forward.hexdump import hexdump
from netsentinel.forward.limiter import Limiter
from netsentinel.forward.nftset import desired, specs
from netsentinel.forward.status import BackendAddress

net = ipaddress.ip_network


def test_blacklist_matches_addresses_and_networks_of_both_families() -> None:
    blacklist = Blacklist.of([net("1.1.1.1"), net("2.2.2.0/24"), net("2001:db8::/32")])
    assert client_address("1.1.1.1") in blacklist
    assert client_address("2.2.2.200") in blacklist
    assert client_address("2001:db8:1::5") in blacklist
    assert client_address("1.1.1.2") not in blacklist
    assert client_address("2001:db9::1") not in blacklist


def test_ipv4_mapped_client_matches_its_ipv4_entry() -> None:
    blacklist = Blacklist.of([net("10.0.0.0/8")])
    assert client_address("::ffff:10.1.2.3") in blacklist
    assert Blacklist.of([net("::ffff:10.0.0.0/104")]).networks == {net("10.0.0.0/8")}


def test_limiter_is_exact_at_each_limit() -> None:
    limiter = Limiter(Limits(conn_limit=3, per_ip_limit=2, ip_limit=2))
    assert [limiter.admit(ip, 0) for ip in ("a", "a", "a")] == [None, None, "per_ip_limit"]
    assert limiter.admit("b", 0) is None
    assert limiter.admit("c", 0) == "conn_limit"
    limiter.release("a")
    assert limiter.admit("c", 0) == "ip_limit"
    assert limiter.admit("b", 0) is None
    assert limiter.room() == 0 and limiter.total == 3


def test_released_ip_no_longer_counts() -> None:
    limiter = Limiter(Limits(ip_limit=1))
    assert limiter.admit("a", 0) is None
    limiter.release("a")
    assert limiter.per_ip == {} and limiter.admit("b", 0) is None


def test_rate_limit_refills_with_time() -> None:
    limiter = Limiter(Limits(per_ip_rate=2))
    assert [limiter.admit("a", 0.0) for _ in range(3)] == [None, None, "per_ip_rate"]
    assert limiter.admit("b", 0.0) is None       # per IP
    assert limiter.admit("a", 0.5) is None       # one token back after half a second
    assert limiter.admit("a", 0.5) == "per_ip_rate"
    limiter.forget_full_buckets(100.0)
    assert limiter.buckets == {}


def test_proxy_v1_text() -> None:
    assert proxyheader.v1("192.0.2.1", 5000, "198.51.100.2", 22) == \
        b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 22\r\n"
    assert proxyheader.v1("::ffff:192.0.2.1", 5000, "::ffff:198.51.100.2", 22) == \
        b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 22\r\n"
    assert proxyheader.v1("2001:db8::1", 1, "192.0.2.9", 2) == \
        b"PROXY TCP6 2001:db8::1 ::ffff:c000:209 1 2\r\n"


def test_proxy_v2_binary() -> None:
    header = proxyheader.v2("192.0.2.1", 5000, "198.51.100.2", 22)
    assert header[:12] == b"\r\n\r\n\x00\r\nQUIT\n"
    version, family, length = struct.unpack("!BBH", header[12:16])
    assert (version, family, length) == (0x21, 0x11, 12)
    assert header[16:] == bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 5000, 22)
    header6 = proxyheader.v2("::1", 1, "::1", 2)
    assert header6[13] == 0x21 and len(header6) == 16 + 36


def test_hexdump_lines_show_offset_hex_and_ascii() -> None:
    lines = hexdump(b"GET / HTTP/1.1\r\nHost: x\r\n", 256)
    assert lines[0] == ("00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  "
                        "|GET / HTTP/1.1..|")
    assert lines[1].startswith("00000010  48 6f 73 74") and lines[1].endswith("|Host: x..|")


def test_hexdump_stops_at_its_limit() -> None:
    lines = hexdump(bytes(100), 32)
    assert len(lines) == 3 and lines[-1] == "... 68 more bytes not shown"


def test_blacklist_mirror_wants_merged_networks_in_two_sets() -> None:
    ref = NftSetRef("inet", "filter", "ns_block")
    wanted = desired(ref, frozenset({net("2.2.2.0/24"), net("2.2.2.7"), net("1.1.1.1"),
                                     net("2001:db8::/32")}))
    v4, v6 = specs(ref)
    assert (v4.name, v6.name) == ("ns_block", "ns_block6")
    assert wanted == {v4: frozenset({"1.1.1.1/32", "2.2.2.0/24"}),
                      v6: frozenset({"2001:db8::/32"})}


def test_empty_blacklist_still_wants_both_sets_empty() -> None:
    wanted = desired(NftSetRef("inet", "filter", "b"), frozenset())
    assert sorted(spec.name for spec in wanted) == ["b", "b6"]
    assert all(elements == frozenset() for elements in wanted.values())


class Conn:
    def __init__(self, number: int, ip: str, up: int, down: int) -> None:
        self.number, self.ip, self.port = number, ip, 1000 + number
        self.started = self.last_activity = 100.0
        self.up, self.down = up, down
        self.half_closed_at: float | None = None


SERVICE = counters.Service(name="web", state="running", listen="[::]:80",
                           backend="127.0.0.1:8080", blacklist=(),
                           backend_address=BackendAddress("127.0.0.1", None), conn_limit=100)


def test_stats_sum_live_and_closed_connections() -> None:
    c = counters.ServiceCounters(boot_at=0.0, accessed_at=100.0, accepted=3)
    c.connection_closed(10, 20, "done")
    c.rejected["blacklist"] += 2
    live = [Conn(2, "10.0.0.1", 1, 2), Conn(3, "10.0.0.1", 3, 4)]
    status = counters.status(SERVICE, c, live, 160.0)
    assert (status.sid, status.uptime, status.ips, status.connections) == \
        ("web", 160, "10.0.0.1", 2)
    assert status.ip_count == 1
    assert (status.up, status.down) == (14, 26)
    assert status.accessed == 100
    assert status.rejected["blacklist"] == 2 and status.rejected["per_ip_rate"] == 0
    detail = counters.detail(live, 160.0)
    assert detail["ip_table"] == {"10.0.0.1": {"connections": 2, "up": 4, "down": 6}}
    assert [o["idle"] for o in detail["open"]] == [60.0, 60.0]


def test_status_leaves_out_the_tables() -> None:
    json = counters.status(SERVICE, counters.ServiceCounters(0.0), [], 1.0).to_json()
    assert "open" not in json and "ip_table" not in json
    assert "blacklist_set" not in json     # only with a blacklist_set


def test_stats_ips_are_comma_joined_and_accessed_is_boot_time_before_any_client() -> None:
    """monconn: ``"ips": strings.Join(IPs, ",")`` and ``accessAt`` starts at ``bootAt``."""
    c = counters.ServiceCounters(boot_at=50.7)
    idle = counters.status(SERVICE, c, [], 60.0)
    assert (idle.ips, idle.ip_count, idle.accessed) == ("", 0, 50)
    live = [Conn(1, "10.0.0.2", 1, 1), Conn(2, "10.0.0.1", 1, 1), Conn(3, "10.0.0.2", 1, 1)]
    busy = counters.status(SERVICE, c, live, 60.0)
    assert (busy.ips, busy.ip_count) == ("10.0.0.1,10.0.0.2", 2)
