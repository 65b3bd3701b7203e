"""The ddns monitor: follow the external address and report each change as imon does.

The first address after start is reported with old address ``unknown`` (imon
users' scripts take that as "rebooted") unless a ``state_file`` remembers the
last one, in which case an unchanged address is no event. With ``update:`` the
instance also keeps a DNS provider's host names at the address (provider.py);
the state file then also holds, one ``HOST ADDRESS`` line each, what the
provider confirmed and when, so a restart sends nothing for an unchanged address.

Besides the interval, a check runs at once (debounced) when an interface source's
addresses change, and when the failover instance it ``follow``s switches routes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.atomic import write_if_changed
from netsentinel.checks.config import DdnsConfig, InterfaceSource
from netsentinel.checks.ddns_report import DdnsStatus, SourceFailure
from netsentinel.checks.dns import DnsQuerier
from netsentinel.checks.dyndns2 import OK, HostResult
from netsentinel.checks.events import CheckEvent
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.provider import ProviderUpdater
from netsentinel.checks.providers.send import sender
from netsentinel.checks.sources import AddressSources, SourceError, validate
from netsentinel.debounce import Debouncer

log = Logger()

UNKNOWN = "unknown"
FAMILY_NAMES = {0: "dual", 4: "ipv4", 6: "ipv6"}
Subscribe = Callable[[type[CheckEvent], Callable[[CheckEvent], None]], Callable[[], None]]
LinkWatch = Callable[[Callable[[bool], None]], Any]


def check_address(text: str, families: tuple[int, ...]) -> str:
    """A remembered address (``V4,V6`` for a dual-stack instance), checked."""
    parts = text.split(",")
    if len(parts) > len(families) or not all(parts):
        raise SourceError(f"not an address of this instance: {text[:60]!r}")
    by_family = {}
    for part in parts:
        errors = []
        for family in families:
            try:
                by_family[family] = validate(part, family, accept_private=True)
                break
            except SourceError as e:
                errors.append(e)
        else:
            raise errors[0]
    return ",".join(by_family[f] for f in sorted(by_family))


def read_state(path: str | None, families: tuple[int, ...]
               ) -> tuple[str, dict[str, tuple[str, float | None]]]:
    """The address remembered in ``path`` (or ``unknown``), and per host name the
    address the provider confirmed and when (lines ``HOST ADDRESS [UNIXTIME]``)."""
    if path is None or not os.path.exists(path):
        return UNKNOWN, {}
    try:
        with open(path, encoding="ascii") as f:
            first, *rest = f.read().splitlines() or [""]
        confirmed = {}
        for line in rest:
            host, address, *at = line.split()
            confirmed[host] = (check_address(address, families),
                               float(at[0]) if at else None)
        return check_address(first, families), confirmed
    except (OSError, UnicodeDecodeError, SourceError, ValueError) as e:
        log.warn("ddns state file {path} ignored: {error}", path=path, error=e)
        return UNKNOWN, {}


class DdnsMonitor(Monitor):
    monitor = "ddns"
    config: DdnsConfig

    def __init__(self, config: DdnsConfig, tools: Tools,
                 interface_addresses: Callable[[str, int], list[str]],
                 subscribe: Subscribe | None = None, link_watch: LinkWatch | None = None
                 ) -> None:
        super().__init__(config, tools)
        self.sources = AddressSources(tools.clock, config, interface_addresses)
        self.interface_addresses = interface_addresses
        self.address, confirmed = read_state(config.state_file, config.families)
        self.failures: list[tuple[str, str]] = []
        self.checked_at: float | None = None
        self.changed_at: float | None = None
        self.provider: ProviderUpdater | None = None
        self.subscribe, self.link_watch = subscribe, link_watch
        self._unsubscribe: Callable[[], None] | None = None
        self._links: Any = None
        self._seen: tuple[str, ...] | None = None
        self._busy = self._again = False
        self.triggers: dict[str, int] = {}
        self.debouncer = Debouncer(tools.clock, config.debounce, max(2.0, config.debounce),
                                   self._links_changed)
        update = config.update
        if update is not None:
            self._send = sender(tools.clock, update, config.timeout)
            self._dns = [DnsQuerier(tools.clock, s, 53, config.timeout)
                         for s in update.authoritative]
            self.provider = ProviderUpdater(config.name, update, tools.clock, self._send_live,
                                            self.event, self._remember, confirmed)

    def startService(self) -> None:
        super().startService()
        if self.subscribe is not None and self.config.follow is not None:
            self._unsubscribe = self.subscribe(CheckEvent, self._followed)
        interfaces = [s for s in self.config.sources if isinstance(s, InterfaceSource)]
        if self.link_watch is not None and interfaces:
            self._links = self.link_watch(lambda overflow: self.debouncer.poke())

    def stopService(self) -> None:
        super().stopService()
        self.debouncer.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._links is not None:
            self._links.close()
            self._links = None
        if self.provider is not None:
            self.provider.stop()

    def _followed(self, event: CheckEvent) -> None:
        """A switch of the followed failover instance moves the external address."""
        if (event.monitor == "failover" and event.instance == self.config.follow
                and event.name != "failover-postping"):
            self.trigger(f"failover {event.name}")

    def _links_changed(self) -> None:
        """Only a change of the interface sources' own addresses asks the sources again."""
        now = tuple(a for s in self.config.sources if isinstance(s, InterfaceSource)
                    for f in self.config.families for a in self.interface_addresses(s.interface, f))
        if now != self._seen:
            self._seen = now
            self.trigger("interface")

    def trigger(self, why: str) -> None:
        """A check now, besides the interval (after the running one, if any)."""
        self.triggers[why.split()[0]] = self.triggers.get(why.split()[0], 0) + 1
        if self.running:
            defer.maybeDeferred(self.check).addErrback(self.periodic.fault)

    def check(self) -> defer.Deferred[Any]:
        if self._busy:
            self._again = True
            return defer.succeed(None)
        self._busy = True
        return self._check().addBoth(self._checked)

    def _checked(self, result: Any) -> Any:
        self._busy = False
        if self._again:
            self._again = False
            self.tools.clock.callLater(0, self.trigger, "again")
        return result

    @defer.inlineCallbacks
    def _check(self) -> Any:
        found: dict[int, str] = {}
        self.failures = []
        for family in self.config.families:
            address, failures = yield self.sources.first(family)
            self.failures += failures
            if address is not None:
                found[family] = address
        self.checked_at = self.tools.clock.seconds()
        for source, reason in self.failures:
            log.info("ddns {name}: source {source} failed: {reason}", name=self.config.name,
                     source=source, reason=reason)
        if not found:
            self.event("ddns-no-update",
                       notes=tuple(f"{s}: {r}" for s, r in self.failures))
            return
        address = self._combined(found)
        if address != self.address:
            old, self.address = self.address, address
            self.changed_at = self.checked_at
            self._remember()
            self.event("ddns-ip-update", address, old)
        if self.provider is not None:
            self.provider.want(address)

    def _combined(self, found: dict[int, str]) -> str:
        """A dual-stack instance keeps the last address of a family no source gave now."""
        if self.address != UNKNOWN:
            for part in self.address.split(","):
                found.setdefault(4 if "." in part else 6, part)
        return ",".join(found[f] for f in sorted(found))

    @defer.inlineCallbacks
    def _send_live(self, hosts: tuple[str, ...], address: str) -> Any:
        """With ``authoritative:`` servers, hosts whose live DNS answer already is the
        address are not sent (unless it is a refresh the provider must see)."""
        assert self.provider is not None
        known = self.provider.hosts
        skip: list[HostResult] = []
        if self._dns:
            for host in hosts:
                if known[host].address != address and (yield self._answers(host)) == set(
                        address.split(",")):
                    skip.append(HostResult(host, "nochg", OK, "the authoritative DNS "
                                           "already answers the address"))
        rest = tuple(h for h in hosts if h not in {r.host for r in skip})
        sent = (yield self._send(rest, address)) if rest else []
        return skip + sent

    @defer.inlineCallbacks
    def _answers(self, host: str) -> Any:
        """What the first authoritative server that answers has for ``host``."""
        for querier in self._dns:
            try:
                found: set[str] = set()
                for family in self.config.families:
                    found.update((yield querier.addresses(host, family)))
                return found
            except Exception as e:  # noqa: BLE001 - the next server; none: just send
                log.info("ddns {name}: authoritative lookup of {host} failed: {error}",
                         name=self.config.name, host=host, error=e)
        return None

    def _remember(self) -> None:
        if self.config.state_file is None:
            return
        confirmed = self.provider.confirmed() if self.provider is not None else {}
        hosts = [f"{h} {a}" if at is None else f"{h} {a} {at:.0f}"
                 for h, (a, at) in sorted(confirmed.items())]
        text = "".join(f"{line}\n" for line in [self.address, *hosts])
        try:
            write_if_changed(self.config.state_file, text.encode())
        except OSError as e:
            log.error("ddns {name}: cannot write {path}: {error}", name=self.config.name,
                      path=self.config.state_file, error=e.strerror)

    def status(self) -> DdnsStatus:
        return DdnsStatus(self.address, FAMILY_NAMES[self.config.family], self.checked_at,
                          self.changed_at, tuple(SourceFailure(s, r) for s, r in self.failures),
                          self.provider.status() if self.provider is not None else None)
