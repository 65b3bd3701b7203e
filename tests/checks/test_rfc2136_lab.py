"""RFC 2136 updates signed with TSIG against a real authoritative server: Knot DNS in a
namespace, its zone read back with dig after each update. The updates come from the
driver (the config parser and the protocol module with the real reactor) and, for the
interface source, from the daemon itself."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checks.labkit import Recorder, peer
from tests.lab import Daemon, Lab, require, wait_for

HERE = Path(__file__).parent
SERVER = "10.0.8.53"
KEY = "ZGRucy1sYWItc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY="       # base64 of 32 bytes
KNOT = """
server:
  rundir: {dir}
  listen: {server}@53
log:
  - target: stderr
    any: info
database:
  storage: {dir}/db
key:
  - id: ddns-key
    algorithm: hmac-sha256
    secret: {key}
acl:
  - id: update
    key: ddns-key
    action: update
template:
  - id: default
    storage: {dir}
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: example.org
    acl: update
"""
ZONE = """$ORIGIN example.org.
$TTL 300
@    SOA ns1 hostmaster 1 3600 900 604800 300
@    NS  ns1
ns1  A   {server}
home A   10.0.8.99
"""


class Knot:
    def __init__(self, lab: Lab, ns: str, router: str, directory: Path) -> None:
        self.lab, self.router, self.directory = lab, router, directory
        (directory / "db").mkdir()
        (directory / "knot.conf").write_text(KNOT.format(dir=directory, server=SERVER, key=KEY))
        (directory / "example.org.zone").write_text(ZONE.format(server=SERVER))
        lab.popen(ns, ["knotd", "-c", str(directory / "knot.conf")],
                  stderr=open(directory / "knot.log", "wb"))
        wait_for(lambda: self.answer("ns1") == [SERVER], what="knot answering")

    def answer(self, name: str, kind: str = "A") -> list[str]:
        out = self.lab.run(self.router, "dig", "+short", "+time=1", "+tries=1", f"@{SERVER}",
                           f"{name}.example.org", kind, check=False).stdout.decode()
        return sorted(line for line in out.split() if line and not line.startswith(";"))


@pytest.fixture
def knot(lab: Lab, tmp_path: Path) -> Iterator[tuple[str, str, Knot]]:
    require("knotd", "dig")
    router = lab.netns("r")
    dns_ns, wan = peer(lab, router, "d", "10.0.8.10/24", f"{SERVER}/24", "fd00:8::53/64")
    lab.run(router, "ip", "addr", "add", "fd00:8::10/64", "dev", wan, "nodad")
    yield router, wan, Knot(lab, dns_ns, router, tmp_path)


def update(**extra: Any) -> dict[str, Any]:
    return {"protocol": "rfc2136", "server": SERVER, "zone": "example.org",
            "key_name": "ddns-key", "key": KEY, "ttl": 60, **extra}


def drive(lab: Lab, router: str, directory: Path, cases: list[dict[str, Any]]) -> list[Any]:
    path = directory / "cases.json"
    path.write_text(json.dumps(cases))
    out = lab.run(router, sys.executable, str(HERE / "provider_driver.py"), str(path)).stdout
    return json.loads(out.decode().splitlines()[-1])  # type: ignore[no-any-return]


def case(hosts: list[str], address: str, **extra: Any) -> dict[str, Any]:
    return {"update": {**update(**extra), "hostnames": hosts}, "hosts": hosts,
            "address": address}


def test_update_replaces_the_record_and_the_zone_answers_it(
        lab: Lab, knot: tuple[str, str, Knot]) -> None:
    router, _, server = knot
    [first] = drive(lab, router, server.directory, [case(["home.example.org"], "10.0.8.10")])
    assert first == [["home.example.org", "good", "ok"]]
    assert server.answer("home") == ["10.0.8.10"]
    again, both = drive(lab, router, server.directory, [
        case(["home.example.org"], "10.0.8.10"),
        case(["home.example.org", "vpn.example.org"], "10.0.8.11,fd00:8::10")])
    assert again == [["home.example.org", "nochg", "ok"]]          # read first: not sent
    assert both == [["home.example.org", "good", "ok"], ["vpn.example.org", "good", "ok"]]
    assert server.answer("home") == ["10.0.8.11"] and server.answer("vpn") == ["10.0.8.11"]
    assert server.answer("vpn", "AAAA") == ["fd00:8::10"]


def test_a_wrong_key_is_refused_and_changes_nothing(lab: Lab,
                                                    knot: tuple[str, str, Knot]) -> None:
    router, _, server = knot
    wrong = "d3JvbmctZGRucy1zZWNyZXQtMDEyMzQ1Njc4OWFiY2Q="
    results = drive(lab, router, server.directory, [
        case(["home.example.org"], "10.0.8.10", key=wrong),
        case(["home.example.org"], "10.0.8.10", key_name="other-key"),
        case(["home.example.org"], "10.0.8.10", algorithm="hmac-sha512")])
    assert [r[0][1:] for r in results] == [["badauth", "permanent"]] * 3
    assert server.answer("home") == ["10.0.8.99"]


def test_key_file_as_keymgr_writes_it(lab: Lab, knot: tuple[str, str, Knot],
                                      tmp_path: Path) -> None:
    router, _, server = knot
    key_file = tmp_path / "ddns.key"
    key_file.write_text(f"# hmac-sha256:ddns-key:{KEY}\nkey:\n  - id: ddns-key\n"
                        f"    algorithm: hmac-sha256\n    secret: {KEY}\n")
    key_file.chmod(0o600)
    config = update(key_file=str(key_file))
    del config["key"], config["key_name"]
    [result] = drive(lab, router, server.directory, [
        {"update": {**config, "hostnames": ["home.example.org"]},
         "hosts": ["home.example.org"], "address": "10.0.8.12"}])
    assert result == [["home.example.org", "good", "ok"]]
    assert server.answer("home") == ["10.0.8.12"]


DAEMON = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 300
      timeout: 2
      accept_private: true
      sources: [{{interface: {wan}}}]
      update:
        protocol: rfc2136
        server: {server}
        zone: example.org
        key_name: ddns-key
        key_env: NETSENTINEL_TEST_TSIG
        hostnames: [home.example.org]
        min_interval: 0
        authoritative: [{server}]
"""


def test_interface_change_reaches_the_zone_without_waiting_for_the_interval(
        lab: Lab, knot: tuple[str, str, Knot], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """interval is 300 s: only the netlink address change can move the record this soon."""
    router, wan, server = knot
    monkeypatch.setenv("NETSENTINEL_TEST_TSIG", KEY)
    recorder = Recorder(tmp_path)
    config = DAEMON.format(action=recorder.script, wan=wan, server=SERVER)
    daemon = Daemon(lab, router, tmp_path, config).start()
    wait_for(lambda: server.answer("home") == ["10.0.8.10"], what="first update")
    lab.run(router, "ip", "addr", "del", "10.0.8.10/24", "dev", wan)   # primary first: it
    lab.run(router, "ip", "addr", "add", "10.0.8.20/24", "dev", wan)   # takes secondaries
    wait_for(lambda: server.answer("home") == ["10.0.8.20"], what="update after the change")
    status = daemon.status()["checks"]["ddns"]["ext"]
    assert status["address"] == "10.0.8.20" and status["provider"]["state"] == "ok"
    assert KEY not in daemon.output() and KEY not in json.dumps(daemon.status())
