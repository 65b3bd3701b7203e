"""The names: section: defaults, and one file:line problem per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsentinel.config import parse_config
from netsentinel.names.config import NamesConfig, NameSetConfig
from netsentinel.schema import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "examples" / "names.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    return [str(p) for p in caught.value.problems]


def test_defaults() -> None:
    config = parse_config("names:\n  servers: [192.0.2.53, '[2001:db8::53]:5353']\n"
                          "  sets:\n    allow: {names: [Backup.Example.NET.]}\n", "t.yaml")
    names = config.features["names"]
    assert isinstance(names, NamesConfig)
    assert names.servers == (("192.0.2.53", 53), ("2001:db8::53", 5353))
    assert names.sets == (NameSetConfig("allow", ("backup.example.net",)),)
    assert names.sets[0].set_names == ("allow", "allow6")
    assert (names.sets[0].min_ttl, names.sets[0].max_ttl, names.sets[0].create) == (30, 3600, True)


def test_bad_names_servers_and_bounds_are_named_with_file_line_and_key() -> None:
    found = problems("names:\n"
                     "  servers: [192.0.2.53, dns.example.net:53]\n"
                     "  sets:\n"
                     "    allow:\n"
                     "      names: [ok.example, 'bad name', a..b]\n"
                     "    other:\n"
                     "      names: [x.example]\n"
                     "      min_ttl: 600\n"
                     "      max_ttl: 60\n"
                     "      stale_for: -1\n"
                     "      table: filter\n"
                     "      colour: red\n")
    assert sorted(found) == sorted([
        "test.yaml:2: names.servers: item 1: a server must be an IP address, not a name: "
        "'dns.example.net:53'",
        "test.yaml:5: names.sets.allow.names: item 1: not a DNS name: 'bad name'",
        "test.yaml:8: names.sets.other.min_ttl: min_ttl (600) must not be above max_ttl (60)",
        "test.yaml:10: names.sets.other.stale_for: -1 is out of range (minimum 0)",
        "test.yaml:11: names.sets.other.table: expected 'FAMILY TABLE' such as 'inet filter', "
        "got 'filter'",
        "test.yaml:12: names.sets.other.colour: unknown key",
    ])


def test_empty_label_is_refused() -> None:
    [problem] = problems("names:\n  servers: [192.0.2.53]\n  sets:\n    a: {names: [a..b]}\n")
    assert problem.startswith("test.yaml:4: names.sets.a.names: item 0: not a DNS name")


def test_servers_and_sets_are_required() -> None:
    assert sorted(problems("names:\n  timeout: 2\n")) == [
        "test.yaml:2: names.servers: required key is missing",
        "test.yaml:2: names.sets: required section is missing"]
    assert problems("names:\n  servers: []\n  sets:\n    a: {names: [x.example]}\n") == [
        "test.yaml:2: names.servers: expected at least one server"]


def test_colliding_set_names_are_refused() -> None:
    found = problems("names:\n  servers: [192.0.2.53]\n  sets:\n"
                     "    web: {names: [a.example]}\n"
                     "    web6: {names: [b.example]}\n")
    assert found == ["test.yaml:5: names.sets.web6: set web6 of web6 is also a set of web"]


def test_a_set_another_feature_writes_is_refused() -> None:
    found = problems("names:\n  servers: [192.0.2.53]\n  sets:\n"
                     "    wan_ips: {names: [a.example]}\n"
                     "addresses:\n  nftables: {table: inet filter}\n"
                     "  interfaces:\n    eth0: {zone: wan}\n")
    assert len(found) == 1 and "nft set inet filter wan_ips is also written by" in found[0]


def test_bad_set_name_and_port_are_refused() -> None:
    found = problems("names:\n  servers: ['192.0.2.53:99999']\n  sets:\n"
                     "    'bad-name': {names: [a.example]}\n")
    assert sorted(found) == sorted([
        "test.yaml:2: names.servers: item 0: expected an IP address or ip:port, "
        "got '192.0.2.53:99999'",
        "test.yaml:4: names.sets.bad-name: set name must be a letter then up to 60 letters, "
        "digits or _, got 'bad-name'"])


def test_example_file_is_valid() -> None:
    config = parse_config(EXAMPLE.read_text(), str(EXAMPLE))
    assert isinstance(config.features["names"], NamesConfig)
