"""The set writer's decisions with libnftables replaced by a recording stand-in (no root
needed; the real kernel path is covered by test_sets_heal.py and the daemon tests)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from netsentinel.events import Event, EventBus, SetsSynced, SyncFailed
from netsentinel.nft.client import NftError
from netsentinel.nft.sets import SetSpec
from netsentinel.nft.writer import SetWriter

WAN = SetSpec("wan_ips", "ipv4_addr", False)
LAN = SetSpec("lan_ips", "ipv4_addr", False)


class FakeNft:
    """Sets as a dict; refuses any transaction that touches a name in ``refuse``."""

    def __init__(self, sets: dict[str, set[str]]) -> None:
        self.sets = sets
        self.refuse: set[str] = set()
        self.transactions = 0
        self.committed: list[list[dict[str, Any]]] = []

    def list_set(self, family: str, table: str, name: str) -> list[Any] | None:
        return sorted(self.sets[name]) if name in self.sets else None

    def transaction(self, commands: list[dict[str, Any]]) -> None:
        names = {c[v][k]["name"] for c in commands for v in c for k in c[v] if k != "table"}
        if names & self.refuse:
            raise NftError("Could not process rule: Invalid argument")
        for c in commands:
            (verb, body), = c.items()
            (kind, what), = body.items()
            if kind == "set" and verb == "add":
                self.sets.setdefault(what["name"], set())
            elif kind == "element":
                target = self.sets[what["name"]]
                (target.update if verb == "add" else target.difference_update)(what["elem"])
        self.transactions += 1
        self.committed.append(commands)


def writer(nft: FakeNft) -> tuple[SetWriter, list[Any]]:
    bus = EventBus()
    seen: list[Any] = []
    bus.subscribe(Event, seen.append)
    return SetWriter("nftables", bus, None, nft, defer.maybeDeferred), seen   # type: ignore[arg-type]


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addCallback(out.append)
    assert out, "the write did not finish"
    return out[0]


def test_one_transaction_for_every_changed_set_and_an_event() -> None:
    nft = FakeNft({"wan_ips": {"10.0.0.1"}, "lan_ips": set()})
    w, seen = writer(nft)
    changed = result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.2"}),
                                                       LAN: frozenset({"10.8.0.1"})}))
    assert changed == (LAN, WAN) and nft.transactions == 1
    assert nft.sets == {"wan_ips": {"10.0.0.2"}, "lan_ips": {"10.8.0.1"}}
    assert [type(e) for e in seen] == [SetsSynced]
    assert result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.2"}),
                                                    LAN: frozenset({"10.8.0.1"})})) == ()
    assert nft.transactions == 1          # nothing differs: nothing written


def test_a_refused_set_holds_back_no_other_and_is_reported() -> None:
    nft = FakeNft({"wan_ips": set(), "lan_ips": set()})
    nft.refuse = {"wan_ips"}
    w, seen = writer(nft)
    changed = result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.2"}),
                                                       LAN: frozenset({"10.8.0.1"})}))
    assert changed == (LAN,) and nft.sets["lan_ips"] == {"10.8.0.1"}
    assert w.states["wan_ips"].error and w.failing()
    assert {type(e) for e in seen} == {SyncFailed, SetsSynced}


def test_missing_set_is_created_or_reported() -> None:
    nft = FakeNft({})
    w, _ = writer(nft)
    result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.1"})}))
    assert "does not exist (create: false)" in (w.states["wan_ips"].error or "")
    result(w.write("inet", "filter", True, {WAN: frozenset({"10.0.0.1"})}))
    assert nft.sets == {"wan_ips": {"10.0.0.1"}} and not w.failing()


def test_retired_sets_are_emptied_once() -> None:
    nft = FakeNft({"wan_ips": {"10.0.0.1"}, "lan_ips": {"10.8.0.1"}})
    w, _ = writer(nft)
    w.retire([LAN])
    result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.1"})}))
    assert nft.sets["lan_ips"] == set() and not w.retired
