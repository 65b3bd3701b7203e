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


class SourceError(Exception):
    """This source gave no usable address; the message says why."""


def validate(text: str, family: int, accept_private: bool) -> str:
    """The address in ``text`` if it may be published, else SourceError."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise SourceError(f"not an IP address: {text.strip()[:60]!r}") from None
    if address.version != family:
        raise SourceError(f"{address} is not IPv{family}")
    if (address.is_loopback or address.is_unspecified or address.is_multicast
            or address.is_link_local or address.is_reserved):
        raise SourceError(f"{address} is not a usable address")
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
    """Asks each source of one ddns instance, in order, for the external address."""

    def __init__(self, reactor: Any, config: DdnsConfig,
                 interface_addresses: Callable[[str, int], list[str]]) -> None:
        self.reactor = reactor
        self.config = config
        self.interface_addresses = interface_addresses
        self._dns: dict[tuple[str, int], DnsQuerier] = {}

    @defer.inlineCallbacks
    def first(self) -> Any:
        """Fire with (address or None, [(source, reason) for each source that failed])."""
        failures: list[tuple[str, str]] = []
        for source in self.config.sources:
            try:
                text = yield self.ask(source).addTimeout(self.config.timeout, self.reactor)
                return validate(text, self.config.family, self.config.accept_private), failures
            except defer.TimeoutError:
                failures.append((source.describe(), f"no answer in {self.config.timeout}s"))
            except SourceError as e:
                failures.append((source.describe(), str(e)))
            except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors are a failed source
                failures.append((source.describe(), error_reason(e)))
        return None, failures

    def ask(self, source: Source) -> defer.Deferred[str]:
        if isinstance(source, UrlSource):
            return self._http(source)
        if isinstance(source, DnsSource):
            return self._query(source)
        assert isinstance(source, InterfaceSource)
        return defer.maybeDeferred(self._interface, source)

    @defer.inlineCallbacks
    def _http(self, source: UrlSource) -> Any:
        code, body = yield fetch(self.reactor, source.url, self.config.family, source.ca,
                                 {b"User-Agent": [b"netsentinel"]})
        if code != 200:
            raise SourceError(f"HTTP {code}")
        if len(body) > BODY_LIMIT:
            raise SourceError("reply is too long to be an address")
        return body.decode("ascii", "replace")

    @defer.inlineCallbacks
    def _query(self, source: DnsSource) -> Any:
        key = (source.server, source.port)
        if key not in self._dns:
            self._dns[key] = DnsQuerier(self.reactor, source.server, source.port,
                                        self.config.timeout)
        found = yield self._dns[key].addresses(source.name, self.config.family)
        if not found:
            raise SourceError(f"no IPv{self.config.family} record for {source.name}")
        return found[0]

    def _interface(self, source: InterfaceSource) -> str:
        for address in self.interface_addresses(source.interface, self.config.family):
            try:
                return validate(address, self.config.family, self.config.accept_private)
            except SourceError:
                continue
        raise SourceError(f"{source.interface} has no usable IPv{self.config.family} address")


def error_reason(error: Exception) -> str:
    """One readable line for errors that wrap others (TLS failures come as lists)."""
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(r.getErrorMessage() for r in reasons)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
