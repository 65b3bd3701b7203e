"""A service's kernel bans as its forwarder uses them: strikes in, bans out to nft.

The forwarder tells :meth:`Banning.strike` of every refusal and asks
:meth:`Banning.refuses` at admission (a ban the kernel has not applied yet, or
one the user's rules do not reference, is still enforced at accept).  Each new
ban, ``ban`` and ``unban`` hands the whole list to the sets (:mod:`bannft`).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.deferreds import observe
from netsentinel.events import EventBus
from netsentinel.forward.bannft import BanSets
from netsentinel.forward.bans import BanBook, holds_local
from netsentinel.forward.config import Network, ServiceConfig
from netsentinel.forward.events import ClientBanned
from netsentinel.forward.status import BanStatus
from netsentinel.nft.watch import SetsWatch

log = Logger()


def kernel_side(config: ServiceConfig) -> tuple[Any, ...]:
    """What the sets and the rule depend on: a change rebuilds them."""
    ban = config.ban
    assert ban is not None
    return ban.set, ban.table, ban.ipv6_prefix, config.protocol, config.listen.port


class Banning:
    def __init__(self, config: ServiceConfig, bus: EventBus, reactor: Any,
                 watch: SetsWatch | None = None, book: BanBook | None = None) -> None:
        assert config.ban is not None
        self.name = config.name
        self.bus = bus
        self.reactor = reactor
        self.book = book or BanBook(config.ban, holds_local)
        self.book.config = config.ban
        self.sets = BanSets(config.name, config.ban, config.protocol, config.listen.port,
                            bus, reactor, watch, host=config.listen.host)
        self.side = kernel_side(config)
        self.started: defer.Deferred[Any] = defer.succeed(None)

    def start(self) -> None:
        """Read the kernel's bans back, then put the rule and the sets in place;
        ``started`` fires when done (the daemon is ready after it)."""
        self.started = observe(self.sets.start(self.book))

    def close(self) -> None:
        self.sets.close()

    def refuses(self, ip: str, now: float) -> bool:
        if self.book.bans and self.book.banned(ip, now):
            self.book.refused += 1
            return True
        return False

    def strike(self, ip: str, reason: str, now: float) -> None:
        ban = self.book.strike(ip, reason, now)
        if ban is not None:
            self._banned(ip, ban.network, ban.reason)

    def _banned(self, ip: str, network: Network, reason: str) -> defer.Deferred[Any]:
        seconds = self.book.bans[network].left(self.reactor.seconds())
        log.warn("forward {name}: {network} banned for {seconds}s ({reason})", name=self.name,
                 network=str(network), seconds=seconds, reason=reason)
        self.bus.publish(ClientBanned(self.name, ip, str(network), seconds, reason))
        return self.sets.sync(self.book)

    def ban(self, network: Network, seconds: float | None) -> defer.Deferred[Network]:
        """``forward ban``, firing once the sets hold it; a ValueError (NeverBan among
        them) for a protected address or a network that is not one ban."""
        ban = self.book.ban(network, self.reactor.seconds(),
                            seconds or self.book.config.duration, "netsentinel-ctl forward ban")
        return self._banned(str(network.network_address), ban.network, ban.reason) \
            .addCallback(lambda _: ban.network)

    def unban(self, ip: str) -> defer.Deferred[Network] | None:
        """``forward unban``, firing once the sets no longer hold it; None: not banned."""
        ban = self.book.unban(ip)
        if ban is None:
            return None
        log.info("forward {name}: {network} unbanned", name=self.name, network=str(ban.network))
        return self.sets.sync(self.book).addCallback(lambda _: ban.network)

    def listing(self) -> dict[str, Any]:
        now = self.reactor.seconds()
        return {str(b.network): {"reason": b.reason, "expires_at": round(b.expires_at, 3),
                                 "left": b.left(now)} for b in self.book.active(now)}

    def snapshot(self) -> BanStatus:
        family, table = self.book.config.where
        return BanStatus(f"{family} {table} {self.book.config.set}", self.book.config.set6,
                         len(self.book.active(self.reactor.seconds())), self.book.added,
                         self.book.refused, self.sets.error)


def adopt(old: Banning | None, config: ServiceConfig, bus: EventBus, reactor: Any,
          watch: SetsWatch | None, running: bool) -> Banning | None:
    """The banning for ``config`` after a reload: kept, retuned, rebuilt or gone."""
    if old is not None and config.ban is not None and old.side == kernel_side(config):
        old.book.config = config.ban
        return old
    removed = old.sets.remove() if old is not None else defer.succeed(None)
    if config.ban is None:
        return None
    new = Banning(config, bus, reactor, watch,
                  old.book if old is not None and old.side[1:3] == kernel_side(config)[1:3]
                  else None)
    if running:         # after the old chain and sets are gone: they may share names
        removed.addBoth(lambda _: new.start())
    return new
