"""Config validation: every mistake is one line naming file, line, key path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsentinel.config import load_config, parse_config
from netsentinel.schema import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    return [str(p) for p in caught.value.problems]


def test_unknown_key_is_named_with_its_line() -> None:
    assert problems("addresses:\n  delay: 0.2\n  dealy: 1\n") == [
        "test.yaml:3: addresses.dealy: unknown key"]


def test_wrong_type() -> None:
    assert problems("addresses:\n  delay: soon\n") == [
        "test.yaml:2: addresses.delay: expected a number, got 'soon'"]


def test_interval_out_of_range() -> None:
    assert problems("addresses:\n  delay: 0\n") == [
        "test.yaml:2: addresses.delay: 0 is out of range (minimum 0.001)"]


def test_bad_zone_name() -> None:
    assert problems("addresses:\n  interfaces:\n    eth0: {zone: 'w an'}\n") == [
        "test.yaml:3: addresses.interfaces.eth0.zone: zone must be a letter then letters, "
        "digits or _, got 'w an'"]


def test_missing_file() -> None:
    [problem] = problems("addresses:\n  proxy: {template: /nonexistent.tmpl, output: /tmp/x}\n")
    assert problem == "test.yaml:2: addresses.proxy.template: file not found: /nonexistent.tmpl"


def test_non_executable_action_is_a_config_error(tmp_path: Path) -> None:
    script = tmp_path / "action.sh"
    script.write_text("#!/bin/sh\n")
    [problem] = problems(f"addresses:\n  action: {script}\n")
    assert problem.endswith(f"addresses.action: not executable: {script}")


def test_every_problem_is_reported_at_once() -> None:
    found = problems("nope: 1\naddresses:\n  delay: -1\n  max_delay: x\n")
    assert len(found) == 3


def test_yaml_syntax_error_names_the_line() -> None:
    [problem] = problems("addresses:\n  delay: [\n")
    assert problem.startswith("test.yaml:3: <top>: YAML syntax")


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/nonexistent/netsentinel.yaml")
    assert str(caught.value) == "/nonexistent/netsentinel.yaml:0: <top>: config file not found"


def test_annotated_example_is_valid() -> None:
    config = load_config(str(Path(__file__).parent.parent / "etc" / "netsentinel.yaml"))
    assert config.features["addresses"].zones == {"wan": ("eth0",), "lan": ("eth1",)}
    assert "docker" not in config.features      # commented out: a host may have no Docker


def test_metrics_address_forms() -> None:
    for text, shown in (("127.0.0.1:9380", "127.0.0.1:9380"), ("'[::1]:9380'", "[::1]:9380"),
                        ("0.0.0.0:9380", "0.0.0.0:9380")):
        config = parse_config(f"control:\n  metrics: {text}\n", "test.yaml")
        assert str(config.control.metrics) == shown
    assert parse_config("", "test.yaml").control.metrics is None   # off by default


def test_bad_metrics_address() -> None:
    assert problems("control:\n  metrics: localhost\n") == [
        "test.yaml:2: control.metrics: expected host:port or [ipv6]:port, got 'localhost'"]
    assert problems("control:\n  metrics: 'example.org:9380'\n") == [
        "test.yaml:2: control.metrics: not an IP address: 'example.org'"]


def test_status_page_is_opt_in_and_needs_the_metrics_address() -> None:
    assert parse_config("", "test.yaml").control.status_page is False
    on = parse_config("control:\n  metrics: 127.0.0.1:9380\n  status_page: true\n", "test.yaml")
    assert on.control.status_page is True
    assert problems("control:\n  status_page: true\n") == [
        "test.yaml:2: control.status_page: needs control.metrics: "
        "the address the page is served on"]
    assert problems("control:\n  metrics: 127.0.0.1:9380\n  status_page: yes please\n") == [
        "test.yaml:3: control.status_page: expected true or false, got 'yes please'"]


def test_status_page_example_is_valid() -> None:
    path = Path(__file__).parent.parent / "etc" / "examples" / "status-page.yaml"
    config = load_config(str(path))
    assert config.control.status_page is True and str(config.control.metrics) == "127.0.0.1:9380"


def test_metrics_example_is_valid() -> None:
    config = load_config(str(Path(__file__).parent.parent / "etc" / "examples" / "metrics.yaml"))
    assert str(config.control.metrics) == "127.0.0.1:9380"


SHARED_SETS = """\
addresses:
  nftables: {table: inet filter}
  interfaces:
    eth0: {zone: lan}
    eth1: {zone: lan}
docker:
  nftables: {table: %s}
  zones:
    web: {names: [nginx]}
    lan: {names: [db]}
forward:
  ssh:
    listen: ":2222"
    backend: "127.0.0.1:22"
    blacklist_set: inet filter web_ips
"""


def test_two_features_may_not_write_the_same_nft_set() -> None:
    assert problems(SHARED_SETS % "inet filter") == [
        "test.yaml:9: docker.zones.web: nft set inet filter web_ips is also written by "
        "forward.ssh.blacklist_set (line 15); give one of them another name",
        "test.yaml:10: docker.zones.lan: nft set inet filter lan_ips is also written by "
        "addresses.interfaces.eth0.zone (line 4); give one of them another name",
        "test.yaml:10: docker.zones.lan: nft set inet filter lan_ipv6 is also written by "
        "addresses.interfaces.eth0.zone (line 4); give one of them another name"]


def test_the_same_set_names_in_other_tables_are_fine() -> None:
    text = (SHARED_SETS % "ip docker").replace("inet filter web_ips", "inet filter blocked")
    assert parse_config(text, "test.yaml").features.keys() == {"addresses", "docker", "forward"}
