"""The set writer's decisions with libnftables replaced by a recording stand-in (no root
needed; the real kernel path is covered by test_sets_heal.py and the daemon tests)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.events import Event, EventBus, SetsSynced, SyncFailed
from netsentinel.nft.client import NftError
from netsentinel.nft.sets import SetSpec
from netsentinel.nft.writer import SetWriter

WAN = SetSpec("wan_ips", "ipv4_addr", False)
LAN = SetSpec("lan_ips", "ipv4_addr", False)


class FakeNft:
    """Sets as a dict; refuses any transaction that touches a name in ``refuse``.

    With a ``clock``, elements added with a timeout carry it and count down ("expires"),
    and vanish once it has run out, as the kernel's do."""

    def __init__(self, sets: dict[str, set[str]], clock: Any = None) -> None:
        self.sets = sets
        self.refuse: set[str] = set()
        self.transactions = 0
        self.committed: list[list[dict[str, Any]]] = []
        self.clock = clock
        self.expiry: dict[tuple[str, str], tuple[int, float]] = {}   # (set, elem) -> timeout, at

    def _now(self) -> float:
        return float(self.clock.seconds()) if self.clock is not None else 0.0

    def _expire(self) -> None:
        for (name, e), (timeout, at) in list(self.expiry.items()):
            if at + timeout <= self._now():
                self.sets[name].discard(e)
                del self.expiry[(name, e)]

    def list_set(self, family: str, table: str, name: str) -> list[Any] | None:
        self._expire()
        if name not in self.sets:
            return None
        out: list[Any] = []
        for e in sorted(self.sets[name]):
            if (name, e) in self.expiry:
                timeout, at = self.expiry[(name, e)]
                out.append({"elem": {"val": e, "timeout": timeout,
                                     "expires": int(at + timeout - self._now())}})
            else:
                out.append(e)
        return out

    def transaction(self, commands: list[dict[str, Any]]) -> None:
        self._expire()
        names = {c[v][k]["name"] for c in commands for v in c for k in c[v] if k != "table"}
        if names & self.refuse:
            raise NftError("Could not process rule: Invalid argument")
        for c in commands:
            (verb, body), = c.items()
            (kind, what), = body.items()
            if kind == "set" and verb == "add":
                self.sets.setdefault(what["name"], set())
            elif kind == "element":
                self._elements(verb, what)
        self.transactions += 1
        self.committed.append(commands)

    def _elements(self, verb: str, what: dict[str, Any]) -> None:
        target = self.sets[what["name"]]
        for item in what["elem"]:
            value = item["elem"]["val"] if isinstance(item, dict) else item
            self.expiry.pop((what["name"], value), None)
            if verb == "delete":
                if value not in target:
                    raise NftError("Could not process rule: No such file or directory")
                target.discard(value)
                continue
            target.add(value)
            if isinstance(item, dict) and item["elem"].get("timeout"):
                self.expiry[(what["name"], value)] = (item["elem"]["timeout"], self._now())


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


TIMED = SetSpec("allow", "ipv4_addr", False, True)


def test_timeout_set_is_declared_with_flags_timeout_and_elements_carry_timeouts() -> None:
    nft = FakeNft({}, Clock())
    w, _ = writer(nft)
    result(w.write("inet", "filter", True, {TIMED: frozenset({"10.0.0.1"})},
                   {TIMED: {"10.0.0.1": 60}}))
    [commands] = nft.committed
    assert {"add": {"set": {"family": "inet", "table": "filter", "name": "allow",
                            "type": "ipv4_addr", "flags": ["timeout"]}}} in commands
    assert nft.list_set("inet", "filter", "allow") == [
        {"elem": {"val": "10.0.0.1", "timeout": 60, "expires": 60}}]


def test_element_is_refreshed_once_half_its_timeout_ran_out_and_not_before() -> None:
    clock = Clock()
    nft = FakeNft({}, clock)
    w, seen = writer(nft)

    def write() -> Any:
        return result(w.write("inet", "filter", True, {TIMED: frozenset({"10.0.0.1"})},
                              {TIMED: {"10.0.0.1": 60}}))
    write()
    clock.advance(20)
    assert write() == () and nft.transactions == 1          # 40 s left: nothing to do
    clock.advance(15)
    assert write() == () and nft.transactions == 2          # 25 s left: deleted and re-added
    assert nft.committed[-1] == [
        {"delete": {"element": {"family": "inet", "table": "filter", "name": "allow",
                                "elem": ["10.0.0.1"]}}},
        {"add": {"element": {"family": "inet", "table": "filter", "name": "allow",
                             "elem": [{"elem": {"val": "10.0.0.1", "timeout": 60}}]}}}]
    assert nft.list_set("inet", "filter", "allow")[0]["elem"]["expires"] == 60  # type: ignore[index]
    assert w.states["allow"].repairs == 0 and [type(e) for e in seen] == [SetsSynced]


def test_element_whose_timeout_shrank_or_that_has_none_is_re_added() -> None:
    nft = FakeNft({"allow": {"10.0.0.1", "10.0.0.2"}}, Clock())
    nft.expiry[("allow", "10.0.0.1")] = (7200, 0.0)
    w, _ = writer(nft)
    result(w.write("inet", "filter", True, {TIMED: frozenset({"10.0.0.1", "10.0.0.2"})},
                   {TIMED: {"10.0.0.1": 60, "10.0.0.2": 60}}))
    assert {e["elem"]["timeout"] for e in nft.list_set("inet", "filter", "allow")} == {60}  # type: ignore[union-attr]


def test_plain_sets_ignore_timeouts_and_keep_their_diff() -> None:
    nft = FakeNft({"wan_ips": {"10.0.0.1"}})
    w, _ = writer(nft)
    result(w.write("inet", "filter", False, {WAN: frozenset({"10.0.0.1", "10.0.0.2"})},
                   {WAN: {"10.0.0.2": 60}}))
    assert nft.committed == [[{"add": {"element": {
        "family": "inet", "table": "filter", "name": "wan_ips", "elem": ["10.0.0.2"]}}}]]
