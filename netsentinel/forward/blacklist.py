"""IP/CIDR blacklists matched in constant time per prefix length.

A lookup masks the client address once per prefix length present and looks
the result up in a set, so a list of thousands of entries costs what a list of
a few does.  IPv4-mapped IPv6 clients (``::ffff:a.b.c.d``) match IPv4 entries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import attrs

from netsentinel.forward.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(host: str) -> Address:
    """The address a rule should see: IPv4-mapped IPv6 becomes plain IPv4."""
    address = ipaddress.ip_address(host.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize(network: Network) -> Network:
    """``::ffff:1.2.3.0/120`` is the IPv4 network ``1.2.3.0/24``."""
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped \
            and network.prefixlen >= 96:
        return ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


@attrs.frozen
class Blacklist:
    networks: frozenset[Network] = frozenset()
    _index: dict[int, tuple[tuple[int, frozenset[int]], ...]] = attrs.field(
        init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        index: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        for network in self.networks:
            index[network.version].setdefault(network.prefixlen, set()).add(
                int(network.network_address))
        bits = {4: 32, 6: 128}
        object.__setattr__(self, "_index", {
            version: tuple(sorted((bits[version] - plen, frozenset(values))
                                  for plen, values in by_len.items()))
            for version, by_len in index.items()})

    @classmethod
    def of(cls, networks: Iterable[Network]) -> Blacklist:
        return cls(frozenset(normalize(n) for n in networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: Address) -> bool:
        value = int(address)
        return any((value >> shift) << shift in values
                   for shift, values in self._index[address.version])

    def sorted(self) -> list[str]:
        return [str(n) for n in sorted(self.networks, key=lambda n: (n.version, n))]


def network_of(text: str) -> Network:
    """A ``reject``/``release`` argument: an IP or a CIDR network."""
    return ipaddress.ip_network(text, strict=False)


class Entries:
    """A service's blacklist: the configured entries with the runtime edits on top.

    ``reject`` adds a network until the daemon stops; ``release`` takes one off,
    a configured one included, and a reload keeps both kinds of edit.
    """

    def __init__(self, configured: Iterable[Network]) -> None:
        self.added: set[Network] = set()         # runtime ``reject``
        self.released: set[Network] = set()      # runtime ``release`` of configured entries
        self.configure(configured)

    def configure(self, configured: Iterable[Network]) -> None:
        """Adopt the configured entries (a reload), keeping the runtime edits."""
        self.configured = frozenset(normalize(n) for n in configured)
        self._changed()

    def _changed(self) -> None:
        self.current = Blacklist(frozenset((self.configured - self.released) | self.added))

    def reject(self, network: Network) -> Network:
        """Blacklist ``network`` (normalized, as returned)."""
        network = normalize(network)
        self.added.add(network)
        self.released.discard(network)
        self._changed()
        return network

    def release(self, network: Network) -> bool:
        """Take ``network`` off the blacklist; False when it was not on it."""
        network = normalize(network)
        if network not in self.current.networks:
            return False
        self.added.discard(network)
        if network in self.configured:
            self.released.add(network)
        self._changed()
        return True
