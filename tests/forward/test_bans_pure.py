"""The ban book's arithmetic, the ban rule's commands and the ``ban:`` config, pure."""

from __future__ import annotations

import ipaddress

import pytest

from netsentinel.forward.bannft import rule_commands, specs
from netsentinel.forward.bans import MAX_TRACKED, BanBook, NeverBan
from netsentinel.forward.config import LOOPBACK, BanConfig, from_option, parse
from netsentinel.forward.feature import sets
from netsentinel.schema import ConfigError, Section

net = ipaddress.ip_network


def book(**options: object) -> BanBook:
    return BanBook(BanConfig(**options))    # type: ignore[arg-type]


def test_after_strikes_within_the_window_ban_the_client() -> None:
    b = book(after=3, window=10, duration=100)
    assert b.strike("10.0.0.2", "per_ip_rate", 0) is None
    assert b.strike("10.0.0.2", "per_ip_rate", 1) is None
    ban = b.strike("10.0.0.2", "per_ip_limit", 2)
    assert ban is not None and ban.network == net("10.0.0.2/32") and ban.left(2) == 100
    assert b.banned("10.0.0.2", 50) and not b.banned("10.0.0.2", 103)
    assert b.active(103) == [] and b.added == 1


def test_strikes_spread_wider_than_the_window_never_ban() -> None:
    b = book(after=2, window=10)
    assert b.strike("10.0.0.2", "per_ip_rate", 0) is None
    assert b.strike("10.0.0.2", "per_ip_rate", 11) is None
    assert b.strike("10.0.0.2", "per_ip_rate", 12) is not None


def test_refusals_that_are_not_the_clients_doing_never_count() -> None:
    b = book(after=1)
    for reason in ("conn_limit", "ip_limit", "fd_limit", "banned"):
        assert b.strike("10.0.0.2", reason, 0) is None


def test_an_ipv6_client_is_banned_with_its_prefix_and_siblings_are_covered() -> None:
    b = book(after=1, ipv6_prefix=64)
    ban = b.strike("2001:db8:1:2::5", "per_ip_rate", 0)
    assert ban is not None and ban.network == net("2001:db8:1:2::/64")
    assert ban.element == "2001:db8:1:2::"
    assert b.banned("2001:db8:1:2:ffff::1", 1) and not b.banned("2001:db8:1:3::1", 1)


def test_a_prefix_holding_a_local_address_bans_the_address_alone() -> None:
    b = BanBook(BanConfig(after=1, ipv6_prefix=64),
                own=lambda n: n.overlaps(net("2001:db8::1/128")))
    ban = b.strike("2001:db8::9", "per_ip_rate", 0)
    assert ban is not None and ban.network == net("2001:db8::9/128")


def test_never_ban_and_loopback_are_refused() -> None:
    b = book(never_ban=(*LOOPBACK, net("192.0.2.0/24")))
    for ip in ("127.0.0.1", "::1", "192.0.2.7"):
        with pytest.raises(NeverBan):
            b.ban(net(ip), 0, 10, "test")
    with pytest.raises(ValueError):
        b.ban(net("10.0.0.0/24"), 0, 10, "a network is not one ban")


def test_unban_by_address_inside_a_banned_prefix() -> None:
    b = book(ipv6_prefix=64)
    b.ban(net("2001:db8::1"), 0, 10, "t")
    lifted = b.unban("2001:db8::77")
    assert lifted is not None and lifted.network == net("2001:db8::/64") and not b.bans


def test_the_strikes_table_is_bounded() -> None:
    b = book(after=5)
    for i in range(MAX_TRACKED + 10):
        b.strike(str(ipaddress.IPv4Address(0x0A000000 + i)), "per_ip_rate", 0)
    assert len(b.strikes) == MAX_TRACKED


def test_bans_read_back_from_the_kernel_are_adopted() -> None:
    b = book(ipv6_prefix=64)
    assert b.adopt([("10.0.0.2", 30, False, "per_ip_rate: 3 in 60s"),
                    ("2001:db8::", 20, True, "restored from the kernel"),
                    ("10.0.0.3", 0, False, "x")], 100) == 2
    assert [str(x.network) for x in b.active(100)] == ["10.0.0.2/32", "2001:db8::/64"]
    assert [x.reason for x in b.active(100)] == ["per_ip_rate: 3 in 60s",
                                                 "restored from the kernel"]


def test_the_rule_drops_the_services_port_for_each_set() -> None:
    config = BanConfig(set="ssh_ban", ipv6_prefix=64)
    assert [s.name for s in specs(config)] == ["ssh_ban", "ssh_ban6", "ssh_ban6p"]
    commands = rule_commands(config, "tcp", 2222)
    chain = [c["add"]["chain"] for c in commands if "chain" in c.get("add", {})]
    assert chain[0]["hook"] == "input" and chain[0]["prio"] < 0
    rules = [c["add"]["rule"]["expr"] for c in commands if "rule" in c.get("add", {})]
    assert [r[2]["match"]["right"] for r in rules] == ["@ssh_ban", "@ssh_ban6", "@ssh_ban6p"]
    assert all(r[1]["match"]["right"] == 2222 and r[-1] == {"drop": None} for r in rules)
    assert rules[2][2]["match"]["left"]["&"][1] == "ffff:ffff:ffff:ffff::"


def test_a_service_on_one_address_drops_banned_clients_only_there() -> None:
    config = BanConfig(set="ssh_ban", ipv6_prefix=64)
    [rule] = [c["add"]["rule"]["expr"] for c in rule_commands(config, "tcp", 22, "192.0.2.1")
              if "rule" in c.get("add", {})]
    assert rule[2]["match"] == {"op": "==", "right": "192.0.2.1",
                                "left": {"payload": {"protocol": "ip", "field": "daddr"}}}
    assert rule[3]["match"]["right"] == "@ssh_ban"
    rules6 = [c["add"]["rule"]["expr"] for c in rule_commands(config, "udp", 53, "2001:db8::1")
              if "rule" in c.get("add", {})]
    assert [r[3]["match"]["right"] for r in rules6] == ["@ssh_ban6", "@ssh_ban6p"]
    assert {r[2]["match"]["right"] for r in rules6} == {"2001:db8::1"}


def parsed(text: str) -> BanConfig | None:
    section = Section.from_text(text, "t.yaml")
    config = parse(section.section("forward"), {})
    if section.problems:
        raise ConfigError(section.problems)
    assert config is not None
    return config.services[0].ban


def test_ban_config_defaults_and_keys() -> None:
    ban = parsed('forward:\n ssh:\n  listen: ":2222"\n  backend: "127.0.0.1:22"\n'
                 '  ban: {after: 5, window: 30, for: 600, table: inet filter}\n')
    assert ban == BanConfig(5, 30.0, 600, "ban_ssh", ("inet", "filter"))
    assert ban.where == ("inet", "filter")


def test_ban_config_typo_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"t.yaml:\d+: forward.ssh.ban.aftr: unknown key"):
        parsed('forward:\n ssh:\n  listen: ":2222"\n  backend: "127.0.0.1:22"\n'
               '  ban: {aftr: 5}\n')


def test_udp_option_and_protocol_key() -> None:
    spec = from_option("udp::51820=10.0.0.2:51820")
    assert (spec.name, spec.protocol, spec.listen.port) == ("cli-udp-51820", "udp", 51820)
    assert from_option(":22=127.0.0.1:2222").protocol == "tcp"
    section = Section.from_text('forward:\n wg:\n  protocol: udp\n  listen: ":51820"\n'
                                '  backend: "10.0.0.2:51820"\n  session_idle: 30\n', "t.yaml")
    config = parse(section.section("forward"), {})
    assert not section.problems and config is not None
    assert (config.services[0].protocol, config.services[0].session_idle) == ("udp", 30.0)


def test_a_tcp_and_a_udp_service_may_share_a_port() -> None:
    section = Section.from_text(
        'forward:\n dns: {listen: ":53", backend: "10.0.0.2:53"}\n'
        ' dnsu: {protocol: udp, listen: ":53", backend: "10.0.0.2:53"}\n', "t.yaml")
    parse(section.section("forward"), {})
    assert not section.problems


def test_ban_sets_are_claimed() -> None:
    section = Section.from_text('forward:\n ssh:\n  listen: ":22"\n  backend: "10.0.0.2:22"\n'
                                '  ban: {ipv6_prefix: 64}\n', "t.yaml")
    config = parse(section.section("forward"), {})
    assert config is not None
    assert [(c.table, c.name) for c in sets(config)] == [
        ("netsentinel", "ban_ssh"), ("netsentinel", "ban_ssh6"), ("netsentinel", "ban_ssh6p")]
