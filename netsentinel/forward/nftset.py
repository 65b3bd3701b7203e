"""The blacklist mirrored into nft sets, so the kernel drops those clients before accept.

The set writer (:mod:`netsentinel.nft.writer`) owns the two sets, as it owns
every set netsentinel writes: each change of the blacklist hands it the whole
list, it reads the sets back, changes what differs in one transaction and
re-creates a set deleted by hand.  IPv4 entries go to ``NAME``, IPv6 entries to
``NAME6``; overlapping entries are merged first.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall

from netsentinel.forward.blacklist import Blacklist
from netsentinel.forward.config import Network, NftSetRef
from netsentinel.forward.status import BlacklistSet
from netsentinel.nft.client import NftClient
from netsentinel.nft.sets import SetSpec
from netsentinel.nft.watch import SetsWatch
from netsentinel.nft.writer import SetWriter

AGAIN = 0.05     # outside changes within this are answered by one write


def specs(ref: NftSetRef) -> tuple[SetSpec, SetSpec]:
    return SetSpec(ref.name, "ipv4_addr", True), SetSpec(ref.name6, "ipv6_addr", True)


def desired(ref: NftSetRef, networks: frozenset[Network]) -> dict[SetSpec, frozenset[str]]:
    return {spec: frozenset(str(n) for n in ipaddress.collapse_addresses(
        n for n in networks if n.version == spec.version))   # type: ignore[type-var]
        for spec in specs(ref)}


class NftMirror:
    def __init__(self, ref: NftSetRef, bus: Any, reactor: Any,
                 nft: NftClient | None = None, watch: SetsWatch | None = None) -> None:
        self.ref = ref
        self.reactor = reactor
        self.writer = SetWriter(f"forward blacklist {ref.name}", bus, reactor, nft)
        self.synced = 0
        self._last: Blacklist | None = None
        self._again: IDelayedCall | None = None
        if watch is not None:       # an outside nft change: the last list written again
            self.writer.watch(watch, self._outside_change)

    def _outside_change(self) -> None:
        if self._last is not None and (self._again is None or not self._again.active()):
            last = self._last
            self._again = self.reactor.callLater(AGAIN, lambda: self.sync(last))

    def close(self) -> None:
        """Stop watching nftables (the service or its blacklist_set went away)."""
        self.writer.unwatch()
        if self._again is not None and self._again.active():
            self._again.cancel()

    def sync(self, blacklist: Blacklist) -> defer.Deferred[Any]:
        """Hand the writer the whole blacklist; writes run one after another."""
        self._last = blacklist
        d = self.writer.write(self.ref.family, self.ref.table, True,
                              desired(self.ref, blacklist.networks))
        return d.addCallback(self._written)

    def _written(self, _: object) -> None:
        if not self.writer.failing():
            self.synced += 1

    @property
    def error(self) -> str | None:
        errors = [s.error for s in self.writer.snapshot().values() if s.error is not None]
        return errors[0] if errors else None

    def snapshot(self) -> BlacklistSet:
        return BlacklistSet(f"{self.ref.family} {self.ref.table} {self.ref.name}",
                            self.ref.name6, self.synced, self.error)
