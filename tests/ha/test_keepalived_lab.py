"""A keepalived pair for real (Debian's keepalived): two routers and a client on a
bridge. The VIP follows the uplinks' health through the track file netsentinel writes,
and the forwarder (master_only) runs only where the VIP is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.halab import Pair
from tests.lab import Lab, wait_for


@pytest.fixture
def pair(lab: Lab, tmp_path: Path) -> Iterator[Pair]:
    p = Pair(lab, tmp_path)
    p.start()
    wait_for(lambda: p.master() is p.a, 30, what="router a holds the VIP")
    yield p


def forwarding(router: object) -> bool:
    return bool(router.ha()["features"]["forward"])  # type: ignore[attr-defined]


def test_master_runs_the_forwarder_and_the_backup_does_not(pair: Pair) -> None:
    wait_for(lambda: pair.a.ha()["state"] == "master" and forwarding(pair.a),
             what="a is MASTER and forwards")
    # both start as BACKUP: b may be MASTER for a moment before a's first advert
    wait_for(lambda: pair.b.ha()["state"] == "backup" and not forwarding(pair.b),
             what="b is BACKUP and does not forward")
    pair.served_by("a")
    assert pair.a.track.read_text() == "50\n" and pair.a.ha()["weight"] == 50
    assert not pair.b.daemon.status()["forward"]["web"]["up"]


def test_master_losing_its_uplinks_hands_over_vip_and_forwarder(pair: Pair) -> None:
    pair.served_by("a")
    pair.a.cut_uplinks()
    wait_for(lambda: pair.a.track.read_text() == "0\n", what="a writes weight 0")
    wait_for(lambda: pair.master() is pair.b, 30, what="the VIP moved to b")
    pair.served_by("b")
    wait_for(lambda: pair.a.ha()["state"] == "backup" and not forwarding(pair.a),
             what="a stopped its forwarder")
    assert forwarding(pair.b)
    transitions = pair.a.ha()["transitions"]
    assert isinstance(transitions, int) and transitions >= 3   # BACKUP, MASTER, BACKUP
    pair.a.heal_uplinks()
    wait_for(lambda: pair.master() is pair.a, 30, what="the VIP back on a (preempt)")
    pair.served_by("a")
    wait_for(lambda: not forwarding(pair.b), what="b stopped its forwarder")


def test_master_keepalived_stopping_hands_over(pair: Pair) -> None:
    pair.served_by("a")
    pair.a.stop_keepalived()
    wait_for(lambda: pair.master() is pair.b, 30, what="the VIP moved to b")
    pair.served_by("b")
    wait_for(lambda: not forwarding(pair.a), what="a stopped its forwarder")
    assert pair.a.ha()["state"] in ("stop", "backup", "fault")
