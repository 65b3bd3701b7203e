"""Pure parts of the address monitor: desired sets, the nft transaction, include files."""

from __future__ import annotations

import ipaddress

from netsentinel.addresses import files, proxy, zones
from netsentinel.addresses.config import NftConfig
from netsentinel.netlink.table import AddressTable, Interface, changes
from netsentinel.nft import sets


def table(**interfaces: list[str]) -> AddressTable:
    return AddressTable({
        name: Interface(i, name, True, frozenset(ipaddress.ip_interface(a) for a in addrs))
        for i, (name, addrs) in enumerate(interfaces.items())})


def test_a_zone_collects_all_its_interfaces() -> None:
    t = table(eth0=["10.0.0.1/24", "fd00::1/64"], eth1=["10.0.1.1/24"], eth2=["192.0.2.1/24"])
    desired = zones.desired_sets(t, {"lan": ("eth0", "eth1")}, NftConfig(networks=True))
    by_name = {spec.name: value for spec, value in desired.items()}
    assert by_name == {"lan_ips": {"10.0.0.1", "10.0.1.1"}, "lan_ipv6": {"fd00::1"},
                       "lan_nets": {"10.0.0.0/23"}, "lan_nets6": {"fd00::/64"}}


def test_a_plain_set_gets_only_its_difference() -> None:
    spec = sets.SetSpec("wan_ips", "ipv4_addr", False)
    where = {"family": "inet", "table": "filter", "name": "wan_ips"}
    commands = sets.change("inet", "filter", spec, frozenset({"10.0.0.1", "10.0.0.3"}),
                           frozenset({"10.0.0.2", "10.0.0.1"}))
    assert commands == [{"delete": {"element": {**where, "elem": ["10.0.0.3"]}}},
                        {"add": {"element": {**where, "elem": ["10.0.0.2"]}}}]


def test_an_interval_set_is_flushed_and_refilled() -> None:
    spec = sets.SetSpec("wan_nets", "ipv4_addr", True)
    commands = sets.change("inet", "filter", spec, frozenset({"10.0.0.0/24"}),
                           frozenset({"10.0.0.0/24", "10.1.0.0/24"}))
    assert [next(iter(c)) for c in commands] == ["flush", "add"]
    assert len(commands[1]["add"]["element"]["elem"]) == 2


def test_kernel_ranges_and_prefixes_normalize_like_desired_state() -> None:
    spec = sets.SetSpec("lan_nets", "ipv4_addr", True)
    raw = [{"prefix": {"addr": "10.0.0.0", "len": 24}}, {"range": ["10.0.1.0", "10.0.1.255"]}]
    assert sets.normalize(spec, raw) == {"10.0.0.0/23"}


def test_vars_file_golden() -> None:
    text = files.render_vars(files.entries(
        table(eth0=["10.0.0.1/24", "10.0.0.2/24"], eth1=[]), ["eth0", "eth1"]))
    assert text.splitlines()[2:] == [
        "redefine eth0_ipv4_address = { 10.0.0.1, 10.0.0.2 }",
        "redefine eth0_ipv4_network = { 10.0.0.0/24 }",
        "redefine eth0_ipv6_address = { :: }",
        "redefine eth0_ipv6_network = { :: }",
        "redefine eth1_ipv4_address = { 0.0.0.0 }",
        "redefine eth1_ipv4_network = { 0.0.0.0 }",
        "redefine eth1_ipv6_address = { :: }",
        "redefine eth1_ipv6_network = { :: }",
    ]


def test_sets_file_network_sets_have_interval_flag() -> None:
    text = files.render_sets(files.entries(table(eth0=["10.0.0.1/24"]), ["eth0"]))
    assert "set eth0_ipv4_network { type ipv4_addr; flags interval; elements = { 10.0.0.0/24 }; }" in text
    assert "set eth0_ipv6_address { type ipv6_addr; }" in text


def test_proxy_template_gets_first_and_all_addresses() -> None:
    t = table(eth0=["10.0.0.2/24", "10.0.0.1/24"])
    assert proxy.render_proxy("bind ${eth0_ipv4}:80 # ${eth0_ipv4_all} [${ppp0_ipv4}]", t,
                              ["eth0", "ppp0"]) == "bind 10.0.0.1:80 # 10.0.0.1 10.0.0.2 []"


def test_changes_lists_added_and_removed_per_interface() -> None:
    [change] = changes(table(eth0=["10.0.0.1/24"]), table(eth0=["10.0.0.2/24"]))
    assert change.interface == "eth0"
    assert {str(a) for a in change.added} == {"10.0.0.2/24"}
    assert {str(a) for a in change.removed} == {"10.0.0.1/24"}
