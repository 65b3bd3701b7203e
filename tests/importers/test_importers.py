"""``netsentinel-ctl import TOOL``: golden outputs that load, and refusals that name the line.

Every sample is written from the tool's own documentation (``/work/shared/seeds``
and the tools' READMEs).  ``@DIR@`` in a sample or golden file is the test's
temporary directory, where the scripts the configs name really exist, so the
imported YAML is loaded by ``parse_config`` exactly as the daemon would load it.
Set ``NETSENTINEL_UPDATE_GOLDEN=1`` to rewrite the golden files after a change.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentinel.checks.config import DdnsConfig, DnsSource, InterfaceSource, UrlSource
from netsentinel.cli.ctl import main
from netsentinel.cli.importers import convert, read_file
from netsentinel.cli.importers.ddclient import duration, read_config
from netsentinel.cli.importers.imon import USAGE as IMON_USAGE
from netsentinel.cli.importers.monconn import USAGE as USAGE_MONCONN
from netsentinel.config import Config, parse_config
from netsentinel.schema import ConfigError

SAMPLES = Path(__file__).parent / "samples"
GOLDEN = Path(__file__).parent / "golden"
SCRIPTS = ("imon-action", "runtunnel.sh")


@pytest.fixture
def here() -> Iterator[Path]:
    """The samples with @DIR@ filled in, next to the executable scripts they name.  The
    directory's name always has the same length, so notes that move above a long line
    move the same way in every run."""
    directory = Path(tempfile.mkdtemp(prefix="ns-import-", dir="/tmp"))
    try:
        for sample in SAMPLES.iterdir():
            (directory / sample.name).write_text(sample.read_text().replace("@DIR@", str(directory)))
        for script in SCRIPTS:
            path = directory / script
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(0o755)
        yield directory
    finally:
        shutil.rmtree(directory)


def run(tool: str, *args: str) -> str:
    return convert(tool, list(args), read_file)


def golden(name: str, text: str, here: Path) -> None:
    """``text`` with the temporary directory put back as @DIR@ equals the golden file."""
    generic = text.replace(str(here), "@DIR@")
    path = GOLDEN / name
    if os.environ.get("NETSENTINEL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(generic)
    assert generic == path.read_text()


def load(text: str) -> Config:
    return parse_config(text, "imported.yaml")


def refused(tool: str, *args: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        run(tool, *args)
    return [str(p) for p in caught.value.problems]


# -- IPMon ---------------------------------------------------------------------------------

def test_ipmon_unit_and_files_become_addresses(here: Path) -> None:
    text = run("ipmon", str(here / "ipmon.service"), str(here / "ifacesAddrs.vars"))
    golden("ipmon.yaml", text, here)
    config = load(text).features["addresses"]
    assert config.delay == 0.5                                   # -d 500000 µs
    assert config.interfaces == (("enp0s3", None), ("enp0s8", None), ("lo", None), ("wg0", None))
    assert (config.files.vars, config.files.sets) == (f"{here}/ifacesAddrs.vars",
                                                      f"{here}/ifacesAddrs.sets")
    assert config.files.reload_ruleset is None                   # -f is left for the user to name
    assert config.nftables is None and config.proxy is None
    assert "# reload_ruleset: /etc/impon/nftablesNoSuricata.conf" in text
    assert "#   reload: [systemctl, reload, proxy]" in text
    assert load(text).control.datagram_socket == "/run/ipmon.sock"   # IPMon's scripts' socket


def test_ipmon_options_after_dashes_and_sets_file(here: Path) -> None:
    text = run("ipmon", str(here / "ifacesAddrs.sets"), "--", "--delay", "5", "-ms")
    config = load(text).features["addresses"]
    assert config.delay == 5.0                                   # 1-99: seconds
    assert config.files.sets == f"{here}/ifacesAddrs.sets"      # -n implied by the files
    assert config.files.vars == f"{here}/ifacesAddrs.vars"
    assert [name for name, _ in config.interfaces] == ["enp0s3", "enp0s8", "lo", "wg0"]


def test_ipmon_proxy_output_file_names_the_output(here: Path) -> None:
    (here / "ifacesAddrs.json").write_text('{"!seq":[{"!if":{"a":{"!ref":"phase"},"!test":"eq",'
                                           '"b":"tcp_session"},"+":{"!seq":[]}}]}\n')
    text = run("ipmon", str(here / "ifacesAddrs.json"), str(here / "ifacesAddrs.vars"))
    assert f"#   output: {here}/ifacesAddrs.json" in text
    config = load(text).features["addresses"]
    assert config.proxy is None and config.files.vars == f"{here}/ifacesAddrs.vars"


def test_ipmon_delay_beyond_netsentinel_range_is_capped_with_a_note(here: Path) -> None:
    text = run("ipmon", str(here / "ifacesAddrs.vars"), "--", "-d", "90")
    assert load(text).features["addresses"].delay == 60.0
    assert "netsentinel's longest delay is 60 s" in text


def test_ipmon_unreadable_inputs_name_file_and_line(here: Path) -> None:
    (here / "bad.vars").write_text("#!/usr/sbin/nft -f\ndefine lo = { 127.0.0.1 }\nflush ruleset\n")
    assert refused("ipmon", str(here / "bad.vars")) == [
        f"{here}/bad.vars:3: <top>: not a line IPMon writes: 'flush ruleset'"]
    assert refused("ipmon", str(here / "ifacesAddrs.vars"), "--", "-n", "-d", "0") == [
        "argv:4: -d: 1-99 seconds or 100-999999 µs, got '0'"]
    (here / "other.service").write_text("[Service]\nExecStart=/usr/sbin/dhcpcd -q\n")
    assert refused("ipmon", str(here / "other.service")) == [
        f"{here}/other.service:2: ExecStart: does not run ipmon"]
    assert refused("ipmon", "--", "-x") == ["argv:2: -x: not an IPMon option (-n -f -p -d -m -s)"]
    assert refused("ipmon", str(here / "bad.vars"), str(here / "other.service")) == [
        f"{here}/bad.vars:3: <top>: not a line IPMon writes: 'flush ruleset'",
        f"{here}/other.service:2: ExecStart: does not run ipmon"]      # every file, at once


# -- imon ----------------------------------------------------------------------------------

def test_imon_instance_file_becomes_checks(here: Path) -> None:
    text = run("imon", str(here / "imon-demo"))
    golden("imon.yaml", text, here)
    checks = load(text).features["checks"]
    assert checks.action == (f"{here}/imon-action",)
    [updown] = checks.updown
    assert (updown.name, updown.targets, updown.interval) == ("demo", ("1.1.1.1",), 10.0)
    assert (updown.probe.count, updown.probe.wait) == (2, 1.0)
    assert updown.addping == ("192.168.92.1", "192.168.1.1")
    assert (updown.dns_server, updown.dns_lookup) == ("8.8.8.8", "microsoft.com")
    [ddns] = checks.ddns
    assert ddns.interval == 300.0
    assert [s.url for s in ddns.sources] == [      # imon's _getextip(), in its order
        "http://whatismyip.akamai.com/", "http://ifconfig.co/ip", "http://dynupdate.no-ip.com/ip.php",
        "http://icanhazip.com/", "http://ident.me/", "http://l2.io/ip", "http://ifconfig.me/ip",
        "http://wgetip.com/", "http://ipinfo.io/ip", "http://ipecho.net/plain",
        "http://curlmyip.net", "http://ip.seeip.org"]
    [failover] = checks.failover
    assert (failover.interval, failover.probe.count, failover.metric) == (1.0, 2, 201)
    assert failover.prefer_primary is True
    assert (failover.primary.interface, failover.primary.name, failover.primary.gateway,
            failover.primary.ping) == ("enxa0cec8003294", "net42", "192.168.42.1", None)
    assert (failover.standby.ping, failover.standby.postping) == ("9.9.9.9", "1.1.1.1")
    assert checks.ping == ()                                     # enable: false
    assert "ping: disabled in imon" in text


def test_imon_instance_option_and_nosyslog(here: Path) -> None:
    shutil.copy(here / "imon-demo", here / "config.json")
    text = run("imon", str(here / "config.json"), "--", "--instance", "wan", "--nosyslog")
    checks = load(text).features["checks"]
    assert [m.name for m in (*checks.updown, *checks.ddns, *checks.failover)] == ["wan"] * 3
    assert "imon passed 1 (--nosyslog)" in text


def test_imon_option_forms_and_refusals(here: Path) -> None:
    shutil.copy(here / "imon-demo", here / "config.json")
    assert run("imon", str(here / "config.json"), "--", "--instance=wan") == run(
        "imon", str(here / "config.json"), "--", "--instance", "wan")
    assert refused("imon", str(here / "config.json"), "--", "--instance") == [
        "argv:3: --instance: not an option of this importer; " + IMON_USAGE]
    assert refused("imon", str(here / "config.json"), "--", "--nosyslog=1") == [
        "argv:3: --nosyslog=1: not an option of this importer; " + IMON_USAGE]


def test_imon_numbers_as_imon_reads_them(here: Path) -> None:
    """imon read interval with float() and pingcount/pingwait with int(): "3" is 3, 2.9 is 2;
    a pingwait int() makes 0 (imon never waited) keeps its value, with a note."""
    text = ('{"global": {"action": ""}, "ping": {"enable": true, "interval": "30",'
            ' "pingcount": "3", "pingwait": 0.5, "monitorip": "192.168.1.1"},'
            ' "updown": {"enable": true, "monitorip": "1.1.1.1", "pingcount": 2.9,'
            ' "pingwait": "2"}}')
    (here / "imon-lan").write_text(text)
    imported = run("imon", str(here / "imon-lan"))
    checks = load(imported).features["checks"]
    [ping], [updown] = checks.ping, checks.updown
    assert (ping.name, ping.target, ping.interval, ping.probe.count, ping.probe.wait) == (
        "lan", "192.168.1.1", 30.0, 3, 0.5)
    assert (updown.probe.count, updown.probe.wait) == (2, 2.0)
    assert "ping.pingwait 0.5: imon read int() of it, 0, and never waited" in imported
    assert "updown.pingcount 2.9: imon read int() of it, 2" in imported


IMON_README = (        # the shape of imon's README sample: JSON, a tab in the indentation
    '{\n    "global": {\n        "action": "",\n        "datefmt": "%Y-%m-%d %H:%M:%S"\n    },\n'
    '    "updown": {\n\t"enable": true,\n        "interval": 1e1,\n'
    '        "monitorip": "1.1.1.1",\n        "addping": "192.168.1.1,gw.lan",\n'
    '        "dnsserver": "",\n        "dnslookup": "google.com"\n    },\n'
    '    "failover": {\n        "enable": 1,\n        "metric": 0,\n'
    '        "primary-if": "eth0", "primary-name": "", "primary-gw": "192.168.1.1",\n'
    '        "primary-ping": "", "primary-postping": "",\n'
    '        "standby-if": "wwan0", "standby-name": "lte", "standby-gw": "10.0.0.1",\n'
    '        "standby-ping": "", "standby-postping": "", "metric": 5\n    }\n}\n')


def test_imon_reads_json_as_json_and_accepts_what_imon_runs(here: Path) -> None:
    """A tab in the indentation and 1e1 are JSON (json.load reads them; YAML does not);
    dnsserver "" with dnslookup is ignored by imon, so it is imported without DNS, noted;
    a name in addping is noted; enable: 1 is true to imon; a key given twice keeps the last."""
    (here / "imon-readme").write_text(IMON_README)
    imported = run("imon", str(here / "imon-readme"))
    checks = load(imported).features["checks"]
    [updown], [failover] = checks.updown, checks.failover
    assert (updown.interval, updown.addping, updown.dns_server, updown.dns_lookup) == (
        10.0, ("192.168.1.1",), None, None)
    assert "updown.dnslookup without its partner: imon ignored it" in imported
    assert "updown.addping: gw.lan not imported" in imported
    assert "'metric' is given twice (lines 16 and 20): imon's json.load kept the last" in imported
    assert failover.metric == 5
    assert (failover.primary.name, failover.standby.name) == ("", "lte")


def test_imon_empty_primary_name_gives_imons_action_argument(here: Path) -> None:
    """imon's _packifinfo: ``name:Primary:if:ip`` with the name as written, "" included
    (the monitor's netlink is the in-memory fake of tests/checks: no uplink needed)."""
    from twisted.internet.task import Clock

    from netsentinel.checks.failover import PRIMARY, FailoverMonitor
    from tests.checks.fakes import FakeEngine, FakeNetlink, tools
    (here / "imon-wan").write_text(IMON_README)
    [failover] = load(run("imon", str(here / "imon-wan"))).features["checks"].failover
    netlink = FakeNetlink()
    netlink.addrs["eth0"] = ["192.168.1.7"]
    monitor = FailoverMonitor(failover, tools(Clock(), FakeEngine())[0], netlink)  # type: ignore[arg-type]
    assert monitor.info(PRIMARY) == ":Primary:eth0:192.168.1.7"


def test_imon_unreadable_inputs_name_file_and_line(here: Path) -> None:
    (here / "imon-bad").write_text('{\n  "updown": {\n    "enable": true,\n'
                                   '    "monitorip": "one.one.one.one",\n'
                                   '    "pingcount": "two"\n  }\n}\n')
    assert refused("imon", str(here / "imon-bad")) == [
        f"{here}/imon-bad:5: updown.pingcount: expected a whole number (imon reads it with "
        "int()), got 'two'",
        f"{here}/imon-bad:4: updown.monitorip: 'one.one.one.one' is not an IP address: "
        "netsentinel probes addresses only (no resolver in a check); write the address"]
    (here / "imon-broken").write_text('{\n  "global": {\n    "action": "/x",\n  }\n')
    [problem] = refused("imon", str(here / "imon-broken"))
    assert problem == f"{here}/imon-broken:4: <top>: JSON syntax: Expecting property name " \
        "enclosed in double quotes (column 3)"
    assert refused("imon", str(here / "imon-missing")) == [f"{here}/imon-missing:0: <top>: file not found"]


# -- tuninetd ------------------------------------------------------------------------------

def test_tuninetd_command_line_becomes_a_trigger(here: Path) -> None:
    text = run("tuninetd", "--", "-i", "tun0", "-c", f"{here}/runtunnel.sh", "-f",
               "! host 1.2.3.4", "-t", "3600", "-aw", f"{here}/vpn.pcap", "-d")
    golden("tuninetd.yaml", text, here)
    [trigger] = load(text).features["traffic"].triggers
    assert trigger.name == "runtunnel"
    assert [(s.device, s.filter) for s in trigger.sources] == [("tun0", "! host 1.2.3.4")]
    assert trigger.command == (f"{here}/runtunnel.sh",)
    assert (trigger.idle, trigger.ack_only, trigger.capture) == (3600.0, True, f"{here}/vpn.pcap")


def test_tuninetd_nflog_with_interface_and_a_shell_command(here: Path) -> None:
    text = run("tuninetd", "-n2", "-i", "tap0", "-m", "tap", "-c",
               f"{here}/runtunnel.sh office >> /tmp/vpn.log")
    [trigger] = load(text).features["traffic"].triggers
    assert [s.device for s in trigger.sources] == ["nflog:2", "tap0"]
    assert trigger.command == ("/bin/sh", "-c", f'{here}/runtunnel.sh office >> /tmp/vpn.log "$@"',
                               "sh")
    assert trigger.idle == 600.0                                 # tuninetd's default
    assert "-m tap: not needed" in text


def test_tuninetd_unreadable_command_lines() -> None:
    assert refused("tuninetd", "--", "-i", "tun0", "-t", "soon", "-c", "/bin/true") == [
        "argv:4: -t: idle seconds are 1-2592000, got 'soon'"]
    assert refused("tuninetd", "-i", "tun0") == ["argv:0: -c: tuninetd needs -c <path>, the command to run"]
    assert refused("tuninetd", "-i", "tun0", "-c", " ") == [
        "argv:0: -c: tuninetd needs -c <path>, the command to run"]
    assert refused("tuninetd", "-c", "/bin/true") == [
        "argv:0: -i: tuninetd needs -i <ifname> or -n <nflog-group>"]
    assert refused("tuninetd", "-x", "-c", "/bin/true") == [
        "argv:1: -x: not a tuninetd option (-i -n -c -f -t -a -w -m -d)"]
    assert refused("tuninetd", "-n", "70000", "-c", "/bin/true") == [
        "argv:1: -n: an NFLOG group is 0-65535, got '70000'"]


def test_tuninetd_reports_every_bad_value_at_once() -> None:
    """As the file importers do (one line per problem), not only the first."""
    assert refused("tuninetd", "-i", "a/b", "-n", "x", "-t", "0") == [
        "argv:0: -c: tuninetd needs -c <path>, the command to run",
        "argv:1: -i: not an interface name: 'a/b'",
        "argv:3: -n: an NFLOG group is 0-65535, got 'x'",
        "argv:5: -t: idle seconds are 1-2592000, got '0'"]


# -- monconn -------------------------------------------------------------------------------

def service(config: Config, name: str) -> Any:
    found = config.features["forward"].service(name)
    assert found is not None
    return found


def test_monconn_config_and_flags_become_forward(here: Path) -> None:
    text = run("monconn", str(here / "monconn.yaml"), "--", "-p", ":22=127.0.0.1:2222", "-D")
    golden("monconn.yaml", text, here)
    config = load(text)
    web = service(config, "service_1")
    assert (str(web.listen), str(web.backend)) == ("127.0.0.1:80", "127.0.0.1:8080")
    assert (web.timeouts.read, web.timeouts.write, web.timeouts.wait, web.timeouts.max_idle) == (
        600, 600, 60, 900)
    assert (web.limits.conn_limit, web.limits.ip_limit, web.keepalive, web.print_bytes) == (
        0, 0, True, True)
    assert web.blacklist == (ipaddress.ip_network("1.1.1.1/32"), ipaddress.ip_network("2.2.2.2/32"))
    ssh = service(config, "ssh")
    assert (str(ssh.listen), str(ssh.backend)) == ("[::]:2222", "[::1]:22")   # no listen_ip: all
    assert ssh.timeouts.read == 600                              # monconn's 0 is its default
    # monconn's ip_limit 5 admitted 6 IPs (ipCount > IPLimit): the import keeps the six
    assert (ssh.timeouts.max_idle, ssh.limits.conn_limit, ssh.limits.ip_limit) == (3600, 20, 6)
    assert ssh.keepalive is False
    # with a config file monconn ignores -p ("using config file, -p params will be ignored.")
    assert config.features["forward"].service("cli-22") is None
    assert "-p :22=127.0.0.1:2222: not imported: with a config file monconn ignored -p" in text


def test_monconn_flags_alone_and_its_defaults(here: Path) -> None:
    """cli/monconn's setDefault: keepalive off unless the file says true, -p services too;
    an ip_limit above MaxIPLimit 64 never refused anyone (its bucket stops at 65 IPs)."""
    cli = service(load(run("monconn", "--", "-p", ":22=127.0.0.1:2222")), "cli-22")
    assert (str(cli.listen), str(cli.backend), cli.keepalive) == ("[::]:22", "127.0.0.1:2222", False)
    (here / "limits.yaml").write_text("a:\n  listen_port: 81\n  backend_port: 80\n  ip_limit: 64\n"
                                      "b:\n  listen_port: 82\n  backend_port: 80\n  ip_limit: 65\n")
    text = run("monconn", str(here / "limits.yaml"))
    config = load(text)
    a, b = service(config, "a"), service(config, "b")
    assert (a.limits.ip_limit, a.keepalive, b.limits.ip_limit) == (65, False, 0)
    assert "ip_limit 65: not imported: monconn's IP bucket counts at most 65 IPs" in text
    assert "MaxIPLimit (64) client IPs" not in text        # the old note's global cap was wrong


def test_monconn_json_config_by_its_c_flag(here: Path) -> None:
    (here / "monconn.json").write_text(
        '{"api": {"listen_ip": "0.0.0.0", "listen_port": 9000, "backend_ip": "10.0.0.5",'
        ' "backend_port": 9001, "ip_blacklist": ["192.0.2.7"]}}')
    config = load(run("monconn", "--", "-c", str(here / "monconn.json")))
    api = service(config, "api")
    assert (str(api.listen), str(api.backend), api.blacklist) == (
        "0.0.0.0:9000", "10.0.0.5:9001", (ipaddress.ip_network("192.0.2.7/32"),))


def test_monconn_unreadable_inputs(here: Path) -> None:
    (here / "bad.yaml").write_text("web:\n  listen_port: 70000\n  backend_port: 80\n"
                                   "  ip_blacklist: [1.1.1.x]\n  backend_ip: db.internal\n")
    assert refused("monconn", str(here / "bad.yaml")) == [
        f"{here}/bad.yaml:2: web.listen_port: expected a port 1-65535, got 70000",
        f"{here}/bad.yaml:5: web.backend_ip: not an IP address: 'db.internal' "
        "(write the address a name resolves to)",
        f"{here}/bad.yaml:4: web.ip_blacklist: item 0: not an IP address or CIDR network: '1.1.1.x'"]
    assert refused("monconn", "--", "-p", "22=127.0.0.1:2222") == [
        "argv:3: -p: expected host:port or [ipv6]:port, got '22'"]
    assert refused("monconn", "--", "-x") == [
        f"argv:2: -x: not a monconn flag; {USAGE_MONCONN}"]


# -- rust-network-mgr ----------------------------------------------------------------------

def test_rust_network_mgr_config_becomes_addresses(here: Path) -> None:
    text = run("rust-network-mgr", str(here / "rust-network-mgr.yaml"))
    golden("rust-network-mgr.yaml", text, here)
    config = load(text).features["addresses"]
    assert config.interfaces == (("eth0", "wan"), ("eth1", "lan"), ("eth2", "lan"), ("wg0", None))
    assert config.zones == {"wan": ("eth0",), "lan": ("eth1", "eth2")}
    # rust-network-mgr's load_rules() creates inet filter, <zone>_ips and <zone>_ipv6 itself:
    # with create: false, wan_ipv6 (which nobody had declared) was an error at every sync
    assert (config.nftables.family, config.nftables.table, config.nftables.create) == (
        "inet", "filter", True)
    assert "`docker:` section does that job" in text
    # its code's socket and HTTP API defaults (src/socket.rs, src/main.rs), and the README's path
    (here / "plain.yaml").write_text("interfaces:\n  - name: eth0\n    nftables_zone: wan\n")
    plain = run("rust-network-mgr", str(here / "plain.yaml"))
    assert "socket_path /run/rust-network-manager/rust-network-manager.sock (its code's " \
        "default; its README says /run/rust-network-mgr.sock)" in plain
    assert "http_bind_addr 127.0.0.1:9100 (its default: the API ran unless set)" in plain


def test_rust_network_mgr_unreadable_inputs(here: Path) -> None:
    (here / "bad.yaml").write_text("interfaces:\n  - name: eth0\n    nftables_zone: dmz-1\n"
                                   "  - dhcp: true\n")
    assert refused("rust-network-mgr", str(here / "bad.yaml")) == [
        f"{here}/bad.yaml:3: interfaces[0].nftables_zone: netsentinel zones are a letter then "
        "letters, digits or _ (the set is <zone>_ips), got 'dmz-1'",
        f"{here}/bad.yaml:4: interfaces[1].name: required key is missing"]
    (here / "tabs.yaml").write_text("interfaces:\n\t- name: eth0\n")
    [problem] = refused("rust-network-mgr", str(here / "tabs.yaml"))
    assert problem.startswith(f"{here}/tabs.yaml:2: <top>: YAML syntax")


# -- ddclient ------------------------------------------------------------------------------

PASSWORDS = ("s3cret pass#word", 'p"w d', "cf-api-token-123")


def ddclient(here: Path, text: str | None = None) -> str:
    """Import ``text`` (or the sample) with the password files in ``here``."""
    path = here / "ddclient.conf"
    if text is not None:
        path = here / "test.conf"
        path.write_text(text)
    return run("ddclient", str(path), "--", "--secret-dir", str(here))


def load_ddns(text: str) -> dict[str, DdnsConfig]:
    """Load as the daemon would, after writing each password file the import names (0600),
    as the user is told to."""
    for path in re.findall(r"(?:password|token)_file: (\S+)", text):
        Path(path).write_text("pw\n")
        Path(path).chmod(0o600)
    return {d.name: d for d in load(text).features["checks"].ddns}


def test_ddclient_conf_becomes_ddns_instances(here: Path) -> None:
    (here / "provider-ca.pem").write_text("not checked at load\n")
    text = ddclient(here)
    golden("ddclient.yaml", text, here)
    ddns = load_ddns(text)
    assert list(ddns) == ["home.example.org", "office.ddns.net", "www.example.com"]
    home = ddns["home.example.org"]
    assert (home.interval, home.sources, home.family) == (300.0, (UrlSource("https://api.ipify.org/"),), 4)
    assert home.state_file == f"{here}/ddclient.cache.home.example.org"
    assert home.update is not None
    assert (home.update.server, home.update.login, home.update.hostnames) == (
        "https://members.dyndns.org/nic/update", "my-login", ("home.example.org", "vpn.example.org"))
    assert (home.update.ca, home.update.min_interval, home.update.max_interval) == (
        f"{here}/provider-ca.pem", 60.0, 25 * 86400.0)
    assert home.update.password == "pw"                           # from the file, not ddclient.conf
    office = ddns["office.ddns.net"]
    assert office.sources == (InterfaceSource("ppp0"),)
    assert office.update is not None and office.update.server == "https://dynupdate.no-ip.com/nic/update"
    www = ddns["www.example.com"]
    assert www.update is not None and www.sources == (InterfaceSource("ppp0"),)
    assert (www.update.protocol, www.update.zone, www.update.server, www.update.password) == (
        "cloudflare", "example.com", "https://api.cloudflare.com/client/v4", "pw")
    assert "# wildcard=yes (line 23): not sent" in text
    assert "# syslog=yes (line 5): logging goes through twistd" in text
    for password in PASSWORDS:
        assert password not in text and password.split()[0] not in text


def test_ddclient_reads_the_file_as_ddclient_does() -> None:
    """Comments, continuations (a blank line ends one), globals, quotes and escapes, the
    password special case, the old HOST LOGIN PASSWORD syntax, host= and a host named
    again (the first entry keeps it).  Checked against ddclient 4.0's _read_config."""
    text = ("# comment\n"
            "login=g1, password='a b'  # trailing comment\n"
            "protocol=dyndns2 \\\n"
            "\n"
            "  server=x.example.net, a.example.org\n"
            "password='p#1 x' b.example.org,c.example.org\n"
            "d.example.org olduser oldpass\n"
            "host=e.example.org c.example.org\n"
            "x=1'2 3'\\ 4 f.example.org\n")
    conf = read_config(text, "t.conf")
    entries = conf.entries
    assert [[h for h, _ in e.hosts] for e in entries] == [
        ["a.example.org"], ["b.example.org", "c.example.org"], ["d.example.org"],
        ["e.example.org"], ["f.example.org"]]
    first = entries[0].settings
    assert (first["login"].value, first["password"].value, first["server"].value) == (
        "g1", "a b", "x.example.net")
    assert first["protocol"].value == "dyndns2" and not first["protocol"].local
    assert (first["server"].line, first["login"].line, first["protocol"].line, entries[0].line) == (
        5, 2, 3, 5)
    assert entries[1].settings["password"].value == "p#1 x"
    assert entries[1].notes == ["c.example.org: named again on line 8; ddclient keeps this "
                                "entry's settings for it (the first wins)"]
    assert (8, "c.example.org: already named on line 6, whose entry ddclient updates it with: "
            "dropped here") in conf.notes
    old = entries[2].settings
    assert (old["login"].value, old["password"].value) == ("olduser", "oldpass")
    assert entries[4].settings["x"].value == "12 3 4"
    assert conf.globals["password"].value == "a b" and "server" not in conf.globals
    assert [duration(v) for v in ("300", "30s", "5m", "5min", "2h", "25d", "3days", "soon")] == [
        300, 30, 300, 300, 7200, 25 * 86400, 3 * 86400, None]


def test_ddclient_sources_map_to_netsentinel_sources(here: Path) -> None:
    text = ddclient(here, "login=u, password=Pw1Secret\n"
                    "use=web, web=https://ip.example.net/plain, web-skip='Address:'\n"
                    "a.example.org\n"
                    "use=web, web=checkip.dyndns.org/\n"
                    "b.example.org\n"
                    "use=web, web=noip\n"
                    "c.example.org\n"
                    "usev4=ifv4, ifv4=eth1, usev6=webv6, webv6=ipify-ipv6\n"
                    "d.example.org\n"
                    "usev4=disabled, usev6=ifv6, ifv6=eth2\n"
                    "e.example.org\n"
                    "usev6=disabled, usev4=cmdv4, cmdv4=/usr/bin/myip\n"
                    "f.example.org\n"
                    "usev4=ipv4, ipv4=192.0.2.10\n"
                    "g.example.org\n"
                    "usev4=fwv4, fwv4=192.168.1.1, fw-login=admin, fw-password=FwSecret\n"
                    "h.example.org\n")
    ddns = load_ddns(text)
    stand_in = (DnsSource("myip.opendns.com", "208.67.222.222"),)
    assert ddns["a.example.org"].sources == (UrlSource("https://ip.example.net/plain"),)
    assert "web-skip has no equivalent" in text
    assert ddns["b.example.org"].sources == stand_in
    assert "# - http://checkip.dyndns.org/" in text and "answers an HTML page" in text
    assert ddns["c.example.org"].sources == (UrlSource("http://ip1.dynupdate.no-ip.com/"),)
    assert "plain http (anyone on the path can change it)" in text
    assert ddns["d.example.org"].sources == (InterfaceSource("eth1"),)
    v6 = ddns["d.example.org-v6"]
    assert (v6.family, v6.sources) == (6, (UrlSource("https://api6.ipify.org/"),))
    assert v6.update is not None and v6.update.hostnames == ("d.example.org",)
    assert ddns["e.example.org"].family == 6 and ddns["e.example.org"].sources == (InterfaceSource("eth2"),)
    assert "e.example.org-v6" not in ddns
    for name in "fgh":
        assert ddns[f"{name}.example.org"].sources == stand_in
    assert "no equivalent for a command's output, cmdv4=/usr/bin/myip (line 12)" in text
    assert "no equivalent for a fixed address (given here or by `ddclient -ip`), ipv4=192.0.2.10" in text
    assert "no equivalent for a firewall's status page, fwv4=192.168.1.1 (line 16)" in text
    # capitals: a temporary directory's name, which the text names, never has them
    assert "Pw1Secret" not in text and "FwSecret" not in text


def test_ddclient_server_ssl_and_intervals(here: Path) -> None:
    text = ddclient(here, "daemon=30, login=u, password=pw1\n"
                    "ssl=no, server=dyn.example.net, min-interval=2d, max-interval=400d, timeout=10m\n"
                    "a.example.org\n"
                    "ssl=yes, server=https://dyn.example.net:8443, script=update.php, daemon=1h\n"
                    "b.example.org\n"
                    "daemon=0, protocol=dnsmadeeasy\n"
                    "c.example.org\n")
    ddns = load_ddns(text)
    a, b, c = ddns["a.example.org"], ddns["b.example.org"], ddns["c.example.org"]
    assert a.update is not None and b.update is not None
    assert (a.interval, a.timeout) == (60.0, 300.0)                # ddclient's least daemon=
    assert a.update.server == "http://dyn.example.net/nic/update"
    assert "PLAIN HTTP: login and password cross the network readable" in text
    assert (a.update.min_interval, a.update.max_interval) == (86400.0, 366 * 86400.0)
    assert (b.interval, b.update.server) == (3600.0, "https://dyn.example.net:8443/update.php")
    assert (c.interval, c.update) == (300.0, None)
    assert "protocol=dnsmadeeasy (line 6): provider updates are not supported" in text


def test_ddclient_passwords_never_printed(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl(capsys, "import", "ddclient", str(here / "ddclient.conf"))
    assert (code, err) == (0, "")
    assert "password_file: /etc/netsentinel/ddns-home.example.org.secret" in out
    (here / "bad.conf").write_text("password='hunter2 #x\nlogin = hunter3 a.example.org\n")
    code, out, err = ctl(capsys, "import", "ddclient", str(here / "bad.conf"))
    assert (code, out) == (2, "")
    (here / "blank.conf").write_text("login=me password= hunter4 a.example.org\n"
                                     "login= hunter5 b.example.org\n")
    code, out, err = ctl(capsys, "import", "ddclient", str(here / "blank.conf"))
    assert (code, out) == (2, "")
    assert err == (f"{here}/blank.conf:2: login: empty value, then a word ddclient reads as "
                   "a host name: write key=value without blanks around '='\n")
    (here / "blank.conf").write_text("login=me password= hunter4 a.example.org\n")
    code, out, err = ctl(capsys, "import", "ddclient", str(here / "blank.conf"))
    assert code == 0 and "a.example.org" in out         # ddclient takes blanks around a password's =
    (here / "apikey.conf").write_text("protocol=porkbun, apikey=pk1_x, secretapikey=sk1_y "
                                      "a.example.org\n")
    code, out, err = ctl(capsys, "import", "ddclient", str(here / "apikey.conf"))
    assert code == 0 and "password_file: /etc/netsentinel/ddns-a.example.org.secret" in out
    assert "secretapikey= on line 1" in out and "not copied: apikey= of line 1" in out
    for secret in (*PASSWORDS, "hunter2", "hunter3", "hunter4", "hunter5", "pk1_x", "sk1_y"):
        assert secret not in out + err


def test_ddclient_unreadable_lines_name_file_and_line(here: Path) -> None:
    path = here / "bad.conf"
    path.write_text("password='open #quote\n"
                    "login = me a.example.org\n"
                    "daemon=soon, ssl=maybe, login=a:b, password=x\n"
                    "bad_host!.example.org\n"
                    "h.example.org u p extra\n"
                    "use=if, if=not/an/if, b.example.org\n"
                    "protocol=dyndns2 \\\n")
    assert refused("ddclient", str(path)) == [
        f"{path}:1: password: the ' quote is not closed on this line (a '#' starts a comment, "
        "even inside quotes)",
        f"{path}:2: login: not read as a setting: write key=value, without blanks around '=' "
        "(ddclient took these words for host names)"]
    path.write_text("daemon=soon, ssl=maybe, login=a:b, password=x\n"
                    "bad_host!.example.org\n"
                    "use=if, if=not/an/if, b.example.org\n"
                    "password=y c.example.org\n")
    assert refused("ddclient", str(path)) == [
        f"{path}:2: host: not a DNS name: 'bad_host!.example.org'",
        f"{path}:1: daemon: ddclient would ignore 'soon': not a duration",
        f"{path}:1: ssl: ddclient would ignore 'maybe': not yes or no",
        f"{path}:1: login: a login must not contain ':' or control characters",
        f"{path}:3: if: not an interface name: 'not/an/if'"]
    assert refused("ddclient", str(path), "--", "--frob") == [
        "argv:3: --frob: not an option of this importer; import ddclient [FILE] [-- --secret-dir DIR]"]


# -- the command ---------------------------------------------------------------------------

def ctl(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_ctl_import_prints_yaml_that_loads(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = ctl(capsys, "import", "rust-network-mgr", str(here / "rust-network-mgr.yaml"))
    assert (code, err) == (0, "")
    assert load(out).features["addresses"].zones == {"wan": ("eth0",), "lan": ("eth1", "eth2")}


def test_ctl_import_refuses_with_one_line_per_problem_and_status_2(
        here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "imon-x").write_text('{"updown": {"enable": true, "monitorip": "",\n'
                                 '  "interval": 0}}\n')
    code, out, err = ctl(capsys, "import", "imon", str(here / "imon-x"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{here}/imon-x:2: updown.interval: 0 is out of range (minimum 0.1)",
        f"{here}/imon-x:1: updown.monitorip: expected a non-empty string, got ''"]


def test_ctl_import_needs_a_known_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = ctl(capsys, "import", "ipmonn")
    assert code == 2 and ("import takes a TOOL: ipmon, imon, tuninetd, monconn, rust-network-mgr, "
                          "ddclient") in err


def test_ctl_help_lists_every_importer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl(capsys, "--help")
    assert code == 0
    for tool in ("ipmon", "imon", "tuninetd", "monconn", "rust-network-mgr", "ddclient"):
        assert f"  import {tool} " in out


def test_ddclient_cloudflare_entries_take_a_token(here: Path) -> None:
    """login=EMAIL was the global API key's login: the token is asked for instead; a
    missing zone is refused with its line."""
    text = ddclient(here, "protocol=cloudflare, zone=example.net, login=me@example.net, "
                    "password=global-key-77, server=api.test/client/v4\n"
                    "home.example.net\n")
    [update] = [d.update for d in load_ddns(text).values()]
    assert update is not None and update.server == "https://api.test/client/v4"
    assert update.login == "" and update.zone == "example.net"
    assert "# login=me@example.net (line 1): an e-mail is for Cloudflare's old global API key" \
        in text
    assert "global-key-77" not in text and "login:" not in text
    (here / "t.conf").write_text("protocol=cloudflare, password=t a.example.net\n")
    assert refused("ddclient", str(here / "t.conf")) == [
        f"{here}/t.conf:1: zone: a.example.net: cloudflare needs zone= (the zone the host "
        "names are in)"]
