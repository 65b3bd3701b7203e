"""Host names to addresses without blocking the reactor.

Twisted's name resolver runs ``getaddrinfo`` in the reactor's thread pool; this
wraps its receiver interface into a Deferred of address strings.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostResolution, IResolutionReceiver
from zope.interface import implementer

FAMILIES = {4: IPv4Address, 6: IPv6Address}


@implementer(IResolutionReceiver)
class _Collector:
    def __init__(self) -> None:
        self.done: defer.Deferred[list[str]] = defer.Deferred()
        self.found: list[str] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        if address.host not in self.found:
            self.found.append(address.host)

    def resolutionComplete(self) -> None:
        self.done.callback(self.found)


def resolve(reactor: Any, host: str, versions: tuple[int, ...] = (4, 6)
            ) -> defer.Deferred[list[str]]:
    """The addresses of ``host`` (of the given IP versions) in resolver order; an IP
    address is its own answer, at once."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        collector = _Collector()
        reactor.nameResolver.resolveHostName(
            collector, host, addressTypes=[FAMILIES[v] for v in versions])
        return collector.done
    return defer.succeed([str(address)] if address.version in versions else [])
