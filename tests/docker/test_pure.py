"""Pure parts of the Docker monitor: the listing's parsing, matching, desired sets, changes."""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.python.failure import Failure

from netsentinel.docker.config import ZoneRule
from netsentinel.docker.containers import (
    Container,
    changes,
    desired_sets,
    from_api,
    lagging,
    matches,
    network_change,
)
from netsentinel.docker.engine import EventStream


def listed(name: str, labels: dict[str, str] | None = None, **networks: tuple[str, str]) -> Any:
    """One entry as ``GET /containers/json`` gives it (fields we do not read left out)."""
    return {"Id": name * 8, "Names": [f"/{name}"], "Labels": labels or {}, "State": "running",
            "NetworkSettings": {"Networks": {
                net: {"IPAddress": v4, "GlobalIPv6Address": v6, "IPPrefixLen": 24}
                for net, (v4, v6) in networks.items()}}}


def test_listing_entry_becomes_a_container_with_each_networks_addresses() -> None:
    c = from_api(listed("web", {"a": "1"}, front=("10.0.0.2", "fd00::2"), back=("10.1.0.2", "")))
    assert c.name == "web" and c.label("a") == "1"
    assert c.networks == (("back", ("10.1.0.2",)), ("front", ("10.0.0.2", "fd00::2")))
    assert c.ips == ("10.0.0.2", "10.1.0.2", "fd00::2")


def test_host_network_container_has_no_addresses() -> None:
    assert from_api(listed("h", host=("", ""))).ips == ()


def test_every_kind_of_selector_must_match_and_any_entry_of_a_kind() -> None:
    c = from_api(listed("web-1", {"tier": "front", "com.docker.compose.project": "shop"}))
    assert matches(ZoneRule("z", names=("db", "web-*")), c)
    assert matches(ZoneRule("z", labels=("tier",)), c)
    assert matches(ZoneRule("z", labels=("tier=back", "tier=front"), projects=("shop",)), c)
    assert not matches(ZoneRule("z", names=("web-*",), labels=("tier=back",)), c)
    assert not matches(ZoneRule("z", projects=("blog",)), c)
    assert matches(ZoneRule("z"), c)      # no selector: every container


def test_networks_choose_which_addresses_enter_the_sets() -> None:
    c = from_api(listed("a", front=("10.0.0.2", "fd00::2"), back=("10.1.0.2", "")))
    desired = {spec.name: v for spec, v in desired_sets(
        [ZoneRule("f", networks=("front",)), ZoneRule("all")], [c]).items()}
    assert desired == {"f_ips": {"10.0.0.2"}, "f_ipv6": {"fd00::2"},
                       "all_ips": {"10.0.0.2", "10.1.0.2"}, "all_ipv6": {"fd00::2"}}


def test_changes_are_up_down_and_changed_addresses_but_not_renames() -> None:
    a = Container("1", "a", networks=(("n", ("10.0.0.2",)),))
    b = Container("2", "b", networks=(("n", ("10.0.0.3",)),))
    moved = Container("2", "b", networks=(("n", ("10.0.0.3",)), ("m", ("10.9.0.3",))))
    renamed = Container("1", "a2", networks=a.networks)
    found = changes({"1": a, "2": b}, {"1": renamed, "2": moved, "3": Container("3", "c")})
    assert [(c.kind, c.container.name) for c in found] == [("changed", "b"), ("up", "c")]
    assert [(c.kind, c.container.name) for c in changes({"1": a}, {})] == [("down", "a")]


def network_event(action: str, container: str, network: str) -> dict[str, Any]:
    """A network event as the stream gives it (the fields we do not read left out)."""
    return {"Type": "network", "Action": action,
            "Actor": {"ID": "n" * 64, "Attributes": {"container": container, "name": network}}}


def test_network_events_name_the_container_and_network() -> None:
    assert network_change(network_event("connect", "c1", "front")) == (("c1", "front"), True)
    assert network_change(network_event("disconnect", "c1", "front")) == (("c1", "front"), False)
    assert network_change({"Type": "container", "Action": "start", "Actor": {}}) is None
    assert network_change({"Type": "network", "Action": "connect"}) is None


def test_a_listing_lags_until_it_shows_each_network_event() -> None:
    old = {"1": Container("1", "a", networks=(("back", ("10.1.0.2",)),))}
    new = {"1": Container("1", "a", networks=(("back", ("10.1.0.2",)), ("front", ("10.0.0.2",))))}
    connected = {("1", "front"): True}
    assert lagging(connected, old) == connected
    assert lagging(connected, new) == {}
    assert lagging({("1", "front"): False}, new) == {("1", "front"): False}
    assert lagging({("1", "front"): False}, old) == {}
    assert lagging(connected, {}) == {}          # not running: no addresses to wait for


def test_event_stream_splits_lines_across_chunks_and_skips_garbage() -> None:
    seen: list[dict[str, Any]] = []
    closed: list[Failure] = []
    stream = EventStream(seen.append, lambda s, reason: closed.append(reason))
    stream.dataReceived(b'{"Type":"container","Action":"start"}\n{"Type":"net')
    stream.dataReceived(b'work","Action":"connect"}\nnot json\n\n')
    stream.connectionLost(Failure(protocol.connectionDone.value))
    assert [e["Action"] for e in seen] == ["start", "connect"]
    assert len(closed) == 1
