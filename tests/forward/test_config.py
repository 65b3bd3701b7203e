"""The forward section and the --forward options."""

from __future__ import annotations

import ipaddress

import pytest

from netsentinel.config import parse_config
from netsentinel.forward.config import Endpoint, ForwardConfig, Limits, NftSetRef, parse
from netsentinel.schema import ConfigError, Section

FULL = """
forward:
  ssh:
    listen: "0.0.0.0:22"
    backend: "[::1]:2222"
    read_timeout: 600
    max_idle: 0
    conn_limit: 10
    conn_limit_action: reject
    per_ip_rate: 2.5
    send_proxy: v2
    ip_blacklist: [1.1.1.1, 2.2.2.0/24, "2001:db8::/32"]
    blacklist_set: inet filter ns_block
"""


def read(text: str, forward: tuple[str, ...] = ()) -> ForwardConfig | None:
    root = Section.from_text(text, "test.yaml")
    config = parse(root.section("forward"), {"forward": forward})
    if root.problems:
        raise ConfigError(root.problems)
    return config


def test_full_service_is_read_with_its_types() -> None:
    config = read(FULL)
    assert config is not None
    [ssh] = config.services
    assert ssh.listen == Endpoint("0.0.0.0", 22) and ssh.backend == Endpoint("::1", 2222)
    assert ssh.limits == Limits(conn_limit=10, conn_limit_action="reject", per_ip_rate=2.5)
    assert ssh.timeouts.max_idle == 0 and ssh.timeouts.fin == 60
    assert ssh.send_proxy == "v2"
    assert ipaddress.ip_network("2.2.2.0/24") in ssh.blacklist
    assert ssh.blacklist_set == NftSetRef("inet", "filter", "ns_block")


def test_absent_section_without_options_is_not_configured() -> None:
    assert read("other: {}") is None


def test_forward_options_become_services_with_defaults() -> None:
    config = read("", (":2222=127.0.0.1:22", "127.0.0.1:80=[::1]:8080"))
    assert config is not None
    names = [(s.name, s.listen, s.backend) for s in config.services]
    assert names == [("cli-2222", Endpoint("::", 2222), Endpoint("127.0.0.1", 22)),
                     ("cli-80", Endpoint("127.0.0.1", 80), Endpoint("::1", 8080))]


@pytest.mark.parametrize("body,needle", [
    ("listen: 'nowhere'\n    backend: 127.0.0.1:1", "ssh.listen: expected host:port"),
    ("listen: ':99999'\n    backend: 127.0.0.1:1", "out of range"),
    ("listen: ':22'\n    backend: ':1'", "ssh.backend: a backend needs a host"),
    ("listen: ':22'\n    backend: 127.0.0.1:1\n    send_proxy: v3", "ssh.send_proxy"),
    ("listen: ':22'\n    backend: 127.0.0.1:1\n    ip_blacklist: [1.2.3.999]", "item 0"),
    ("listen: ':22'\n    backend: 127.0.0.1:1\n    conn_limt: 3", "ssh.conn_limt: unknown key"),
    ("backend: 127.0.0.1:1", "ssh.listen: required key is missing"),
])
def test_mistakes_name_file_line_and_key(body: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(f"forward:\n  ssh:\n    {body}\n")
    text = str(caught.value)
    assert needle in text and text.startswith("test.yaml:")


def test_two_services_on_one_address_are_refused() -> None:
    with pytest.raises(ConfigError, match="also used by a"):
        read("forward:\n  a: {listen: ':22', backend: '127.0.0.1:1'}\n"
             "  b: {listen: ':22', backend: '127.0.0.1:2'}\n")


def test_bad_forward_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="--forward:0: forward: expected LISTEN=BACKEND"):
        read("", ("127.0.0.1:22",))


def test_whole_file_parses_with_the_forward_feature() -> None:
    config = parse_config(FULL, "test.yaml")
    assert config.features["forward"].services[0].name == "ssh"


def test_workers_and_their_priority_are_section_keys_not_services() -> None:
    config = read(FULL + "  workers: 3\n  worker_priority: 5\n")
    assert config is not None
    assert (config.workers, config.worker_priority) == (3, 5)
    assert [s.name for s in config.services] == ["ssh"]
    default = read(FULL)
    assert default is not None and default.worker_priority == 0
    with pytest.raises(ConfigError, match="worker_priority"):
        read(FULL + "  worker_priority: 25\n")


def test_the_default_cap_grows_with_the_processes_that_hold_the_connections() -> None:
    from netsentinel.forward.limiter import with_default_cap
    one = with_default_cap(Limits()).conn_limit
    assert one > 0 and with_default_cap(Limits(), 3).conn_limit == 3 * one
    assert with_default_cap(Limits(conn_limit=7), 3).conn_limit == 7
