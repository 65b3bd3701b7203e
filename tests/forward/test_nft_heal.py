"""The blacklist mirror's nft sets come back after an outside ``nft flush``: the set
writer hears it through the nftables monitor and writes the blacklist again."""

from __future__ import annotations

from pathlib import Path

from tests.forward.test_daemon import echo_backend
from tests.lab import Daemon, Lab, wait_for

BACKEND = 19210
FRONT = 19211

CONFIG = f"""
forward:
  web:
    listen: "127.0.0.1:{FRONT}"
    backend: "127.0.0.1:{BACKEND}"
    ip_blacklist: [192.0.2.0/24, "2001:db8::/32"]
    blacklist_set: inet nsfw block
"""
WANTED = ({"192.0.2.0/24"}, {"2001:db8::/32"})


def sets(lab: Lab, ns: str) -> tuple[set[str] | None, set[str] | None]:
    return (lab.nft_set(ns, "inet", "nsfw", "block"), lab.nft_set(ns, "inet", "nsfw", "block6"))


def started(lab: Lab, tmp_path: Path) -> str:
    ns = lab.netns("nh")
    lab.nft(ns, "table inet nsfw {}")
    echo_backend(lab, ns, BACKEND)
    Daemon(lab, ns, tmp_path, CONFIG).start()
    wait_for(lambda: sets(lab, ns) == WANTED, what="blacklist sets filled")
    return ns


def test_flushed_blacklist_set_is_refilled(lab: Lab, tmp_path: Path) -> None:
    ns = started(lab, tmp_path)
    lab.run(ns, "nft", "flush set inet nsfw block")
    lab.run(ns, "nft", "flush set inet nsfw block6")
    wait_for(lambda: sets(lab, ns) == WANTED, what="blacklist sets refilled")


def test_blacklist_sets_come_back_after_flush_ruleset(lab: Lab, tmp_path: Path) -> None:
    ns = started(lab, tmp_path)
    lab.run(ns, "nft", "flush ruleset")
    wait_for(lambda: sets(lab, ns) == WANTED, what="blacklist sets back after flush ruleset")
