from __future__ import annotations

import re
from pathlib import Path

import pytest

from netsentinel.schema import ConfigError, Section
from netsentinel.traffic.config import SourceConfig, TrafficConfig, check_filter, link_types, parse
from netsentinel.traffic.packet import DLT_EN10MB, DLT_RAW


def load(text: str) -> TrafficConfig | None:
    root = Section.from_text(text, "t.yaml")
    config = parse(root.section("traffic"), {})
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return config


def test_absent_section_is_not_configured() -> None:
    assert load("{}") is None


def test_issue_example_parses() -> None:
    config = load("""
traffic:
  vpn:
    nflog: 2
    command: /bin/true
  ondemand:
    interface: tun0
    filter: "! host 1.2.3.4"
    ack_only: true
    command: [/bin/echo, svc]
    idle: 3600
    stop_on_exit: true
""")
    assert config is not None
    vpn, ondemand = config.triggers
    assert vpn.sources == (SourceConfig("nflog:2"),) and vpn.idle == 600
    assert ondemand.sources == (SourceConfig("tun0", "! host 1.2.3.4"),)
    assert ondemand.command == ("/bin/echo", "svc") and ondemand.ack_only


def test_bad_filter_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError) as e:
        load("traffic:\n  x:\n    interface: tun0\n    filter: 'port 80 and and'\n"
             "    command: /bin/true\n")
    assert str(e.value).startswith("t.yaml:4: traffic.x.filter: bad pcap filter")


def test_filter_of_an_absent_interface_may_suit_a_tap_or_a_tun() -> None:
    assert link_types("lo") == (DLT_EN10MB,)
    assert link_types("nosuchif0") == (DLT_EN10MB, DLT_RAW)
    check_filter("nosuchif0", "ether host 02:00:00:00:00:01")   # a tap may appear
    with pytest.raises(ValueError, match="bad pcap filter"):
        check_filter("nosuchif0", "tcp port")


def test_nflog_group_used_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="nflog:5 is already used by trigger 'a'"):
        load("traffic:\n  a: {nflog: 5, command: /bin/true}\n"
             "  b: {nflog: 5, command: /bin/true}\n")


def test_trigger_without_source_or_with_filter_on_nflog_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        load("traffic:\n  a: {command: /bin/true}\n"
             "  b: {nflog: 1, filter: tcp, command: /bin/true}\n")
    text = str(e.value)
    assert "traffic.a: a trigger needs a source" in text
    assert "traffic.b.filter: a filter applies to an interface" in text


def test_annotated_example_parses() -> None:
    """etc/examples/traffic.yaml, with its placeholder scripts and paths made real."""
    path = Path(__file__).resolve().parents[2] / "etc" / "examples" / "traffic.yaml"
    text = re.sub(r"/usr/local/bin/\w+\.sh", "/bin/true", path.read_text())
    config = load(text.replace("/var/lib/netsentinel", "/tmp"))
    assert config is not None
    assert [t.name for t in config.triggers] == ["vpn", "ondemand", "both"]
