"""The blacklist mirrored into nft sets, so the kernel drops those clients before accept.

Each sync is one transaction built from the whole blacklist (declare the sets,
flush them, add every element), so the sets are never seen half-filled and a
set flushed by hand is repaired by the next change or ``forward sync``.
IPv4 entries go to ``NAME``, IPv6 entries to ``NAME6``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.logger import Logger

from netsentinel.forward.blacklist import Blacklist
from netsentinel.forward.config import Network, NftSetRef
from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.elements import network_element

log = Logger()


def transaction(ref: NftSetRef, networks: frozenset[Network]) -> list[dict[str, Any]]:
    """Declare, flush and fill both sets; overlapping entries are merged first."""
    commands: list[dict[str, Any]] = [
        {"add": {"table": {"family": ref.family, "name": ref.table}}}]
    for name, kind, version in ((ref.name, "ipv4_addr", 4), (ref.name6, "ipv6_addr", 6)):
        where = {"family": ref.family, "table": ref.table, "name": name}
        commands.append({"add": {"set": {**where, "type": kind, "flags": ["interval"]}}})
        commands.append({"flush": {"set": where}})
        merged = list(ipaddress.collapse_addresses(
            n for n in networks if n.version == version))   # type: ignore[type-var]
        if merged:
            commands.append({"add": {"element": {**where,
                                                 "elem": [network_element(n) for n in merged]}}})
    return commands


class NftMirror:
    def __init__(self, ref: NftSetRef, nft: NftClient | None = None) -> None:
        self.ref = ref
        self.nft = nft or NftClient()
        self.error: str | None = None
        self.synced = 0

    def sync(self, blacklist: Blacklist) -> None:
        try:
            self.nft.transaction(transaction(self.ref, blacklist.networks))
        except NftError as e:
            self.error = str(e)
            log.error("forward: blacklist set {family} {table} {name} not synced: {error}",
                      family=self.ref.family, table=self.ref.table, name=self.ref.name,
                      error=self.error)
            return
        self.error = None
        self.synced += 1

    def status(self) -> dict[str, Any]:
        return {"set": f"{self.ref.family} {self.ref.table} {self.ref.name}",
                "set6": self.ref.name6, "synced": self.synced, "error": self.error}
