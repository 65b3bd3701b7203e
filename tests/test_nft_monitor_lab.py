"""Sets heal through nftables' own notifications: ``verify`` is an hour here, so nothing
but the monitor can put a set right within a test's deadline."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, wait_for
from tests.setslab import Router

RULESET = """flush ruleset
table inet filter {
  set wan_ips { type ipv4_addr; }
  set lan_ips { type ipv4_addr; }
  chain input { type filter hook input priority 0; ip saddr @wan_ips accept; }
}
"""

# a foreign program's table, changed 1,000 times in 1,000 transactions
FOREIGN = """
import nftables
nft = nftables.Nftables()
for cmd in ("add table inet foreign", "add set inet foreign s { type ipv4_addr; }"):
    assert nft.cmd(cmd)[0] == 0
for i in range(1000):
    assert nft.cmd(f"add element inet foreign s {{ 10.9.{i // 250}.{i % 250 + 1} }}")[0] == 0
"""


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    r = Router(lab, tmp_path, verify=3600)
    r.daemon.start()
    wait_for(r.full, what="sets filled")
    yield r


def test_nft_f_of_a_ruleset_declaring_the_sets_empty_is_repaired(router: Router) -> None:
    ruleset = router.dir / "ruleset.nft"
    ruleset.write_text(RULESET)
    router.lab.run(router.ns, "nft", "-f", str(ruleset))
    wait_for(router.full, what="sets refilled after nft -f")
    wait_for(lambda: "set inet filter wan_ips refilled after an outside change (1 element)"
             in router.daemon.output(), what="repair logged")
    assert router.section("wan_ips")["repairs"] == 1
    assert router.daemon.status()["nftables"]["listening"] is True


def test_flush_ruleset_recreates_the_table(router: Router) -> None:
    router.nft("flush ruleset")
    wait_for(router.full, what="table and sets re-created")


def test_flush_set_and_a_deleted_element_are_put_back(router: Router) -> None:
    router.nft("flush set inet filter wan_ips")
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1"}, what="flushed set refilled")
    router.nft("delete element inet filter lan_ips { 10.8.0.1 }")
    wait_for(lambda: router.set("lan_ips") == {"10.8.0.1"}, what="deleted element put back")
    router.nft("add element inet filter lan_ips { 192.0.2.66 }")
    wait_for(lambda: router.set("lan_ips") == {"10.8.0.1"}, what="foreign element removed")
    wait_for(lambda: router.section("lan_ips")["repairs"] == 2, what="two repairs of lan_ips")


def test_a_set_deleted_and_added_again_is_filled(router: Router) -> None:
    router.nft("delete set inet filter wan_ips")
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1"}, what="deleted set re-created")
    router.lab.nft(router.ns, "delete set inet filter lan_ips\n"
                              "add set inet filter lan_ips { type ipv4_addr; }")
    wait_for(lambda: router.set("lan_ips") == {"10.8.0.1"}, what="re-declared set filled")


def test_with_create_false_a_flushed_ruleset_is_reported_until_declared(
        lab: Lab, tmp_path: Path) -> None:
    r = Router(lab, tmp_path, create=False, verify=3600)
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text(RULESET)
    lab.run(r.ns, "nft", "-f", str(ruleset))
    r.daemon.start()
    wait_for(r.full, what="sets filled")
    r.nft("flush ruleset")
    wait_for(lambda: r.section("wan_ips").get("error"), what="missing set reported")
    assert r.set("wan_ips") is None, "create: false must not re-create the table"
    lab.run(r.ns, "nft", "-f", str(ruleset))
    wait_for(lambda: r.full() and r.section("wan_ips")["error"] is None,
             what="filled at once when the admin's ruleset declares the sets again")


def test_a_foreign_table_changing_1000_times_causes_no_sync(router: Router) -> None:
    before = router.daemon.status()
    router.lab.run(router.ns, sys.executable, "-c", FOREIGN)
    assert router.lab.nft_set(router.ns, "inet", "foreign", "s") is not None
    router.nft("flush set inet filter wan_ips")     # a marker: changes of ours are seen
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1"}, what="marker repaired")
    after = router.daemon.status()
    # the foreign table is not even counted; only the marker made us read back
    assert after["nftables"]["outside_changes"] - before["nftables"]["outside_changes"] == 1
    assert after["addresses"]["syncs"] - before["addresses"]["syncs"] == 1
    assert after["addresses"]["transactions"] - before["addresses"]["transactions"] == 1


def test_our_own_ruleset_reload_is_not_an_outside_change(lab: Lab, tmp_path: Path) -> None:
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text(RULESET.replace("flush ruleset\n", "flush ruleset\ninclude \""
                                       + str(tmp_path / "ifacesAddrs.vars") + "\"\n"))
    r = Router(lab, tmp_path, verify=3600, extra=f"  files: {{vars: {tmp_path}/ifacesAddrs.vars, "
                                    f"reload_ruleset: {ruleset}}}\n")
    r.daemon.start()
    wait_for(r.full, what="sets filled after our own ruleset load")
    r.ip("addr", "add", "10.7.0.2/24", "dev", r.wan)     # vars change: the ruleset is loaded again
    wait_for(lambda: r.set("wan_ips") == {"10.7.0.1", "10.7.0.2"}, what="wan_ips refilled")
    status = r.daemon.status()
    assert status["addresses"]["files"]["ruleset"]["error"] is None
    assert status["addresses"]["sets"]["wan_ips"]["repairs"] == 0
    assert "outside change" not in r.daemon.output()
