"""Named address sets brought to their desired contents: read back, compare, one transaction.

Shared by every feature that owns whole sets (interface zones, container zones):
the kernel's contents are read back at every sync and only the sets that differ
are flushed and refilled, all in one libnftables transaction, so a set is never
seen empty in between and a set changed by hand is put right by the next sync.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Iterable, Mapping

import attrs
from twisted.logger import Logger

from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.elements import network_element

log = Logger()


@attrs.frozen(order=True)
class SetSpec:
    name: str
    type: str          # ipv4_addr | ipv6_addr
    interval: bool     # networks need 'flags interval'

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

    def to_dict(self) -> dict[str, Any]:
        return {"elements": sorted(self.elements), "synced_at": self.synced_at,
                "error": self.error}


def normalize(spec: SetSpec, raw: Iterable[Any]) -> frozenset[str]:
    """Kernel JSON elements in canonical form: addresses, or collapsed networks."""
    if not spec.interval:
        return frozenset(str(ipaddress.ip_address(_value(e))) for e in raw)
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


def _element_json(spec: SetSpec, text: str) -> Any:
    return network_element(ipaddress.ip_network(text)) if spec.interval else text


def transaction(family: str, table: str, changes: Mapping[SetSpec, frozenset[str]],
                create: Iterable[SetSpec] = ()) -> list[dict[str, Any]]:
    """One command list: create what is asked, then flush and refill each changed set."""
    where = {"family": family, "table": table}
    commands: list[dict[str, Any]] = []
    to_create = sorted(create)
    if to_create:
        commands.append({"add": {"table": {"family": family, "name": table}}})
    for spec in to_create:
        definition: dict[str, Any] = {**where, "name": spec.name, "type": spec.type}
        if spec.interval:
            definition["flags"] = ["interval"]
            definition["auto-merge"] = True
        commands.append({"add": {"set": definition}})
    for spec in sorted(changes):
        commands.append({"flush": {"set": {**where, "name": spec.name}}})
        if changes[spec]:
            commands.append({"add": {"element": {
                **where, "name": spec.name,
                "elem": [_element_json(spec, e) for e in sorted(changes[spec])]}}})
    return commands


class SetSync:
    """Converges sets of one table and keeps, per set, what was last applied and any error."""

    def __init__(self, nft: NftClient) -> None:
        self.nft = nft
        self.states: dict[str, SetState] = {}

    def apply(self, family: str, table: str, create: bool,
              desired: Mapping[SetSpec, frozenset[str]]) -> tuple[SetSpec, ...]:
        """Rewrite the sets that differ from ``desired``; returns them (empty: nothing to do).

        A missing set is created only with ``create``; otherwise it is an error in
        its state, retried at the next call.  Raises NftError when the transaction
        is refused (nothing was changed, every set in it carries the error).
        """
        now = time.time()
        changed: dict[SetSpec, frozenset[str]] = {}
        missing: list[SetSpec] = []
        for spec, want in desired.items():
            state = self.states.setdefault(spec.name, SetState())
            try:
                raw = self.nft.list_set(family, table, spec.name)
                current = None if raw is None else normalize(spec, raw)
            except NftError as e:
                state.error = str(e)
                continue
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                # re-created by someone with another type or flags (ether_addr, interval):
                # this set is in error, the others and every other sink go on
                state.error = (f"set {family} {table} {spec.name} is not a plain "
                               f"{spec.type} set ({type(e).__name__}: {e}); recreate it")
                log.error("nft: {error}", error=state.error)
                continue
            if raw is None and not create:
                state.error = f"set {family} {table} {spec.name} does not exist (create: false)"
                log.error("nft: {error}", error=state.error)
                continue
            if raw is None:
                missing.append(spec)
                changed[spec] = want
            elif current != want:
                changed[spec] = want
            else:
                state.elements, state.synced_at, state.error = want, now, None
        if not changed:
            return ()
        try:
            self.nft.transaction(transaction(family, table, changed, missing))
        except NftError as e:
            if len(changed) == 1:
                self.states[next(iter(changed)).name].error = str(e)
                raise
            # one set the kernel refuses must not hold back the others: each alone
            return self._one_by_one(family, table, changed, missing, e)
        for spec, want in changed.items():
            self.states[spec.name] = SetState(want, now, None)
            log.info("set {family} {table} {set} synced: {elements}", family=family,
                     table=table, set=spec.name, elements=", ".join(sorted(want)) or "(empty)")
        return tuple(sorted(changed))

    def _one_by_one(self, family: str, table: str, changed: Mapping[SetSpec, frozenset[str]],
                    missing: list[SetSpec], error: NftError) -> tuple[SetSpec, ...]:
        done: list[SetSpec] = []
        for spec, want in changed.items():
            try:
                self.nft.transaction(transaction(family, table, {spec: want},
                                                 [spec] if spec in missing else []))
            except NftError as e:
                self.states[spec.name].error = str(e)
                continue
            self.states[spec.name] = SetState(want, time.time(), None)
            done.append(spec)
        if len(done) < len(changed):
            failed = sorted(s.name for s in changed if s not in done)
            log.error("nft transaction failed ({error}); applied set by set, failed: "
                      "{failed}", error=error, failed=", ".join(failed))
        if not done:
            raise error
        return tuple(sorted(done))

    def failing(self) -> bool:
        """True while any set is in error: its owner retries on a timer."""
        return any(state.error is not None for state in self.states.values())

    def to_dict(self) -> dict[str, Any]:
        return {name: state.to_dict() for name, state in sorted(self.states.items())}
