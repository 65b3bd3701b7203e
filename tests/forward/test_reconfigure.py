"""Reload of the whole forward section: in place where possible, rebuilt where not."""

from __future__ import annotations

import attrs
import pytest_twisted
from twisted.internet import defer, reactor

from netsentinel.events import EventBus
from netsentinel.features import Context
from netsentinel.forward.config import (
    Endpoint,
    ForwardConfig,
    Limits,
    ServiceConfig,
    Timeouts,
)
from netsentinel.forward.service import Forwarding
from tests.forward.peers import connect, eventually, listen_backend, port_of


def service(name: str, backend: int, port: int = 0) -> ServiceConfig:
    return ServiceConfig(name, Endpoint("127.0.0.1", port), Endpoint("127.0.0.1", backend),
                         timeouts=Timeouts(wait=5))


@pytest_twisted.ensureDeferred
async def test_reload_keeps_adopts_rebuilds_and_removes_services() -> None:
    backend, _ = listen_backend()
    target = backend.getHost().port
    feature = Forwarding(ForwardConfig((service("kept", target), service("moved", target),
                                        service("gone", target))),
                         Context(reactor, EventBus(), None))   # type: ignore[arg-type]
    feature.startService()
    try:
        kept, moved = feature.forwarders["kept"], feature.forwarders["moved"]
        client = await connect("127.0.0.1", port_of(kept))
        client.tcp.write(b"1")
        await eventually(lambda: client.data == b"1")
        new = ForwardConfig((
            attrs.evolve(kept.config, limits=Limits(per_ip_limit=1)),
            attrs.evolve(moved.config, listen=Endpoint("127.0.0.1", port_of(moved) + 0),
                         backlog=7),
            service("added", target)))
        assert feature.reconfigure(new)
        assert feature.forwarders["kept"] is kept and kept.limiter.limits.per_ip_limit == 1
        client.tcp.write(b"2")
        await eventually(lambda: client.data == b"12", what="kept connection still served")
        await eventually(lambda: "moved" in feature.forwarders
                         and feature.forwarders["moved"] is not moved, what="moved rebuilt")
        assert feature.forwarders["moved"].config.backlog == 7
        assert set(feature.forwarders) == {"kept", "moved", "added"}
        assert {s.name for s in feature.services} == {"kept", "moved", "added"}
        other = await connect("127.0.0.1", port_of(feature.forwarders["added"]))
        other.tcp.write(b"3")
        await eventually(lambda: other.data == b"3")
        other.tcp.loseConnection()
        client.tcp.loseConnection()
    finally:
        await defer.maybeDeferred(feature.stopService)
        await backend.stopListening()
