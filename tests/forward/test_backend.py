"""Backends given by name: resolved off the reactor thread, at start and every minute."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock

from netsentinel.forward.backend import REFRESH, RETRY, Backend
from netsentinel.forward.config import Endpoint
from tests.forward.peers import (
    connect,
    eventually,
    listen_backend,
    port_of,
    start_forwarder,
)


class ScriptedResolver:
    """Answers lookups when the test says so.

    A stand-in for the system resolver: a failing or changing DNS answer cannot be
    produced on this machine without sending queries outside it.
    """

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def resolveHostName(self, receiver: Any, host: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        self.pending.append(receiver)
        return receiver

    def answer(self, *addresses: str) -> None:
        receiver = self.pending.pop(0)
        receiver.resolutionBegan(None)
        for address in addresses:
            receiver.addressResolved(IPv4Address("TCP", address, 0))
        receiver.resolutionComplete()


def scripted() -> tuple[MemoryReactorClock, ScriptedResolver, Backend]:
    reactor = MemoryReactorClock()
    resolver = ScriptedResolver()
    reactor.nameResolver = resolver     # type: ignore[assignment]  # a stand-in resolver
    return reactor, resolver, Backend(reactor, Endpoint("app.lan", 8080), "web")


def test_a_failed_lookup_is_reported_and_retried() -> None:
    reactor, resolver, backend = scripted()
    backend.start()
    resolver.answer()                   # no address
    assert backend.address is None and "cannot resolve app.lan" in str(backend.error)
    assert not resolver.pending
    reactor.advance(RETRY)
    resolver.answer("10.0.0.7")
    assert backend.address == ("10.0.0.7", 8080) and backend.error is None


def test_the_name_is_looked_up_again_every_refresh_and_follows_a_change() -> None:
    reactor, resolver, backend = scripted()
    backend.start()
    resolver.answer("10.0.0.7")
    reactor.advance(REFRESH - 1)
    assert not resolver.pending         # no lookup per connection or per second
    reactor.advance(1)
    resolver.answer("10.0.0.8")
    assert backend.address == ("10.0.0.8", 8080)


def test_a_failed_refresh_keeps_the_last_address() -> None:
    reactor, resolver, backend = scripted()
    backend.start()
    resolver.answer("10.0.0.7")
    reactor.advance(REFRESH)
    resolver.answer()
    assert backend.address == ("10.0.0.7", 8080) and backend.error is not None


def test_an_answer_arriving_after_stop_is_ignored() -> None:
    reactor, resolver, backend = scripted()
    backend.start()
    backend.stop()
    resolver.answer("10.0.0.7")
    assert backend.address is None
    reactor.advance(REFRESH * 2)
    assert not resolver.pending


def test_an_ip_address_needs_no_lookup() -> None:
    reactor = MemoryReactorClock()
    backend = Backend(reactor, Endpoint("192.0.2.1", 80), "web")
    backend.start()
    assert backend.address == ("192.0.2.1", 80)
    assert not reactor.getDelayedCalls()


@pytest_twisted.ensureDeferred
async def test_a_backend_named_localhost_is_forwarded_to() -> None:
    port, factory = listen_backend("::")        # whichever family localhost gives first
    forwarder = start_forwarder(port.getHost().port, backend="localhost")
    try:
        await eventually(lambda: forwarder.backend.address is not None, what="lookup")
        client = await connect("127.0.0.1", port_of(forwarder))
        client.tcp.write(b"by name")
        await eventually(lambda: client.data == b"by name", what="echo through localhost")
        assert forwarder.stats()["backend_address"]["address"] in ("127.0.0.1", "::1")
        client.tcp.loseConnection()
    finally:
        await forwarder.stopService()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_connection_before_the_name_is_known_fails_fast_with_the_reason() -> None:
    port, _ = listen_backend()
    forwarder = start_forwarder(port.getHost().port, backend="localhost")
    forwarder.backend.stop()                    # as if the lookup had not answered yet
    forwarder.backend.address = None
    try:
        client = await connect("127.0.0.1", port_of(forwarder))
        await client.done
        assert forwarder.counters.backend_failures == 1
        assert forwarder.counters.closes["backend-failed"] == 1
    finally:
        await forwarder.stopService()
        await port.stopListening()
