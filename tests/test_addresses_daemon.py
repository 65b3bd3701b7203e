"""The address monitor, run as the real daemon in a namespace, checked through nft and files."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Daemon, Lab, wait_for

CONFIG = """
addresses:
  delay: 0.1
  nftables: {{table: inet filter, create: true, networks: true}}
  interfaces:
    {wan}: {{zone: wan}}
    {lan}: {{zone: lan}}
  files: {{vars: {dir}/ifacesAddrs.vars, sets: {dir}/ifacesAddrs.sets}}
  action: {dir}/action.sh
"""

ACTION = """#!/bin/sh
echo "$@" >> {dir}/action.log
"""


class Router:
    """A namespace with two veth ends (wan, lan) watched by a running daemon."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        self.lab = lab
        self.ns = lab.netns("r")
        self.wan, self.lan = lab.ifname("wan"), lab.ifname("lan")
        lab.veth(self.ns, self.wan, None, self.lan)
        self.dir = tmp_path
        action = tmp_path / "action.sh"
        action.write_text(ACTION.format(dir=tmp_path))
        action.chmod(0o755)
        self.daemon = Daemon(lab, self.ns, tmp_path, self.config())

    def config(self, **swap: str) -> str:
        names = {"wan": self.wan, "lan": self.lan, **swap}
        return CONFIG.format(dir=self.dir, **names)

    def ip(self, *args: str) -> None:
        self.lab.run(self.ns, "ip", *args)

    def set(self, name: str) -> builtins.set[str] | None:
        return self.lab.nft_set(self.ns, "inet", "filter", name)

    def elements(self, name: str) -> builtins.set[str]:
        found = self.set(name)
        assert found is not None, f"no set {name}"
        return found

    def wait_set(self, name: str, expected: builtins.set[str]) -> None:
        wait_for(lambda: self.set(name) == expected, what=f"{name} == {expected}")

    def addresses(self) -> dict[str, Any]:
        return self.daemon.status()["addresses"]  # type: ignore[no-any-return]


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    r = Router(lab, tmp_path)
    r.daemon.start()
    yield r


def test_ipv4_and_ipv6_addresses_follow_the_interface(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.ip("addr", "add", "fd00:1::1/64", "dev", router.wan, "nodad")
    router.wait_set("wan_ips", {"10.1.0.1"})
    router.wait_set("wan_ipv6", {"fd00:1::1"})
    router.wait_set("wan_nets", {"10.1.0.0/24"})
    router.ip("addr", "del", "10.1.0.1/24", "dev", router.wan)
    router.wait_set("wan_ips", set())
    assert router.set("wan_ipv6") == {"fd00:1::1"}


def test_link_local_addresses_are_left_out(router: Router) -> None:
    router.ip("addr", "add", "fd00:2::1/64", "dev", router.lan, "nodad")
    router.wait_set("lan_ipv6", {"fd00:2::1"})
    assert not any(a.startswith("fe80") for a in router.elements("lan_ipv6"))


def test_zone_without_addresses_becomes_empty_set(router: Router) -> None:
    router.ip("addr", "add", "10.2.0.1/24", "dev", router.lan)
    router.wait_set("lan_ips", {"10.2.0.1"})
    router.ip("addr", "flush", "dev", router.lan)
    router.wait_set("lan_ips", set())
    router.wait_set("lan_nets", set())


def test_deleted_interface_empties_its_zone(router: Router) -> None:
    router.ip("addr", "add", "10.2.0.1/24", "dev", router.lan)
    router.wait_set("lan_ips", {"10.2.0.1"})
    router.ip("link", "del", router.wan)   # deletes both ends of the pair
    router.wait_set("lan_ips", set())
    wait_for(lambda: router.lan not in router.addresses()["interfaces"], what="lan gone")


def test_interface_created_later_is_picked_up(router: Router, lab: Lab) -> None:
    later, peer = lab.ifname("new"), lab.ifname("peer")
    router.daemon.write_config(router.config(lan=later))
    assert router.daemon.ctl("reload").startswith("OK")
    lab.veth(router.ns, later, None, peer)
    router.ip("addr", "add", "10.3.0.1/24", "dev", later)
    router.wait_set("lan_ips", {"10.3.0.1"})


def test_renamed_interface_leaves_its_zone(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.wait_set("wan_ips", {"10.1.0.1"})
    router.ip("link", "set", router.wan, "down")
    router.ip("link", "set", router.wan, "name", router.wan + "x")
    router.wait_set("wan_ips", set())


def test_interface_moves_between_zones_by_reload(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.wait_set("wan_ips", {"10.1.0.1"})
    router.daemon.write_config(router.config().replace(
        f"{router.wan}: {{zone: wan}}", f"{router.wan}: {{zone: lan}}"))
    reply = router.daemon.ctl("reload")
    assert reply.startswith("OK: reloaded (changed: addresses)"), reply
    # the reply comes after the work: the sets are already right
    assert router.set("lan_ips") == {"10.1.0.1"}
    assert router.set("wan_ips") == set()


def test_files_are_ipmon_compatible_and_load_in_nft(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.ip("addr", "add", "10.1.0.2/24", "dev", router.wan)
    sets_file, vars_file = router.dir / "ifacesAddrs.sets", router.dir / "ifacesAddrs.vars"
    wait_for(lambda: sets_file.exists() and "10.1.0.2" in sets_file.read_text(), what="sets file")
    text = vars_file.read_text()
    assert f"redefine {router.wan}_ipv4_address = {{ 10.1.0.1, 10.1.0.2 }}" in text
    assert f"redefine {router.wan}_ipv4_network = {{ 10.1.0.0/24 }}" in text
    assert f"redefine {router.lan}_ipv4_address = {{ 0.0.0.0 }}" in text   # placeholder
    assert f"set {router.wan}_ipv4_network {{ type ipv4_addr; flags interval; " \
           "elements = { 10.1.0.0/24 }; }" in sets_file.read_text()
    check = router.dir / "check.nft"
    check.write_text(f'include "{vars_file}"\ntable inet t {{\n include "{sets_file}"\n'
                     f" chain c {{ ip saddr ${router.wan}_ipv4_address accept; "
                     f"ip saddr @{router.wan}_ipv4_network accept; }}\n}}\n")
    result = subprocess.run(["nft", "-c", "-f", str(check)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_renewal_that_changes_nothing_does_nothing(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan, "valid_lft", "300",
              "preferred_lft", "300")
    router.wait_set("wan_ips", {"10.1.0.1"})
    wait_for(lambda: not router.addresses()["pending"], what="quiet")
    # the action runs after the sync that spawned it: wait for its line before the snapshot
    log = router.dir / "action.log"
    actions = wait_for(lambda: log.exists() and f"{router.wan} 10.1.0.1/24 " in
                       (text := log.read_text()) and text, what="action call for the add")
    before = router.addresses()
    mtime = os.stat(router.dir / "ifacesAddrs.vars").st_mtime_ns
    router.ip("addr", "change", "10.1.0.1/24", "dev", router.wan, "valid_lft", "600",
              "preferred_lft", "600")
    wait_for(lambda: router.addresses()["syncs"] > before["syncs"] and
             not router.addresses()["pending"], what="a sync after the renewal")
    after = router.addresses()
    assert after["transactions"] == before["transactions"]
    assert os.stat(router.dir / "ifacesAddrs.vars").st_mtime_ns == mtime
    assert log.read_text() == actions


def test_burst_of_200_changes_needs_at_most_two_transactions(router: Router) -> None:
    wait_for(lambda: not router.addresses()["pending"], what="quiet")
    before = router.addresses()["transactions"]
    batch = "".join(f"addr add 10.8.{i // 250}.{i % 250 + 1}/16 dev {router.wan}\n"
                    for i in range(200))
    router.lab.run(router.ns, "ip", "-batch", "-", input=batch.encode())
    wait_for(lambda: len(router.elements("wan_ips")) == 200, what="200 addresses in wan_ips")
    wait_for(lambda: not router.addresses()["pending"], what="quiet")
    assert router.addresses()["transactions"] - before <= 2


def test_action_gets_interface_added_and_removed(router: Router) -> None:
    log = router.dir / "action.log"
    router.ip("addr", "add", "10.1.0.7/24", "dev", router.wan)
    wait_for(lambda: log.exists() and f"{router.wan} 10.1.0.7/24 " in log.read_text(),
             what="action call for the add")
    router.ip("addr", "del", "10.1.0.7/24", "dev", router.wan)
    wait_for(lambda: f"{router.wan}  10.1.0.7/24" in log.read_text(),
             what="action call for the delete")


def test_set_changed_by_hand_is_repaired_by_update(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.wait_set("wan_ips", {"10.1.0.1"})
    router.lab.run(router.ns, "nft", "flush", "set", "inet", "filter", "wan_ips")
    assert router.daemon.ctl("update") == "OK: synced"
    assert router.set("wan_ips") == {"10.1.0.1"}


def test_status_shows_interfaces_and_sets(router: Router) -> None:
    router.ip("addr", "add", "10.1.0.1/24", "dev", router.wan)
    router.wait_set("wan_ips", {"10.1.0.1"})
    status = router.daemon.status()
    assert status["ready"] is True and status["version"] and status["uptime"] >= 0
    assert "10.1.0.1/24" in status["addresses"]["interfaces"][router.wan]["addresses"]
    wan = status["addresses"]["sets"]["wan_ips"]
    assert wan["elements"] == ["10.1.0.1"] and wan["error"] is None and wan["synced_at"]


def test_missing_set_without_create_is_an_error_in_status(lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("r")
    wan, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, wan, None, peer)
    lab.nft(ns, "table inet filter {\n set wan_ips { type ipv4_addr; }\n}\n")
    config = (f"addresses:\n  nftables: {{table: inet filter}}\n"
              f"  interfaces:\n    {wan}: {{zone: wan}}\n")
    daemon = Daemon(lab, ns, tmp_path, config).start()
    lab.run(ns, "ip", "addr", "add", "10.1.0.1/24", "dev", wan)
    wait_for(lambda: lab.nft_set(ns, "inet", "filter", "wan_ips") == {"10.1.0.1"},
             what="existing set updated")
    sets = daemon.status()["addresses"]["sets"]
    assert "does not exist" in sets["wan_ipv6"]["error"]
    # nothing was created behind the admin's back
    listing = json.loads(lab.run(ns, "nft", "-j", "list", "sets").stdout)
    assert [i["set"]["name"] for i in listing["nftables"] if "set" in i] == ["wan_ips"]


def test_proxy_config_rendered_and_reload_command_run(lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("r")
    wan, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, wan, None, peer)
    template = tmp_path / "proxy.tmpl"
    template.write_text(f"bind ${{{wan}_ipv4}}:443\n")
    reload_script = tmp_path / "reload.sh"
    reload_script.write_text(f"#!/bin/sh\necho reloaded >> {tmp_path}/reloads\n")
    reload_script.chmod(0o755)
    output = tmp_path / "proxy.conf"
    Daemon(lab, ns, tmp_path, (
        f"addresses:\n  interfaces:\n    {wan}: {{}}\n"
        f"  proxy: {{template: {template}, output: {output}, reload: [{reload_script}]}}\n"
    )).start()
    lab.run(ns, "ip", "addr", "add", "10.4.0.1/24", "dev", wan)
    wait_for(lambda: output.exists() and output.read_text() == "bind 10.4.0.1:443\n",
             what="proxy config rendered")
    wait_for(lambda: (tmp_path / "reloads").exists(), what="reload command run")


def test_reload_ruleset_reapplies_a_ruleset_that_includes_the_files(lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("r")
    wan, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, wan, None, peer)
    sets = tmp_path / "addrs.sets"
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text(f'table inet fw\ndelete table inet fw\ntable inet fw {{\n include "{sets}"\n}}\n')
    Daemon(lab, ns, tmp_path, (
        f"addresses:\n  interfaces:\n    {wan}: {{}}\n"
        f"  files: {{sets: {sets}, reload_ruleset: {ruleset}}}\n")).start()
    lab.run(ns, "ip", "addr", "add", "10.4.0.1/24", "dev", wan)
    wait_for(lambda: lab.nft_set(ns, "inet", "fw", f"{wan}_ipv4_address") == {"10.4.0.1"},
             what="ruleset reloaded with the new sets file")


def test_failing_ruleset_is_reported_and_retried(lab: Lab, tmp_path: Path) -> None:
    ns = lab.netns("r")
    wan, peer = lab.ifname("wan"), lab.ifname("p")
    lab.veth(ns, wan, None, peer)
    sets = tmp_path / "addrs.sets"
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text("table inet fw { this is not nft }\n")
    daemon = Daemon(lab, ns, tmp_path, (
        f"addresses:\n  interfaces:\n    {wan}: {{}}\n"
        f"  files: {{sets: {sets}, reload_ruleset: {ruleset}}}\n")).start()
    assert daemon.status()["addresses"]["files"]["ruleset"]["error"]
    ruleset.write_text(f'table inet fw\ndelete table inet fw\ntable inet fw {{\n include "{sets}"\n}}\n')
    assert daemon.ctl("update") == "OK: synced"   # no new content, yet the load is retried
    assert daemon.status()["addresses"]["files"]["ruleset"]["error"] is None
    assert lab.nft_set(ns, "inet", "fw", f"{wan}_ipv4_address") == set()
