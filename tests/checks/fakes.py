"""Test doubles for the checks: a channel without sockets, an engine and netlink in memory."""

from __future__ import annotations

import collections
from typing import Any

from twisted.internet import defer

from netsentinel.checks.icmp import Binding, Reply
from netsentinel.checks.routes import Route
from netsentinel.checks.stats import ProbeResult


class FakeChannel:
    """Records what is sent; replies are queued by the test and read by ``doRead``."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.sent: list[tuple[str, int, int]] = []
        self.inbox: collections.deque[Reply | None] = collections.deque()
        self.closed = False
        self.refuse = False

    def fileno(self) -> int:
        return -1

    def send(self, destination: str, ident: int, sequence: int) -> None:
        if self.refuse:
            raise OSError("Network is unreachable")
        self.sent.append((destination, ident, sequence))

    def receive(self) -> Reply | None:
        if not self.inbox:
            raise BlockingIOError
        return self.inbox.popleft()

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Answers pings from a table: target -> alive (missing targets are dead).

    ``replies`` (``target%interface`` -> RTTs in ms) takes precedence: each listed RTT
    is one reply, the rest of the ``count`` packets are lost (loss and latency).
    """

    def __init__(self) -> None:
        self.alive: dict[str, bool] = {}
        self.replies: dict[str, tuple[float, ...]] = {}
        self.calls: list[tuple[str, str | None]] = []

    def ping(self, target: str, count: int, wait: float, spacing: float = 0.2,
             interface: str | None = None, source: str | None = None
             ) -> defer.Deferred[ProbeResult]:
        self.calls.append((target, interface))
        key = f"{target}%{interface}" if f"{target}%{interface}" in self.alive else target
        rtts = (1.0,) * count if self.alive.get(key) else ()
        rtts = self.replies.get(f"{target}%{interface}", rtts)[:count]
        return defer.succeed(ProbeResult(target, count, rtts))


class FakeNetlink:
    """Default routes and addresses in memory, with rtnetlink's replace semantics."""

    def __init__(self) -> None:
        self.links = {"eth1": 2, "eth2": 3}
        self.addrs: dict[str, list[str]] = {"eth1": ["192.168.42.2"], "eth2": []}
        self.routes: list[Route] = []       # IPv4
        self.routes6: list[Route] = []
        self.history: list[list[Route]] = []
        self.probe_routes: list[tuple[str, str, int, int]] = []

    def index(self, ifname: str) -> int | None:
        return self.links.get(ifname)

    def addresses(self, ifname: str, family: int = 4) -> list[str]:
        return list(self.addrs.get(ifname, []))

    def table(self, family: int) -> list[Route]:
        return self.routes if family == 4 else self.routes6

    def default_routes(self, metric: int, table: int = 254, family: int = 4) -> list[Route]:
        return list(self.table(family))

    def replace_default(self, gateway: str, oif: int, metric: int, table: int = 254,
                        family: int = 4) -> None:
        self.table(family)[:1] = [Route(gateway, oif)]
        self.history.append(list(self.table(family)))

    def delete_default(self, route: Route, metric: int, table: int = 254,
                       family: int = 4) -> None:
        self.table(family).remove(route)
        self.history.append(list(self.table(family)))

    def ensure_probe_route(self, ifname: str, gateway: str, table: int, family: int = 4) -> None:
        if (ifname, gateway, table, family) not in self.probe_routes:
            self.probe_routes.append((ifname, gateway, table, family))

    def close(self) -> None:
        pass


def tools(clock: Any, engine: Any) -> Any:
    from netsentinel.checks.monitor import Tools
    events: list[Any] = []
    t = Tools(clock, engine, events.append)
    return t, events
