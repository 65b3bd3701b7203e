"""Address lookups at one given DNS server through twisted.names (never the system resolver)."""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import defer
from twisted.names import client, dns


class DnsQuerier:
    """Asks ``server`` for A or AAAA records; the answer is a list of addresses."""

    def __init__(self, reactor: Any, server: str, port: int = 53, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.resolver = client.Resolver(servers=[(server, port)], reactor=reactor)

    def addresses(self, name: str, family: int = 4) -> defer.Deferred[list[str]]:
        if family == 4:
            d = self.resolver.lookupAddress(name, timeout=(self.timeout,))
        else:
            d = self.resolver.lookupIPV6Address(name, timeout=(self.timeout,))
        found: defer.Deferred[list[str]] = d.addCallback(_addresses)
        return found

    def texts(self, name: str, chaos: bool = True) -> defer.Deferred[list[str]]:
        """The TXT strings of ``name`` (class CH by default: ``whoami.cloudflare``)."""
        query = dns.Query(name, dns.TXT, dns.CH if chaos else dns.IN)
        d = self.resolver.queryUDP([query], timeout=(self.timeout,))
        found: defer.Deferred[list[str]] = d.addCallback(_texts)
        return found


def _texts(message: Any) -> list[str]:
    return [b"".join(r.payload.data).decode("ascii", "replace") for r in message.answers
            if r.type == dns.TXT]


def _addresses(result: tuple[list[Any], list[Any], list[Any]]) -> list[str]:
    out = []
    for record in result[0]:
        if record.type == dns.A:
            out.append(record.payload.dottedQuad())
        elif record.type == dns.AAAA:
            out.append(socket.inet_ntop(socket.AF_INET6, record.payload.address))
    return out
