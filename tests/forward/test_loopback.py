"""The forwarder over real loopback sockets (IPv4 and ::1), in process on the real reactor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.logger import ILogObserver

from netsentinel.events import EventBus
from netsentinel.forward import proxyheader
from netsentinel.forward.blacklist import network_of
from netsentinel.forward.config import Limits, Timeouts
from netsentinel.forward.events import (
    BackendFailed,
    ConnectionClosed,
    ConnectionRejected,
)
from netsentinel.forward.listener import Forwarder
from netsentinel.forward.relay import Connection
from tests.forward.peers import (
    BackendFactory,
    Peer,
    connect,
    eventually,
    listen_backend,
    port_of,
    start_forwarder,
)


@attrs.define
class Rig:
    """A backend and forwarders built for one test, all closed afterwards."""

    ports: list[Any] = attrs.Factory(list)
    forwarders: list[Forwarder] = attrs.Factory(list)
    bus: EventBus = attrs.Factory(EventBus)
    events: list[Any] = attrs.Factory(list)

    def backend(self, host: str = "127.0.0.1", echo: bool = True) -> tuple[int, BackendFactory]:
        port, factory = listen_backend(host, echo)
        self.ports.append(port)
        return port.getHost().port, factory

    def forward(self, backend_port: int, **options: Any) -> tuple[Forwarder, int]:
        if not self.forwarders:
            self.bus.subscribe(object, self.events.append)   # type: ignore[type-var]  # every event
        forwarder = start_forwarder(backend_port, bus=self.bus, **options)
        self.forwarders.append(forwarder)
        return forwarder, port_of(forwarder)

    def close(self) -> None:
        pending = [defer.maybeDeferred(f.stopService) for f in self.forwarders]
        pending += [defer.maybeDeferred(p.stopListening) for p in self.ports]
        pytest_twisted.blockon(defer.gatherResults(pending))


@pytest.fixture
def rig() -> Iterator[Rig]:
    built = Rig()
    yield built
    built.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest_twisted.ensureDeferred
async def test_bytes_flow_both_ways_and_are_counted(rig: Rig, host: str) -> None:
    backend_port, _ = rig.backend(host)
    forwarder, port = rig.forward(backend_port, listen=host, backend=host)
    client = await connect(host, port)
    client.tcp.write(b"hello world")
    await eventually(lambda: client.data == b"hello world", what="echo")
    assert forwarder.stats()["up"] == 11 and forwarder.stats()["down"] == 11
    client.tcp.loseConnection()
    await eventually(lambda: not forwarder.connections, what="connection gone")
    stats = forwarder.stats()
    # the backend answers the client's FIN with "bye 11", which is forwarded too
    assert (stats["up"], stats["down"], stats["total_connections"]) == (11, 17, 1)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest_twisted.ensureDeferred
async def test_half_close_delivers_the_reply_sent_after_the_clients_eof(rig: Rig,
                                                                       host: str) -> None:
    backend_port, backends = rig.backend(host, echo=False)
    _, port = rig.forward(backend_port, listen=host, backend=host)
    client = await connect(host, port)
    client.tcp.write(b"x" * 100_000)
    client.tcp.loseWriteConnection()
    await client.done
    assert client.data == b"bye 100000"
    assert client.eof


@pytest_twisted.ensureDeferred
async def test_stats_keep_monconn_field_names_beside_new_ones(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port)
    client = await connect("127.0.0.1", port)
    client.tcp.write(b"abc")
    await eventually(lambda: client.data == b"abc")
    stats = forwarder.stats()
    monconn_types = {"sid": str, "uptime": int, "ips": str, "connections": int,
                     "accessed": int, "up": int, "down": int}   # monconn's Service.Stats()
    assert {k: type(stats[k]) for k in monconn_types} == monconn_types
    assert (stats["ips"], stats["ip_count"], stats["connections"]) == ("127.0.0.1", 1, 1)
    assert forwarder.counters.accessed_at is not None
    assert stats["accessed"] == int(forwarder.counters.accessed_at)
    assert stats["ip_table"] == {"127.0.0.1": {"connections": 1, "up": 3, "down": 3}}
    [conn] = stats["open"]
    assert (conn["client"], conn["up"], conn["down"]) == ("127.0.0.1", 3, 3)


@pytest.mark.parametrize("listen,source,entry", [
    ("127.0.0.1", "127.0.0.2", "127.0.0.2"),
    ("127.0.0.1", "127.0.0.2", "127.0.0.0/24"),
    ("::1", "::1", "::1"),
    ("::", "127.0.0.2", "127.0.0.2"),           # IPv4-mapped client matches its IPv4 entry
])
@pytest_twisted.ensureDeferred
async def test_blacklisted_client_is_closed_before_reaching_the_backend(
        rig: Rig, listen: str, source: str, entry: str) -> None:
    backend_port, backends = rig.backend()
    forwarder, port = rig.forward(backend_port, listen=listen, blacklist=(network_of(entry),))
    target = "::1" if source == "::1" else "127.0.0.1"
    client = await connect(target, port, source)
    client.tcp.write(b"secret")
    await client.done
    assert client.data == b"" and not backends.connections
    assert forwarder.counters.rejected["blacklist"] == 1
    assert any(isinstance(e, ConnectionRejected) and e.reason == "blacklist"
               for e in rig.events)


@pytest_twisted.ensureDeferred
async def test_runtime_reject_closes_open_connections_and_release_readmits(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port)
    first = await connect("127.0.0.1", port, "127.0.0.2")
    first.tcp.write(b"a")
    await eventually(lambda: first.data == b"a")
    assert forwarder.reject(network_of("127.0.0.2"), close=True) == 1
    await first.done
    refused = await connect("127.0.0.1", port, "127.0.0.2")
    await refused.done
    assert forwarder.counters.rejected["blacklist"] == 1
    assert forwarder.release(network_of("127.0.0.2"))
    again = await connect("127.0.0.1", port, "127.0.0.2")
    again.tcp.write(b"b")
    await eventually(lambda: again.data == b"b")


@pytest.mark.parametrize("limits,reason", [
    (Limits(per_ip_limit=1), "per_ip_limit"),
    (Limits(per_ip_rate=0.001), "per_ip_rate"),
    (Limits(conn_limit=1, conn_limit_action="reject"), "conn_limit"),
])
@pytest_twisted.ensureDeferred
async def test_second_connection_beyond_a_limit_is_refused_with_its_reason(
        rig: Rig, limits: Limits, reason: str) -> None:
    backend_port, backends = rig.backend()
    forwarder, port = rig.forward(backend_port, limits=limits)
    first = await connect("127.0.0.1", port)
    first.tcp.write(b"1")
    await eventually(lambda: first.data == b"1")
    second = await connect("127.0.0.1", port)
    await second.done
    assert forwarder.counters.rejected[reason] == 1
    assert sum(forwarder.counters.rejected.values()) == 1
    assert len(backends.connections) == 1


@pytest_twisted.ensureDeferred
async def test_ip_limit_counts_distinct_addresses(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port, limits=Limits(ip_limit=2))
    peers = [await connect("127.0.0.1", port, f"127.0.0.{n}") for n in (1, 1, 2)]
    for peer in peers:
        peer.tcp.write(b"k")
    await eventually(lambda: all(p.data == b"k" for p in peers))
    third_ip = await connect("127.0.0.1", port, "127.0.0.3")
    await third_ip.done
    assert forwarder.counters.rejected["ip_limit"] == 1
    assert forwarder.stats()["ip_count"] == 2


@pytest_twisted.ensureDeferred
async def test_conn_limit_makes_new_clients_wait_until_a_slot_frees(rig: Rig) -> None:
    backend_port, backends = rig.backend()
    forwarder, port = rig.forward(backend_port, limits=Limits(conn_limit=1))
    first = await connect("127.0.0.1", port)
    first.tcp.write(b"1")
    await eventually(lambda: first.data == b"1")
    second = await connect("127.0.0.1", port)     # completes in the kernel's listen queue
    second.tcp.write(b"2")
    await eventually(lambda: forwarder.port not in reactor.getReaders(),
                     what="the port stopped accepting")
    assert len(backends.connections) == 1 and second.data == b""
    first.tcp.loseConnection()
    await eventually(lambda: second.data == b"2", what="second served after the first left")
    assert sum(forwarder.counters.rejected.values()) == 0


@pytest_twisted.ensureDeferred
async def test_backend_down_closes_the_client_and_counts_the_failure(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    await rig.ports.pop().stopListening()          # nothing listens there any more
    forwarder, port = rig.forward(backend_port)
    client = await connect("127.0.0.1", port)
    await client.done
    assert forwarder.counters.backend_failures == 1
    assert any(isinstance(e, BackendFailed) for e in rig.events)
    assert not forwarder.connections


@pytest_twisted.ensureDeferred
async def test_graceful_stop_lets_an_open_connection_finish(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port, timeouts=Timeouts(wait=30))
    client = await connect("127.0.0.1", port)
    client.tcp.write(b"before")
    await eventually(lambda: client.data == b"before")
    stopping = forwarder.stopService()
    await eventually(lambda: forwarder.port is None)
    client.tcp.write(b"+after")
    await eventually(lambda: client.data == b"before+after", what="still forwarding")
    assert not stopping.called
    client.tcp.loseConnection()
    await stopping
    assert forwarder.state == "stopped"


@pytest_twisted.ensureDeferred
async def test_graceful_stop_closes_what_remains_after_wait_timeout(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port, timeouts=Timeouts(wait=0.2))
    client = await connect("127.0.0.1", port)
    client.tcp.write(b"x")
    await eventually(lambda: client.data == b"x")
    await forwarder.stopService()
    await client.done
    assert forwarder.counters.closes["stopped"] == 1


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest_twisted.ensureDeferred
async def test_proxy_header_reaches_the_backend_before_the_data(rig: Rig, version: str,
                                                               host: str) -> None:
    backend_port, backends = rig.backend(host, echo=False)
    _, port = rig.forward(backend_port, listen=host, backend=host, send_proxy=version)
    client = await connect(host, port)
    client.tcp.write(b"payload")
    await eventually(lambda: backends.connections and backends.connections[0].data
                     .endswith(b"payload"))
    local = client.tcp.getHost()
    assert isinstance(local, (IPv4Address, IPv6Address))
    expected = proxyheader.header(version, local.host, local.port, host, port)
    assert backends.connections[0].data == expected + b"payload"
    if version == "v1":
        family = "TCP4" if host == "127.0.0.1" else "TCP6"
        assert expected == (f"PROXY {family} {host} {host} {local.port} {port}\r\n").encode()


@pytest_twisted.ensureDeferred
async def test_short_real_timeout_closes_an_idle_connection(rig: Rig) -> None:
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port, timeouts=Timeouts(max_idle=0.3, wait=0))
    client = await connect("127.0.0.1", port)
    await client.done
    assert forwarder.counters.closes["idle-timeout"] == 1
    closed = [e for e in rig.events if isinstance(e, ConnectionClosed)]
    assert closed[0].reason == "idle-timeout"


@pytest_twisted.ensureDeferred
async def test_print_bytes_logs_a_hex_dump_of_each_chunk(rig: Rig) -> None:
    from twisted.logger import globalLogPublisher
    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(cast(ILogObserver, seen.append))
    try:
        backend_port, _ = rig.backend()
        _, port = rig.forward(backend_port, print_bytes=True)
        client = await connect("127.0.0.1", port)
        client.tcp.write(b"GET /")
        await eventually(lambda: client.data == b"GET /")
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, seen.append))
    lines = [e.get("line") for e in seen if "arrow" in e]
    assert any(line and "47 45 54 20 2f" in line and "|GET /|" in line for line in lines)
    assert {e["arrow"] for e in seen if "arrow" in e} == {"client->backend", "backend->client"}


@pytest_twisted.ensureDeferred
async def test_connections_are_not_logged_by_default(rig: Rig) -> None:
    from twisted.logger import globalLogPublisher
    seen: list[dict[str, Any]] = []
    backend_port, _ = rig.backend()
    _, port = rig.forward(backend_port)
    globalLogPublisher.addObserver(cast(ILogObserver, seen.append))
    try:
        client = await connect("127.0.0.1", port)
        client.tcp.write(b"q")
        await eventually(lambda: client.data == b"q")
        client.tcp.loseConnection()
        await client.done
        await eventually(lambda: not rig.forwarders[0].connections)
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, seen.append))
    ours = [e for e in seen if not e.get("log_namespace", "").startswith(
        "twisted.internet.endpoints")]       # the test client's own factory talks
    assert ours == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest_twisted.ensureDeferred
async def test_megabytes_arrive_intact_and_pipes_are_returned(rig: Rig, host: str) -> None:
    backend_port, _ = rig.backend(host)
    forwarder, port = rig.forward(backend_port, listen=host, backend=host)
    payload = bytes(range(256)) * (8 * 4096)          # 8 MiB, every byte value
    client = await connect(host, port)
    client.tcp.write(payload)
    await eventually(lambda: len(client.data) >= len(payload), what="8 MiB echoed")
    assert client.data == payload
    [conn] = forwarder.connections.values()
    assert isinstance(conn, Connection)
    assert (conn.up, conn.down) == (len(payload), len(payload))
    # a quiet connection holds no pipe: they went back to the pool
    assert all(flow.buffer.pipe is None for flow in conn.flows)
    assert forwarder.pipes._free


@pytest.mark.parametrize("side", ["client", "backend"])
@pytest_twisted.ensureDeferred
async def test_a_reset_on_one_side_closes_the_other_with_its_reason(rig: Rig,
                                                                   side: str) -> None:
    backend_port, backends = rig.backend()
    forwarder, port = rig.forward(backend_port)
    client = await connect("127.0.0.1", port)
    client.tcp.write(b"ping")
    await eventually(lambda: client.data == b"ping")
    [backend] = backends.connections
    (client if side == "client" else backend).tcp.abortConnection()
    await defer.gatherResults([client.done, backend.done])
    await eventually(lambda: not forwarder.connections)
    [closed] = [e for e in rig.events if isinstance(e, ConnectionClosed)]
    assert closed.reason == f"{side}-reset"
    assert (closed.up, closed.down) == (4, 4)


@pytest_twisted.ensureDeferred
async def test_many_clients_get_their_own_bytes_and_nothing_leaks(rig: Rig) -> None:
    import os
    backend_port, _ = rig.backend()
    forwarder, port = rig.forward(backend_port)
    before = len(os.listdir("/proc/self/fd"))
    payloads = [os.urandom(1 + i * 7919 % 300_000) for i in range(60)]
    clients = [await connect("127.0.0.1", port) for _ in payloads]
    for client, payload in zip(clients, payloads, strict=True):
        client.tcp.write(payload)
    for i, (client, payload) in enumerate(zip(clients, payloads, strict=True)):
        def echoed(c: Peer = client, p: bytes = payload) -> bool:
            return len(c.data) >= len(p)
        await eventually(echoed, what=f"client {i} echoed")
        assert client.data == payload
        if i % 3 == 0:
            client.tcp.abortConnection()      # some reset
        elif i % 3 == 1:
            client.tcp.loseWriteConnection()  # some half-close and read the bye
        else:
            client.tcp.loseConnection()
    await defer.gatherResults([c.done for c in clients])
    await eventually(lambda: not forwarder.connections, what="every connection gone")
    assert forwarder.counters.closed == len(payloads)
    await eventually(lambda: len(os.listdir("/proc/self/fd")) <= before + len(
        forwarder.pipes._free) * 2, what="descriptors back to where they were")
