"""What a TCP and a UDP forwarder share: the blacklist and its runtime edits, and the
service part of the status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netsentinel.forward.backend import Backend
from netsentinel.forward.banning import Banning
from netsentinel.forward.blacklist import Blacklist, Entries, client_address
from netsentinel.forward.config import Network, ServiceConfig
from netsentinel.forward.counters import Service, ServiceCounters
from netsentinel.forward.limiter import Limiter, with_default_cap
from netsentinel.forward.status import UdpStatus


class Shared:
    sid: str
    state: str
    config: ServiceConfig
    entries: Entries
    mirror: Any
    bans: Banning | None
    backend: Backend
    limiter: Limiter
    counters: ServiceCounters
    reactor: Any
    running: int
    clock: Any
    _last_summary: float

    def _begin(self) -> None:
        """A start's first steps: fresh counters, the backend looked up."""
        self.state = "running"
        self.counters = ServiceCounters(self.clock.seconds())
        self._last_summary = self.clock.seconds()
        self.backend.start()

    def _retune(self, config: ServiceConfig) -> ServiceConfig:
        """A reload's common part: limits, backend and blacklist adopted; the old config."""
        old, self.config = self.config, config
        self.limiter.limits = with_default_cap(config.limits, self._relays())
        if old.backend != config.backend:
            self.backend.stop()
            self.backend = Backend(self.reactor, config.backend, self.sid)
            if self.running:
                self.backend.start()
        self.entries.configure(config.blacklist)
        return old

    def _relays(self) -> int:
        """Processes holding this service's connections (its default cap scales)."""
        return 1

    def _sides_start(self) -> None:
        """The nft sides once listening: the blacklist mirror synced, the bans in place."""
        if self.mirror is not None:
            self.mirror.sync(self.blacklist)
        if self.bans is not None:
            self.bans.start()

    def _sides_close(self) -> None:
        for side in (self.mirror, self.bans):
            if side is not None:
                side.close()

    def _live(self) -> Iterable[Any]:
        """The open connections (sessions), each with ``ip``."""
        raise NotImplementedError

    def _end_one(self, live: Any, reason: str) -> None:
        raise NotImplementedError

    @property
    def blacklist(self) -> Blacklist:
        return self.entries.current

    def _blacklist_changed(self) -> None:
        if self.mirror is not None:
            self.mirror.sync(self.blacklist)

    def reject(self, network: Network, close: bool) -> int:
        """Blacklist ``network`` now; with ``close``, also end its open connections."""
        network = self.entries.reject(network)
        self._blacklist_changed()
        victims = [c for c in self._live() if client_address(c.ip) in network] if close else []
        for victim in victims:
            self._end_one(victim, "rejected")
        return len(victims)

    def release(self, network: Network) -> bool:
        """Take ``network`` off the blacklist; False when it was not on it."""
        if not self.entries.release(network):
            return False
        self._blacklist_changed()
        return True

    def _service(self, udp: UdpStatus | None = None) -> Service:
        return Service(
            name=self.sid, state=self.state, listen=str(self.config.listen),
            backend=str(self.config.backend), blacklist=tuple(self.blacklist.sorted()),
            backend_address=self.backend.snapshot(),
            conn_limit=self.limiter.limits.conn_limit,      # the default one too
            blacklist_set=self.mirror.snapshot() if self.mirror is not None else None,
            ban=self.bans.snapshot() if self.bans is not None else None, udp=udp)
