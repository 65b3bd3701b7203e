"""Where the external address comes from: HTTP(S) echo services, DNS, an interface.

An answer is accepted only if it is one address of the wanted family that is
public (or private when the instance allows it); anything else is a failure of
that source, so the next one is asked and a wrong address is never published.
HTTPS certificates are checked against the URL's hostname (service_identity).
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, endpoints, protocol, ssl
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from netsentinel.checks.config import (
    DdnsConfig,
    DnsSource,
    InterfaceSource,
    Source,
    UrlSource,
)
from netsentinel.checks.dns import DnsQuerier
from netsentinel.resolve import resolve

BODY_LIMIT = 512
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# never an external address, whatever accept_private says (RFC 5737, RFC 3849, RFC 9637)
DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"))


class SourceError(Exception):
    """This source gave no usable address; the message says why."""


def validate(text: str, family: int, accept_private: bool, reject: tuple[Any, ...] = ()) -> str:
    """The address in ``text`` if it may be published, else SourceError: never loopback,
    link-local, multicast, reserved or documentation, nor a ``reject`` network; private
    and CGNAT only with ``accept_private`` (a lab, or a network behind another NAT)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise SourceError(f"not an IP address: {text.strip()[:60]!r}") from None
    if address.version != family:
        raise SourceError(f"{address} is not IPv{family}")
    if (address.is_loopback or address.is_unspecified or address.is_multicast
            or address.is_link_local or address.is_reserved
            or any(address in n for n in DOCUMENTATION)):
        raise SourceError(f"{address} is not a usable address")
    for network in reject:
        if address.version == network.version and address in network:
            raise SourceError(f"{address} is in rejected {network}")
    if not accept_private and (not address.is_global or address in CGNAT):
        raise SourceError(f"{address} is private (accept_private is off)")
    return str(address)


class _Body(protocol.Protocol):
    """Collects a reply body; past ``limit`` it stops reading and fires with what it has
    (longer than ``limit``, so the caller can tell)."""

    def __init__(self, done: defer.Deferred[bytes], limit: int) -> None:
        self.done = done
        self.limit = limit
        self.data = b""

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > self.limit:
            self.transport.stopProducing()    # type: ignore[union-attr]
            if not self.done.called:
                self.done.callback(self.data)

    def connectionLost(self, reason: Any = None) -> None:
        if self.done.called:
            return
        if reason is None or reason.check(ResponseDone):
            self.done.callback(self.data)
        else:
            self.done.errback(SourceError(f"reply cut short: {reason.getErrorMessage()}"))


@defer.inlineCallbacks
def fetch(reactor: Any, url: str, family: int | None, ca: str | None,
          headers: dict[bytes, list[bytes]], limit: int = BODY_LIMIT,
          method: bytes = b"GET", body: bytes | None = None) -> Any:
    """GET (or ``method``, sending ``body``) ``url`` over ``family`` with verified TLS:
    fires with (HTTP code, body), the body cut after ``limit`` bytes.

    The one HTTP client of the checks: echo sources and provider updates both use it.
    """
    agent = Agent.usingEndpointFactory(reactor, FamilyEndpoints(reactor, family, ca))
    producer = None if body is None else FileBodyProducer(io.BytesIO(body))
    response = yield agent.request(method, url.encode(), Headers(headers), producer)
    done: defer.Deferred[bytes] = defer.Deferred()
    response.deliverBody(_Body(done, limit))
    body = yield done
    return response.code, body


@implementer(IAgentEndpointFactory)
class FamilyEndpoints:
    """Connects over one address family, so the echo service sees the address we ask about
    (``family`` None: over any, as a browser would)."""

    def __init__(self, reactor: Any, family: int | None, ca: str | None) -> None:
        self.reactor = reactor
        self.families = (4, 6) if family is None else (family,)
        self.ca = ca

    def endpointForURI(self, uri: Any) -> Any:
        return _DeferredEndpoint(self._endpoint(uri.host.decode(), uri.port,
                                                uri.scheme == b"https"))

    @defer.inlineCallbacks
    def _endpoint(self, host: str, port: int, tls: bool) -> Any:
        endpoint: IStreamClientEndpoint
        if len(self.families) > 1:      # any family: happy eyeballs over all addresses
            endpoint = endpoints.HostnameEndpoint(self.reactor, host, port, timeout=10)
        else:
            address = yield self._resolve(host)
            kind = (endpoints.TCP4ClientEndpoint if self.families == (4,)
                    else endpoints.TCP6ClientEndpoint)
            endpoint = kind(self.reactor, address, port, timeout=10)
        if tls:
            trust = ssl.platformTrust() if self.ca is None else _load_ca(self.ca)
            endpoint = endpoints.wrapClientTLS(ssl.optionsForClientTLS(host, trustRoot=trust),
                                               endpoint)
        return endpoint

    @defer.inlineCallbacks
    def _resolve(self, host: str) -> Any:
        found = yield resolve(self.reactor, host, self.families)
        if not found:
            raise SourceError(f"{host} has no IPv{self.families[0]} address")
        return found[0]


def _load_ca(path: str) -> ssl.Certificate:
    with open(path, "rb") as f:
        return ssl.Certificate.loadPEM(f.read())


class _DeferredEndpoint:
    """An endpoint known only once the host name is resolved."""

    def __init__(self, endpoint: defer.Deferred[Any]) -> None:
        self.endpoint = endpoint

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        return self.endpoint.addCallback(lambda e: e.connect(factory))


class AddressSources:
    """Asks the sources of one ddns instance for the external address of one family.

    With ``agree: 1`` the sources are asked in order and the first usable answer is
    taken. With ``agree: N`` all are asked at once and an address is taken only when
    N of them report it, so one lying or captive echo service cannot move the name.
    """

    def __init__(self, reactor: Any, config: DdnsConfig,
                 interface_addresses: Callable[[str, int], list[str]]) -> None:
        self.reactor = reactor
        self.config = config
        self.interface_addresses = interface_addresses
        self._dns: dict[tuple[str, int], DnsQuerier] = {}
        self.votes: dict[str, tuple[str, ...]] = {}     # address: the sources that said it

    @defer.inlineCallbacks
    def first(self, family: int | None = None) -> Any:
        """Fire with (address or None, [(source, reason) for each source that failed])."""
        family = family or self.config.families[0]
        failures: list[tuple[str, str]] = []
        if self.config.agree > 1:
            return (yield self._agreed(family, failures)), failures
        for source in self.config.sources:
            found = yield self._one(source, family, failures)
            if found is not None:
                self.votes = {found: (source.describe(),)}
                return found, failures
        return None, failures

    @defer.inlineCallbacks
    def _agreed(self, family: int, failures: list[tuple[str, str]]) -> Any:
        answers = yield defer.gatherResults(
            [self._one(source, family, failures) for source in self.config.sources])
        votes: dict[str, list[str]] = {}
        for source, found in zip(self.config.sources, answers, strict=True):
            if found is not None:
                votes.setdefault(found, []).append(source.describe())
        self.votes = {a: tuple(who) for a, who in votes.items()}
        ranked = sorted(votes.items(), key=lambda item: -len(item[1]))
        if len(ranked) > 1:
            failures.append(("agree", "sources disagree: " + "; ".join(
                f"{a} from {', '.join(who)}" for a, who in ranked)))
        if ranked and len(ranked[0][1]) >= self.config.agree and (
                len(ranked) == 1 or len(ranked[1][1]) < len(ranked[0][1])):
            return ranked[0][0]
        if ranked:
            failures.append(("agree", f"no address reported by {self.config.agree} sources"))
        return None

    @defer.inlineCallbacks
    def _one(self, source: Source, family: int, failures: list[tuple[str, str]]) -> Any:
        """The source's address, or None with its failure recorded."""
        config = self.config
        try:
            text = yield self.ask(source, family).addTimeout(config.timeout, self.reactor)
            return validate(text, family, config.accept_private, config.reject)
        except defer.TimeoutError:
            failures.append((source.describe(), f"no answer in {config.timeout}s"))
        except SourceError as e:
            failures.append((source.describe(), str(e)))
        except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors are a failed source
            failures.append((source.describe(), error_reason(e)))
        return None

    def ask(self, source: Source, family: int) -> defer.Deferred[str]:
        if isinstance(source, UrlSource):
            return self._http(source, family)
        if isinstance(source, DnsSource):
            return self._query(source, family)
        assert isinstance(source, InterfaceSource)
        return defer.maybeDeferred(self._interface, source, family)

    @defer.inlineCallbacks
    def _http(self, source: UrlSource, family: int) -> Any:
        code, body = yield fetch(self.reactor, source.url, family, source.ca,
                                 {b"User-Agent": [b"netsentinel"]})
        if code != 200:
            raise SourceError(f"HTTP {code}")
        if len(body) > BODY_LIMIT:
            raise SourceError("reply is too long to be an address")
        return body.decode("ascii", "replace")

    @defer.inlineCallbacks
    def _query(self, source: DnsSource, family: int) -> Any:
        """Asked over ``family`` (the server of that family): the answer is the address
        the query came from."""
        key = (source.server_for(family), source.port)
        if key not in self._dns:
            self._dns[key] = DnsQuerier(self.reactor, key[0], source.port, self.config.timeout)
        querier = self._dns[key]
        if source.txt:
            found = yield querier.texts(source.name)
        else:
            found = yield querier.addresses(source.name, family)
        if not found:
            raise SourceError(f"no {'TXT' if source.txt else f'IPv{family}'} record for "
                              f"{source.name}")
        return found[0]

    def _interface(self, source: InterfaceSource, family: int) -> str:
        for address in self.interface_addresses(source.interface, family):
            try:
                return validate(address, family, self.config.accept_private, self.config.reject)
            except SourceError:
                continue
        raise SourceError(f"{source.interface} has no usable IPv{family} address")


def error_reason(error: Exception) -> str:
    """One readable line for errors that wrap others (TLS failures come as lists)."""
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(r.getErrorMessage() for r in reasons)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
