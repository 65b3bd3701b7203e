"""Named address sets: their specs, the kernel's elements in canonical form, the commands.

Pure values and functions; :mod:`netsentinel.nft.writer` reads back, compares and
applies them for every feature that writes sets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from netsentinel.nft.elements import network_element

COMMENT_MAX = 127       # the kernel keeps an element's comment in 128 bytes (NUL included)

@attrs.frozen(order=True)
class SetSpec:
    name: str
    type: str          # ipv4_addr | ipv6_addr
    interval: bool     # networks need 'flags interval'
    timeout: bool = False   # 'flags timeout': elements may carry a timeout (names' DNS answers)

    @property
    def version(self) -> int:
        return 4 if self.type == "ipv4_addr" else 6


def address_sets(zone: str) -> list[SetSpec]:
    """rust-network-mgr's names: <zone>_ips, <zone>_ipv6."""
    return [SetSpec(f"{zone}_ips", "ipv4_addr", False), SetSpec(f"{zone}_ipv6", "ipv6_addr", False)]


@attrs.define
class SetState:
    elements: frozenset[str] = frozenset()
    synced_at: float | None = None
    error: str | None = None
    repairs: int = 0          # outside changes undone (nft -f, nft flush set, ...)

    def snapshot(self) -> SetStatus:
        return SetStatus(tuple(sorted(self.elements)), self.synced_at, self.error, self.repairs)


@attrs.frozen
class SetStatus:
    """One set as ``status`` shows it: its elements sorted, when it was last synced,
    and what the last write said if it failed."""

    elements: tuple[str, ...] = ()
    synced_at: float | None = None
    error: str | None = None
    repairs: int = 0


def normalize(spec: SetSpec, raw: Iterable[Any],
              known: frozenset[str] = frozenset()) -> frozenset[str]:
    """Kernel JSON elements in canonical form: addresses, or collapsed networks.

    An address string already in ``known`` (the desired contents, canonical) is
    taken as it is: 20,000 unchanged elements are not parsed at every sync.
    """
    if not spec.interval:
        values = (_value(e) for e in raw)
        return frozenset(v if isinstance(v, str) and v in known else str(ipaddress.ip_address(v))
                         for v in values)
    networks: list[Any] = []
    for e in raw:
        value = _value(e)
        if isinstance(value, dict) and "prefix" in value:
            networks.append(ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}"))
        elif isinstance(value, dict) and "range" in value:
            low, high = (ipaddress.ip_address(v) for v in value["range"])
            networks.extend(ipaddress.summarize_address_range(low, high))
        else:
            networks.append(ipaddress.ip_network(value))
    return frozenset(str(n) for n in ipaddress.collapse_addresses(networks))


def _value(element: Any) -> Any:
    return element["elem"]["val"] if isinstance(element, dict) and "elem" in element else element


def expiries(raw: Iterable[Any]) -> dict[str, int | None]:
    """Seconds each element of a plain set has left (the kernel's ``expires``; None:
    no timeout), by canonical address."""
    found: dict[str, int | None] = {}
    for e in raw:
        inner = e["elem"] if isinstance(e, dict) and "elem" in e else {"val": e}
        expires = inner.get("expires")
        found[str(ipaddress.ip_address(inner["val"]))] = \
            int(expires) if isinstance(expires, (int, float)) else None
    return found


def needs_refresh(expires: int | None, timeout: int) -> bool:
    """An element wanted with ``timeout`` is re-added once half of it has run out (or
    when it has none, or more than asked for): a writer that runs at least every quarter
    timeout keeps it from ever expiring while the daemon runs."""
    return expires is None or expires * 2 < timeout or expires > timeout


def comments(raw: Iterable[Any]) -> dict[str, str]:
    """The comments elements of a plain set carry, by canonical address."""
    return {str(ipaddress.ip_address(e["elem"]["val"])): str(e["elem"]["comment"])
            for e in raw if isinstance(e, dict) and "comment" in e.get("elem", {})}


def _element_json(spec: SetSpec, text: str, timeout: int | None = None,
                  comment: str | None = None) -> Any:
    value = network_element(ipaddress.ip_network(text)) if spec.interval else text
    if not timeout and not comment:
        return value
    elem: dict[str, Any] = {"val": value}
    if timeout:
        elem["timeout"] = timeout
    if comment:
        elem["comment"] = comment[:COMMENT_MAX]
    return {"elem": elem}


def declare(family: str, table: str, specs: Iterable[SetSpec]) -> list[dict[str, Any]]:
    """Commands creating the table and these sets (``add`` leaves existing ones alone)."""
    to_create = sorted(specs)
    if not to_create:
        return []
    commands: list[dict[str, Any]] = [{"add": {"table": {"family": family, "name": table}}}]
    for spec in to_create:
        definition: dict[str, Any] = {"family": family, "table": table, "name": spec.name,
                                      "type": spec.type}
        flags = (["interval"] if spec.interval else []) + (["timeout"] if spec.timeout else [])
        if flags:
            definition["flags"] = flags
        if spec.interval:
            definition["auto-merge"] = True
        commands.append({"add": {"set": definition}})
    return commands


def change(family: str, table: str, spec: SetSpec, current: frozenset[str] | None,
           want: frozenset[str], timeouts: Mapping[str, int] | None = None,
           refresh: frozenset[str] = frozenset(),
           notes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Commands taking one set from ``current`` (None: just created, empty) to ``want``.

    A plain set gets only its difference (one address changing among 20,000 is
    two elements, not a flush and 20,000 adds); an interval set, whose kernel
    ranges are merged, is flushed and refilled.  Inside the one transaction the
    set is never seen half-done either way.  Elements of a timeout set are added with
    their ``timeouts`` (seconds); those in ``refresh`` are deleted and added again in the
    same transaction, which restarts their timeout on every kernel.  ``notes`` become
    the added elements' comments (what ``nft list set`` shows beside them).
    """
    where = {"family": family, "table": table, "name": spec.name}
    commands: list[dict[str, Any]] = []
    if spec.interval and current:
        commands.append({"flush": {"set": where}})
        current = frozenset()
    base = current or frozenset()
    again = refresh & base & want
    gone, new = sorted((base - want) | again), sorted((want - base) | again)
    timeouts = (timeouts or {}) if spec.timeout else {}
    notes = notes or {}
    if gone:
        commands.append({"delete": {"element": {
            **where, "elem": [_element_json(spec, e) for e in gone]}}})
    if new:
        commands.append({"add": {"element": {
            **where, "elem": [_element_json(spec, e, timeouts.get(e), notes.get(e))
                              for e in new]}}})
    return commands
