"""RFC 2136 dynamic update signed with TSIG (RFC 8945), for one's own zone on BIND,
Knot, PowerDNS or any primary that takes updates.

dnspython builds and signs the messages and checks the reply's signature; they go
over TCP through the reactor (a DNS message framed by its length, RFC 1035 4.2.2).
The record sets are read first (unsigned): hosts already at the address are
``nochg``; the others are replaced, all in one UPDATE (delete the RRset, add the
address with ``ttl``), so the zone never holds a half-done change.
"""

from __future__ import annotations

import struct
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
from twisted.internet import defer, endpoints, protocol

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    TEMPORARY,
    HostResult,
    Refused,
    family_of,
    good,
    nochg,
)

RCODES = {
    dns.rcode.NOTAUTH: ("badauth", PERMANENT, "the server refused the TSIG key (NOTAUTH)"),
    dns.rcode.REFUSED: ("refused", PERMANENT, "the server refuses this update (REFUSED): "
                        "check its update policy for the key and the zone"),
    dns.rcode.NOTZONE: ("nohost", PERMANENT, "the host name is not in the zone (NOTZONE)"),
    dns.rcode.NXDOMAIN: ("nohost", PERMANENT, "the zone does not exist there (NXDOMAIN)"),
    dns.rcode.SERVFAIL: ("servfail", TEMPORARY, "the server failed (SERVFAIL)"),
}
DEFAULT_TTL = 60


class _Exchange(protocol.Protocol):
    """Sends one length-framed DNS message and fires with the one reply."""

    def __init__(self, wire: bytes, done: defer.Deferred[bytes]) -> None:
        self.wire, self.done, self.buffer = wire, done, b""

    def connectionMade(self) -> None:
        self.transport.write(struct.pack("!H", len(self.wire)) + self.wire)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= 2:
            size = struct.unpack("!H", self.buffer[:2])[0]
            if len(self.buffer) >= 2 + size and not self.done.called:
                self.done.callback(self.buffer[2:2 + size])
                self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.errback(Refused("network", TEMPORARY, "the server closed the connection "
                                      "without a reply"))


@defer.inlineCallbacks
def exchange(reactor: Any, config: UpdateConfig, timeout: float, message: Any) -> Any:
    """Send ``message``; fires with the reply, its TSIG checked if the query had one."""
    done: defer.Deferred[bytes] = defer.Deferred()
    endpoint = endpoints.HostnameEndpoint(reactor, config.server, config.port, timeout=timeout)
    try:
        yield endpoints.connectProtocol(endpoint, _Exchange(message.to_wire(), done))
        wire = yield done.addTimeout(timeout, reactor)
    except defer.TimeoutError:
        raise Refused("network", TEMPORARY, f"no reply in {timeout}s") from None
    except Refused:
        raise
    except Exception as e:  # noqa: BLE001 - connection refused, unreachable: try later
        raise Refused("network", TEMPORARY, f"{type(e).__name__}: {e}") from None
    try:
        return dns.message.from_wire(wire, keyring=message.keyring,
                                     request_mac=message.mac if message.had_tsig else b"")
    except dns.tsig.PeerError as e:
        raise Refused("badauth", PERMANENT, f"the server refused the TSIG key "
                      f"({type(e).__name__})") from None
    except dns.exception.DNSException as e:
        raise Refused("badreply", TEMPORARY, f"a reply dnspython cannot read: {e}") from None


def keyring(config: UpdateConfig) -> dict[Any, Any]:
    name = config.key_name or ""
    return {dns.name.from_text(name): dns.tsig.Key(name, config.password, config.algorithm)}


@defer.inlineCallbacks
def current(reactor: Any, config: UpdateConfig, timeout: float, host: str, kind: str) -> Any:
    """The addresses the primary has for ``host`` now."""
    reply = yield exchange(reactor, config, timeout, dns.message.make_query(host, kind))
    return sorted(str(r) for rrset in reply.answer for r in rrset
                  if rrset.rdtype == dns.rdatatype.from_text(kind))


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    kind = "A" if family_of(address) == 4 else "AAAA"
    due: list[str] = []
    try:
        for host in hostnames:
            if (yield current(reactor, config, timeout, host, kind)) != [address]:
                due.append(host)
        if due:
            message = dns.update.UpdateMessage(config.zone, keyring=keyring(config))
            for host in due:
                message.replace(f"{host}.", config.ttl or DEFAULT_TTL, kind, address)
            reply = yield exchange(reactor, config, timeout, message)
            code = reply.rcode()
            if code != dns.rcode.NOERROR:
                word, kind_, detail = RCODES.get(code, (
                    dns.rcode.to_text(code).lower(), PERMANENT,
                    f"the server answered {dns.rcode.to_text(code)}"))
                return [HostResult(h, word, kind_, detail) if h in due else nochg(h)
                        for h in hostnames]
    except Refused as e:
        return [e.result(h) for h in hostnames]
    return [good(h) if h in due else nochg(h) for h in hostnames]
