"""A service's bans in the kernel: two timeout sets and, in our own table, the drop rule.

The sets (``SET`` for IPv4, ``SET6`` for IPv6) are written by the set writer like
every managed set, each element with the time its ban has left, so the kernel
expires a ban by itself, daemon or no daemon.  Without ``table:`` netsentinel owns
``inet netsentinel`` and puts one base chain per service in it (hook input, priority
``filter - 10``, before the user's filter) dropping the service's port for the
banned sources; with ``ipv6_prefix`` a third set (``SET6p``) holds banned IPv6
prefixes as their first address, its rule masking the source, while a client in a
prefix of the router's own is banned alone (in ``SET6``).  On start the sets are read back (bans survive a
restart); an outside change (``nft -f``, a flush) rewrites the chain and the sets
from the daemon's memory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from netsentinel.deferreds import in_thread
from netsentinel.forward.bans import Ban, BanBook
from netsentinel.forward.config import OWN_TABLE, WILDCARDS, BanConfig
from netsentinel.nft.client import NftClient, NftError
from netsentinel.nft.expr import match, payload
from netsentinel.nft.sets import SetSpec, comments, expiries
from netsentinel.nft.watch import SetsWatch
from netsentinel.nft.writer import SetWriter

log = Logger()

AGAIN = 0.05            # outside changes within this are answered by one rewrite
PRIORITY = -10          # filter - 10: before the user's filter chains


def specs(config: BanConfig) -> tuple[SetSpec, ...]:
    """IPv4 addresses, IPv6 addresses, and (with ``ipv6_prefix``) IPv6 prefixes."""
    names = [(config.set, "ipv4_addr"), (config.set6, "ipv6_addr")]
    if config.set6_prefix is not None:
        names.append((config.set6_prefix, "ipv6_addr"))
    return tuple(SetSpec(name, kind, False, timeout=True) for name, kind in names)


def holds(spec: SetSpec, config: BanConfig, ban: Ban) -> bool:
    """Whether ``ban`` goes to the set ``spec``."""
    network = ban.network
    if network.version != spec.version:
        return False
    whole = network.prefixlen == network.max_prefixlen
    return whole == (spec.name != config.set6_prefix)


def rule_commands(config: BanConfig, protocol: str, port: int,
                  host: str = "::") -> list[dict[str, Any]]:
    """Our table, the sets, and the service's chain with its drop rules, in one go
    (``add`` keeps what exists; the chain is flushed and refilled).  A service listening
    on one address drops banned clients only there: another service on the same port of
    another address is not theirs to lose."""
    family, table = OWN_TABLE
    chain = {"family": family, "table": table, "name": config.set}
    commands: list[dict[str, Any]] = [{"add": {"table": {"family": family, "name": table}}}]
    for spec in specs(config):
        commands.append({"add": {"set": {"family": family, "table": table, "name": spec.name,
                                         "type": spec.type, "flags": ["timeout"]}}})
    commands += [{"add": {"chain": {**chain, "type": "filter", "hook": "input",
                                    "prio": PRIORITY, "policy": "accept"}}},
                 {"flush": {"chain": chain}}]
    for source, name, destination in _sources(config, host):
        commands.append({"add": {"rule": {
            "family": family, "table": table, "chain": config.set, "comment": "netsentinel ban",
            "expr": [match({"meta": {"key": "l4proto"}}, protocol),
                     match(payload("th", "dport"), port),
                     *destination,
                     match(source, "@" + name),
                     {"drop": None}]}}})
    return commands


def ban_sources(config: BanConfig) -> list[tuple[int, Any, str]]:
    """(IP version, source expression, set) of each set's drop rule: a prefix set's
    rule masks the source (``ipv6_prefix``)."""
    saddr6 = payload("ip6", "saddr")
    sources: list[tuple[int, Any, str]] = [(4, payload("ip", "saddr"), config.set),
                                           (6, saddr6, config.set6)]
    if config.set6_prefix is not None:
        mask = str(ipaddress.ip_network(f"::/{config.ipv6_prefix}").netmask)
        sources.append((6, {"&": [saddr6, mask]}, config.set6_prefix))
    return sources


def _sources(config: BanConfig, host: str) -> list[tuple[Any, str, list[dict[str, Any]]]]:
    """(source expression, set, destination match) per rule: both families on a
    wildcard address, the listener's own family and address otherwise."""
    if host in WILDCARDS:
        return [(source, name, []) for _, source, name in ban_sources(config)]
    version = ipaddress.ip_address(host).version
    destination = match(payload("ip" if version == 4 else "ip6", "daddr"), host)
    return [(source, name, [destination])
            for v, source, name in ban_sources(config) if v == version]


def removal_commands(config: BanConfig) -> list[dict[str, Any]]:
    family, table = config.where
    commands: list[dict[str, Any]] = []
    if config.table is None:
        commands.append({"delete": {"chain": {"family": family, "table": table,
                                              "name": config.set}}})
    return commands + [{"delete": {"set": {"family": family, "table": table, "name": s.name}}}
                       for s in specs(config)]


def _held(raw: Any) -> list[tuple[str, int, str]]:
    """(element, seconds left, reason) of each ban a set holds; the reason is the
    element's comment, written with it."""
    notes = comments(raw)
    return [(element, left or 0, notes.get(element, "restored from the kernel"))
            for element, left in expiries(raw).items()]


class BanSets:
    """The kernel side of one service's :class:`BanBook`."""

    def __init__(self, name: str, config: BanConfig, protocol: str, port: int, bus: Any,
                 reactor: Any, watch: SetsWatch | None = None,
                 nft: NftClient | None = None, host: str = "::") -> None:
        self.config, self.protocol, self.port, self.host = config, protocol, port, host
        self.reactor = reactor
        self.writer = SetWriter(f"forward bans {name}", bus, reactor, nft)
        self.nft = NftClient()          # the chain's own: the writer's runs in its own turn
        self.rule_error: str | None = None
        self._book: BanBook | None = None
        self._again: IDelayedCall | None = None
        self._watch = watch

    def _thread(self, work: Callable[[], Any]) -> defer.Deferred[Any]:
        return in_thread(self.reactor, work)

    @defer.inlineCallbacks
    def start(self, book: BanBook) -> Any:
        """Adopt the bans the kernel still holds, put the rule in place, write the sets."""
        self._book = book
        family, table = self.config.where
        try:
            found = yield self._thread(lambda: [
                (element, left, spec.name == self.config.set6_prefix, reason)
                for spec in specs(self.config)
                for element, left, reason in _held(
                    self.nft.list_set(family, table, spec.name) or ())])
            adopted = book.adopt(found, self.reactor.seconds())
            if adopted:
                log.info("forward bans: {count} ban(s) read back from set {set}",
                         count=adopted, set=self.config.set)
        except (NftError, ValueError) as e:
            log.warn("forward bans: cannot read set {set} back: {error}",
                     set=self.config.set, error=str(e))
        if self._watch is not None:
            self.writer.watch(self._watch, self._outside_change)
        yield self.heal()

    @defer.inlineCallbacks
    def heal(self) -> Any:
        if self.config.table is None:
            commands = rule_commands(self.config, self.protocol, self.port, self.host)
            try:
                yield self._thread(lambda: self.nft.transaction(commands))
                self.rule_error = None
            except NftError as e:
                if self.rule_error != str(e):
                    log.error("forward bans: drop rule for {set}: {error}",
                              set=self.config.set, error=str(e))
                self.rule_error = str(e)
        if self._book is not None:
            yield self.sync(self._book)

    def _outside_change(self) -> None:
        if self._again is None or not self._again.active():
            self._again = self.reactor.callLater(AGAIN, self.heal)

    def sync(self, book: BanBook) -> defer.Deferred[Any]:
        """The sets made to hold the running bans, each with the time it has left."""
        self._book = book
        now = self.reactor.seconds()
        active = book.active(now)
        family, table = self.config.where
        desired: dict[SetSpec, frozenset[str]] = {}
        timeouts: dict[SetSpec, dict[str, int]] = {}
        notes: dict[SetSpec, dict[str, str]] = {}
        for spec in specs(self.config):
            bans = [b for b in active if holds(spec, self.config, b)]
            desired[spec] = frozenset(b.element for b in bans)
            timeouts[spec] = {b.element: b.left(now) for b in bans}
            notes[spec] = {b.element: b.reason for b in bans}   # read back after a restart
        return self.writer.write(family, table, True, desired, timeouts, notes)

    def close(self) -> None:
        self.writer.unwatch()
        if self._again is not None and self._again.active():
            self._again.cancel()

    def remove(self) -> defer.Deferred[Any]:
        """The ban went from the config: its chain and sets go from the kernel."""
        self.close()
        commands = removal_commands(self.config)
        return self._thread(lambda: self.nft.each(commands))

    @property
    def error(self) -> str | None:
        errors = [s.error for s in self.writer.snapshot().values() if s.error is not None]
        return self.rule_error or (errors[0] if errors else None)
