"""Managed sets are re-checked without an address change, and one bad set stops nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, wait_for
from tests.setslab import Router


@pytest.fixture
def router(lab: Lab, tmp_path: Path) -> Iterator[Router]:
    r = Router(lab, tmp_path, create=True, extra=f"  files: {{vars: {tmp_path}/ifacesAddrs.vars}}\n")
    r.daemon.start()
    wait_for(lambda: r.set("wan_ips") == {"10.7.0.1"}, what="wan_ips filled")
    yield r


def test_flushed_set_is_refilled_without_an_address_change(router: Router) -> None:
    router.nft("flush set inet filter wan_ips")
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1"}, what="wan_ips refilled")


def test_deleted_table_is_recreated_and_filled(router: Router) -> None:
    router.nft("flush ruleset")
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1"} and
             router.set("lan_ips") == {"10.8.0.1"}, what="sets back after flush ruleset")


def test_set_of_another_type_is_an_error_of_that_set_alone(router: Router) -> None:
    router.nft("delete set inet filter wan_ips")
    router.nft("add set inet filter wan_ips { type ether_addr; }")
    wait_for(lambda: router.set_error("wan_ips"), what="wan_ips in error")
    router.ip("addr", "add", "10.8.0.2/24", "dev", router.lan)
    router.ip("addr", "add", "10.7.0.2/24", "dev", router.wan)
    wait_for(lambda: router.set("lan_ips") == {"10.8.0.1", "10.8.0.2"}, what="lan_ips synced")
    wait_for(lambda: "10.7.0.2" in (router.dir / "ifacesAddrs.vars").read_text(),
             what=".vars written despite the broken set")
    assert router.daemon.status()["ready"] is True
    router.nft("delete set inet filter wan_ips")     # the admin puts it right
    wait_for(lambda: router.set("wan_ips") == {"10.7.0.1", "10.7.0.2"} and
             router.set_error("wan_ips") is None, what="wan_ips healed")


def test_set_created_later_with_create_false_is_filled(lab: Lab, tmp_path: Path) -> None:
    r = Router(lab, tmp_path, create=False)
    r.nft("add table inet filter")
    r.nft("add set inet filter lan_ips { type ipv4_addr; }")
    r.daemon.start()
    wait_for(lambda: r.set_error("wan_ips"), what="missing wan_ips reported")
    r.nft("add set inet filter wan_ips { type ipv4_addr; }")
    wait_for(lambda: r.set("wan_ips") == {"10.7.0.1"} and r.set_error("wan_ips") is None,
             what="wan_ips filled once created")
