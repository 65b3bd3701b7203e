"""The docker: section: defaults, and one file:line problem per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsentinel.config import load_config, parse_config
from netsentinel.docker.config import DockerConfig, ZoneRule
from netsentinel.schema import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "examples" / "docker.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    return [str(p) for p in caught.value.problems]


def test_defaults_are_rust_network_mgr_s_socket_and_inet_filter() -> None:
    config = parse_config("docker:\n  zones:\n    web: {names: [web]}\n", "t.yaml")
    docker = config.features["docker"]
    assert isinstance(docker, DockerConfig)
    assert docker.socket == "/var/run/docker.sock"
    assert (docker.nftables.family, docker.nftables.table, docker.nftables.create) == (
        "inet", "filter", False)
    assert docker.zones == (ZoneRule("web", names=("web",)),)


def test_bad_values_are_named_with_file_line_and_key() -> None:
    found = problems("docker:\n"
                     "  retry_max: 0\n"
                     "  nftables: {table: filter, networks: true}\n"
                     "  zones:\n"
                     "    'bad zone': {names: [x]}\n"
                     "    web: {labels: ['=x'], colour: red, names: web}\n")
    assert sorted(found) == sorted([
        "test.yaml:5: docker.zones.bad zone: zone must be a letter then letters, digits or _, "
        "got 'bad zone'",
        "test.yaml:6: docker.zones.web.names: expected a list, got 'web'",
        "test.yaml:6: docker.zones.web.labels: item 0: expected KEY or KEY=VALUE, got '=x'",
        "test.yaml:6: docker.zones.web.colour: unknown key",
        "test.yaml:3: docker.nftables.table: expected 'FAMILY TABLE' such as 'inet filter', "
        "got 'filter'",
        "test.yaml:3: docker.nftables.networks: unknown key",
        "test.yaml:2: docker.retry_max: 0 is out of range (minimum 0.1)",
    ])


def test_missing_action_script_is_a_config_error() -> None:
    [problem] = problems("docker:\n  action: /nonexistent/docker-action\n")
    assert problem == "test.yaml:2: docker.action: file not found: /nonexistent/docker-action"


def test_example_file_is_valid(tmp_path: Path) -> None:
    """etc/examples/docker.yaml, with its action script path made real."""
    action = tmp_path / "action"
    action.write_text("#!/bin/sh\n")
    action.chmod(0o755)
    text = EXAMPLE.read_text().replace("/usr/local/bin/netsentinel-docker-action", str(action))
    example = tmp_path / "docker.yaml"
    example.write_text(text)
    docker = load_config(str(example)).features["docker"]
    assert {rule.zone for rule in docker.zones} >= {"web", "dmz"}
