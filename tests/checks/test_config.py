"""The checks section: defaults, and one problem line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsentinel.checks.config import (
    ChecksConfig,
    DnsSource,
    InterfaceSource,
    UrlSource,
    parse,
)
from netsentinel.checks.providers import SPECS
from netsentinel.schema import Section


def read(text: str) -> tuple[ChecksConfig | None, list[str]]:
    top = Section.from_text(text, "n.yaml")
    config = parse(top.section("checks"), {})
    return config, [str(p) for p in top.problems]


def test_issue_example_parses_with_defaults() -> None:
    config, problems = read("""
checks:
  updown:
    internet: {targets: [1.1.1.1, 9.9.9.9, 8.8.8.8], quorum: 2, dns_server: 8.8.8.8,
               dns_lookup: example.com}
  ddns:
    external:
      sources:
        - https://ip.example.net/
        - dns: {name: myip.opendns.com, server: 208.67.222.222}
        - interface: eth0
  failover:
    uplinks:
      primary: {interface: eth1, gateway: 192.168.42.1}
      standby: {interface: eth2, gateway: 192.168.62.1, ping: 10.0.0.1}
""")
    assert problems == []
    assert config is not None
    assert config.updown[0].down_after == 3 and config.updown[0].quorum == 2
    assert config.ddns[0].sources == (UrlSource("https://ip.example.net/"),
                                      DnsSource("myip.opendns.com", "208.67.222.222"),
                                      InterfaceSource("eth0"))
    assert config.ddns[0].family == 4 and not config.ddns[0].accept_private
    assert config.failover[0].metric == 201 and config.failover[0].standby.target == "10.0.0.1"


def test_mistakes_name_file_line_and_key() -> None:
    _, problems = read("""
checks:
  ping:
    gw: {target: gateway.lan, intervall: 5}
  updown:
    net: {targets: [10.0.0.1], quorum: 2, dns_server: 10.0.0.53}
  ddns:
    ext: {sources: [ftp://x/], family: ipv5}
""")
    assert problems == [
        "n.yaml:4: checks.ping.gw.target: not an IP address: 'gateway.lan'",
        "n.yaml:4: checks.ping.gw.intervall: unknown key",
        "n.yaml:6: checks.updown.net.quorum: quorum 2 is more than the 1 targets",
        "n.yaml:6: checks.updown.net: dns_server and dns_lookup go together",
        "n.yaml:8: checks.ddns.ext.sources: expected an http:// or https:// URL, got 'ftp://x/'",
        "n.yaml:8: checks.ddns.ext.sources: at least one source is needed",
        "n.yaml:8: checks.ddns.ext.family: expected one of ipv4, ipv6, dual, got 'ipv5'",
    ]


def test_absent_section_is_no_feature() -> None:
    assert read("addresses: {}\n")[0] is None


def test_failover_ipv6_gateways() -> None:
    config, problems = read("""
checks:
  failover:
    dual:
      primary: {interface: eth1, gateway: 192.168.42.1, gateway6: fe80::1}
      standby: {interface: eth2, gateway6: 2001:db8:62::1, ping6: 2001:db8::53}
""")
    assert problems == []
    assert config is not None
    primary, standby = config.failover[0].primary, config.failover[0].standby
    assert primary.gateways() == {4: "192.168.42.1", 6: "fe80::1"}
    assert standby.gateways() == {6: "2001:db8:62::1"}
    assert standby.targets() == {6: "2001:db8::53"}


def test_failover_ipv6_mistakes() -> None:
    _, problems = read("""
checks:
  failover:
    wan:
      primary: {interface: eth1, gateway: 2001:db8::1, gateway6: 10.0.0.1}
      standby: {interface: eth2, gateway: null, ping6: 2001:db8::53}
""")
    assert problems == [
        "n.yaml:5: checks.failover.wan.primary.gateway6: gateway6 must be an IPv6 address",
        "n.yaml:5: checks.failover.wan.primary.gateway: gateway must be an IPv4 address",
        "n.yaml:6: checks.failover.wan.standby: an uplink needs gateway, gateway6 or both",
        "n.yaml:6: checks.failover.wan.standby.ping6: ping6 probes the IPv6 side: it needs "
        "gateway6",
    ]


def test_example_failover_block_is_valid() -> None:
    """etc/examples/checks.yaml (its action, CA and state paths do not exist here)."""
    example = Path(__file__).parents[2] / "etc" / "examples" / "checks.yaml"
    config, problems = read(example.read_text())
    assert [p for p in problems if ".failover." in p] == []
    assert config is not None
    standby = config.failover[0].standby
    assert standby.gateways() == {4: "192.168.62.1", 6: "2001:db8:62::1"}
    assert config.failover[0].primary.gateway6 == "fe80::1"


UPDATE = """
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update:
        server: "https://members.dyndns.org/nic/update"
        login: me
        {password}
        hostnames: [home.example.org, vpn.example.org]
"""


def test_update_reads_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "ddns.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    config, problems = read(UPDATE.format(password=f"password_file: {secret}"))
    assert problems == [] and config is not None
    update = config.ddns[0].update
    assert update is not None and update.password == "s3cret"
    assert update.protocol == "dyndns2" and update.min_interval == 300
    assert update.hostnames == ("home.example.org", "vpn.example.org")
    assert "s3cret" not in repr(config)


def test_update_refuses_a_password_file_others_can_read(tmp_path: Path) -> None:
    secret = tmp_path / "ddns.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    _, problems = read(UPDATE.format(password=f"password_file: {secret}"))
    assert problems == [f"n.yaml:9: checks.ddns.ext.update.password_file: {secret} is "
                        "accessible to others (mode 0644): chmod 600 it"]


def test_update_mistakes_name_file_line_and_key() -> None:
    _, problems = read("""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update:
        protocol: dyndns3
        server: "https://me:pw@dyn.example/nic/update"
        login: "a:b"
        password: x
        password_file: /nonexistent
        hostnames: ["not a name"]
        min_interval: -1
""")
    assert problems == [
        "n.yaml:7: checks.ddns.ext.update.protocol: expected one of "
        f"{', '.join(SPECS)}, got 'dyndns3'",
        "n.yaml:7: checks.ddns.ext.update: set one of password_file, password_env, password",
        "n.yaml:8: checks.ddns.ext.update.server: credentials go in login and password_file, "
        "not in the URL",
        "n.yaml:9: checks.ddns.ext.update.login: a login must not contain ':' or control "
        "characters",
        "n.yaml:12: checks.ddns.ext.update.hostnames: item 0: not a DNS name: 'not a name'",
        "n.yaml:13: checks.ddns.ext.update.min_interval: -1 is out of range (minimum 0)",
    ]


def test_cloudflare_update_reads_zone_and_token_file(tmp_path: Path) -> None:
    token = tmp_path / "cloudflare.token"
    token.write_text("tok-91c2\n")
    token.chmod(0o600)
    config, problems = read(f"""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update:
        protocol: cloudflare
        zone: example.com
        token_file: {token}
        hostnames: [home.example.com, example.com]
""")
    assert problems == [] and config is not None
    update = config.ddns[0].update
    assert update is not None and update.password == "tok-91c2"
    assert update.zone == "example.com" and update.login == ""
    assert update.server == "https://api.cloudflare.com/client/v4"
    assert "tok-91c2" not in repr(config)


def test_cloudflare_mistakes_name_file_line_and_key(tmp_path: Path) -> None:
    token = tmp_path / "cloudflare.token"
    token.write_text("tok\n")
    token.chmod(0o644)
    _, problems = read(f"""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update:
        protocol: cloudflare
        login: me@example.com
        password: x
        token_file: {token}
        hostnames: [home.example.org]
    other:
      sources: [https://ip.example.net/]
      update:
        server: "https://dyn.example/nic/update"
        login: me
        password: x
        zone: example.com
        token: y
        hostnames: [home.example.org]
""")
    assert problems == [
        "n.yaml:8: checks.ddns.ext.update.login: not a cloudflare key (Cloudflare takes an "
        "API token, not a login)",
        "n.yaml:9: checks.ddns.ext.update.password: not a cloudflare key",
        f"n.yaml:10: checks.ddns.ext.update.token_file: {token} is accessible to others "
        "(mode 0644): chmod 600 it",
        "n.yaml:7: checks.ddns.ext.update.zone: required key is missing",
        "n.yaml:18: checks.ddns.other.update.zone: not a dyndns2 key",
        "n.yaml:19: checks.ddns.other.update.token: not a dyndns2 key",
    ]


def test_ddns_follow_must_name_a_failover_instance_of_the_file() -> None:
    config, problems = read("""
checks:
  ddns:
    ext: {sources: [{interface: eth1}], follow: uplinks}
    typo: {sources: [{interface: eth1}], follow: uplink}
  failover:
    uplinks:
      primary: {interface: eth1, gateway: 192.168.42.1}
      standby: {interface: eth2, gateway: 192.168.62.1}
""")
    assert problems == ["n.yaml:5: checks.ddns.typo.follow: no failover instance 'uplink' "
                        "in this file (defined: uplinks)"]
    assert config is not None and config.ddns[0].follow == "uplinks"
    _, problems = read("checks:\n  ddns:\n    ext: {sources: [{interface: eth1}], "
                       "follow: wan}\n")
    assert problems == ["n.yaml:3: checks.ddns.ext.follow: no failover instance 'wan' in "
                        "this file (defined: none)"]


def test_cloudflare_host_names_must_be_in_the_zone() -> None:
    _, problems = read("""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update:
        protocol: cloudflare
        zone: example.com
        token: t
        hostnames: [home.example.com, home.notexample.com]
""")
    assert problems == ["n.yaml:10: checks.ddns.ext.update.hostnames: home.notexample.com "
                        "is not in zone example.com"]


def test_example_update_block_is_valid_but_for_its_password_file() -> None:
    """etc/examples/checks.yaml's update block (its password file does not exist here)."""
    example = Path(__file__).parents[2] / "etc" / "examples" / "checks.yaml"
    config, problems = read(example.read_text())
    assert [p.split(": ", 1)[1] for p in problems if ".update." in p] == [
        "checks.ddns.external.update.password_file: file not found: "
        "/etc/netsentinel/ddns.secret"]
    assert config is not None and config.ddns[0].update is not None
    assert config.ddns[0].update.hostnames == ("home.example.org", "vpn.example.org")


QUALITY = """
checks:
  failover:
    wan:
      wait: 0.5
      primary: {interface: eth1, gateway: 192.168.42.1}
      standby: {interface: eth2, gateway: 192.168.62.1}
      quality:
"""


def test_failover_quality_thresholds() -> None:
    config, problems = read(QUALITY + "        {window: 5, failure_loss: 0.4, "
                            "failure_latency: 0.3, recovery_loss: 0.1}\n")
    assert problems == []
    assert config is not None
    quality = config.failover[0].quality
    assert quality is not None and quality.window == 5
    assert (quality.failure_loss, quality.recovery_loss) == (0.4, 0.1)
    assert (quality.failure_latency, quality.recovery_latency) == (0.3, None)
    config, _ = read(QUALITY.replace("      quality:\n", ""))
    assert config is not None and config.failover[0].quality is None


def test_failover_uplink_quality_overrides_the_instance() -> None:
    text = QUALITY.replace(
        "standby: {interface: eth2, gateway: 192.168.62.1}",
        "standby: {interface: eth2, gateway: 192.168.62.1,\n"
        "                quality: {failure_latency: 0.6}}") + "        {failure_latency: 0.2}\n"
    config, problems = read(text)
    assert problems == ["n.yaml:8: checks.failover.wan.standby.quality.failure_latency: 0.6 is "
                        "not below wait 0.5: replies that late count as lost, never as latency"]
    config, problems = read(text.replace("0.6}}", "0.4}}"))
    assert problems == [] and config is not None
    wan = config.failover[0]
    assert wan.quality is not None and wan.quality.failure_latency == 0.2
    assert wan.standby.quality is not None and wan.standby.quality.failure_latency == 0.4
    assert wan.primary.quality is None


def test_failover_quality_mistakes() -> None:
    _, problems = read(QUALITY + """\
        window: 0
        failure_loss: 0.2
        recovery_loss: 0.3
        failure_latency: 0.5
        recovery_latency: 1.5
        colour: red
""")
    assert problems == [
        "n.yaml:9: checks.failover.wan.quality.window: 0 is out of range (minimum 1)",
        "n.yaml:11: checks.failover.wan.quality.recovery_loss: recovery_loss 0.3 is above "
        "failure_loss 0.2: an uplink must be better to come back than to stay",
        "n.yaml:13: checks.failover.wan.quality.recovery_latency: recovery_latency 1.5 is above "
        "failure_latency 0.5: an uplink must be better to come back than to stay",
        "n.yaml:12: checks.failover.wan.quality.failure_latency: 0.5 is not below wait 0.5: "
        "replies that late count as lost, never as latency",
        "n.yaml:13: checks.failover.wan.quality.recovery_latency: 1.5 is not below wait 0.5: "
        "replies that late count as lost, never as latency",
        "n.yaml:14: checks.failover.wan.quality.colour: unknown key",
    ]


def test_failover_quality_needs_a_threshold_and_fractions() -> None:
    _, problems = read(QUALITY + "        {window: 3, recovery_loss: 1.5}\n")
    assert problems == [
        "n.yaml:9: checks.failover.wan.quality.recovery_loss: 1.5 is out of range (maximum 1)",
        "n.yaml:9: checks.failover.wan.quality: quality needs at least one of failure_loss, "
        "failure_latency, recovery_loss, recovery_latency"]
    _, problems = read(QUALITY + "        {failure_loss: 0}\n")
    assert problems == ["n.yaml:9: checks.failover.wan.quality.failure_loss: 0 fails every "
                        "round: use a value above 0"]


def test_example_failover_quality_block_is_valid() -> None:
    example = Path(__file__).parents[2] / "etc" / "examples" / "checks.yaml"
    config, problems = read(example.read_text())
    assert [p for p in problems if ".quality" in p] == []
    assert config is not None and config.failover[0].quality is not None
    assert config.failover[0].quality.recovery_latency == 0.2


def test_example_cloudflare_block_is_valid_but_for_its_token_file() -> None:
    """The commented cloudflare block of etc/examples/checks.yaml, uncommented."""
    example = Path(__file__).parents[2] / "etc" / "examples" / "checks.yaml"
    lines = example.read_text().splitlines()
    start = lines.index("      # update:")
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("      #   "):
            break
        block.append(line)
    text = "\n".join(line.replace("# ", "", 1) for line in block)
    config, problems = read("checks:\n  ddns:\n    ext:\n      sources: [https://ip.example.net/]\n"
                            + text + "\n")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "checks.ddns.ext.update.token_file: file not found: /etc/netsentinel/cloudflare.token"]
    assert config is not None and config.ddns[0].update is not None
    assert config.ddns[0].update.zone == "example.com"


def test_update_reads_password_env_and_token_env_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ddclient's ``password_env=VAR``: the secret comes from the daemon's environment and is
    never shown; a variable that is not set is a problem naming the key and the variable."""
    monkeypatch.setenv("DDNS_PASSWORD", "s3cret-env")
    config, problems = read(UPDATE.format(password="password_env: DDNS_PASSWORD"))
    assert problems == [] and config is not None
    update = config.ddns[0].update
    assert update is not None and update.password == "s3cret-env"
    assert "s3cret-env" not in repr(config)
    monkeypatch.delenv("DDNS_PASSWORD")
    _, problems = read(UPDATE.format(password="password_env: DDNS_PASSWORD"))
    assert problems == ["n.yaml:9: checks.ddns.ext.update.password_env: environment variable "
                        "DDNS_PASSWORD is not set (the daemon reads the secret from its "
                        "environment; check-config from the one it runs with)"]
    monkeypatch.setenv("CF_TOKEN", "tok-env")
    config, problems = read("""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update: {protocol: cloudflare, zone: example.com, token_env: CF_TOKEN,
               hostnames: [home.example.com]}
""")
    assert problems == [] and config is not None
    update = config.ddns[0].update
    assert update is not None and update.password == "tok-env"


def test_dyndns2_update_without_login_sends_no_credentials() -> None:
    """ddclient reads an entry without login= (a provider whose URL carries its token):
    no login, no secret; a secret without a login is refused."""
    config, problems = read("""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update: {server: "https://dyn.example/update?token=abc", hostnames: [h.example.org]}
""")
    assert problems == [] and config is not None
    update = config.ddns[0].update
    assert update is not None and (update.login, update.password) == ("", "")
    _, problems = read("""
checks:
  ddns:
    ext:
      sources: [https://ip.example.net/]
      update: {server: "https://dyn.example/update", password: x, hostnames: [h.example.org]}
""")
    assert problems == ["n.yaml:6: checks.ddns.ext.update.password: a password needs a login "
                        "(without login no credentials are sent)"]
