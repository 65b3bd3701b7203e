"""Sticky connections: each connection's uplink in its conntrack mark (``inet netsentinel``).

The first packet of a connection leaving by an uplink (or arriving on it: a
port-forward) stores the uplink's mark in the connection's ct mark; every later
packet of it gets that mark restored into its fwmark before routing, and the
uplink's ``fwmark`` rule sends it through the uplink's own table.  So changing
the weights or the live uplinks of a multipath route moves only new
connections.  The chains are this instance's own (``failover_NAME_*``) in the
table ``inet netsentinel``; nothing in any other table is touched.  Blocking
(libnftables): run it in the thread pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

TABLE = "netsentinel"
MARK_SHIFT = 16
MARK_MASK = 0xFF << MARK_SHIFT        # connmark/fwmark bits 16..23 are the uplink's number


def mark_of(position: int) -> int:
    """The mark of the uplink at ``position`` (0-based) in its instance."""
    return (position + 1) << MARK_SHIFT


@attrs.frozen
class Sticky:
    """One instance's marks: (interface, mark) per uplink."""

    instance: str
    marks: tuple[tuple[str, int], ...]

    def chains(self) -> list[str]:
        base = f"failover_{self.instance}".replace("-", "_").replace(".", "_")
        return [f"{base}_pre", f"{base}_post", f"{base}_out"]

    def script(self) -> str:
        """The nft text that (re)creates this instance's chains in one transaction."""
        pre, post, out = self.chains()
        mask = f"0x{MARK_MASK:08x}"
        restore = f"ct mark and {mask} != 0 meta mark set ct mark and {mask}"
        hooks = {pre: "filter hook prerouting", post: "filter hook postrouting",
                 out: "route hook output"}
        rules = [(pre, f'ct mark and {mask} == 0 iifname "{ifname}" ct mark set ct mark or '
                       f"0x{mark:08x}") for ifname, mark in self.marks]
        rules += [(post, f'ct mark and {mask} == 0 oifname "{ifname}" ct mark set ct mark or '
                         f"0x{mark:08x}") for ifname, mark in self.marks]
        rules += [(pre, restore), (out, restore)]
        lines = [f"add table inet {TABLE}"]
        lines += [f"add chain inet {TABLE} {c} {{ type {h} priority mangle; }}"
                  for c, h in hooks.items()]
        lines += [f"flush chain inet {TABLE} {c}" for c in hooks]
        lines += [f"add rule inet {TABLE} {c} {rule}" for c, rule in rules]
        return "\n".join(lines) + "\n"


class StickyRules:
    """Writes and removes one instance's chains with libnftables (its own context)."""

    def __init__(self) -> None:
        self._nft: Any = None

    def _cmd(self, text: str) -> None:
        if self._nft is None:
            import nftables  # the Debian binding, imported at first use
            self._nft = nftables.Nftables()
        rc, _, error = self._nft.cmd(text)
        if rc != 0:
            raise RuntimeError(f"nft: {error.strip().splitlines()[0] if error else rc}")

    def listed(self, chains: Sequence[str]) -> bool:
        """True if all of ``chains`` exist (an admin's flush of the table removes them)."""
        if self._nft is None:
            return False
        for chain in chains:
            rc, _, _ = self._nft.cmd(f"list chain inet {TABLE} {chain}")
            if rc != 0:
                return False
        return True

    def write(self, sticky: Sticky) -> None:
        self._cmd(sticky.script())

    def remove(self, sticky: Sticky) -> None:
        for chain in sticky.chains():
            try:
                self._cmd(f"delete chain inet {TABLE} {chain}")
            except RuntimeError:
                pass            # never made, or removed by an admin already
