"""The ddns monitor: follow the external address and report each change as imon does.

The first address after start is reported with old address ``unknown`` (imon
users' scripts take that as "rebooted") unless a ``state_file`` remembers the
last one, in which case an unchanged address is no event. With ``update:`` the
instance also keeps a DNS provider's host names at the address (provider.py);
the state file then also holds, one ``HOST ADDRESS`` line each, what the
provider confirmed and when, so a restart sends nothing for an unchanged address.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.atomic import write_if_changed
from netsentinel.checks import cloudflare, dyndns2
from netsentinel.checks.config import DdnsConfig
from netsentinel.checks.ddns_report import DdnsStatus, SourceFailure
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.provider import ProviderUpdater
from netsentinel.checks.sources import AddressSources, SourceError, validate

log = Logger()

PROTOCOLS = {"dyndns2": dyndns2.update, "cloudflare": cloudflare.update}
UNKNOWN = "unknown"


def read_state(path: str | None,
               family: int) -> tuple[str, dict[str, tuple[str, float | None]]]:
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
            confirmed[host] = (validate(address, family, accept_private=True),
                               float(at[0]) if at else None)
        return validate(first, family, accept_private=True), confirmed
    except (OSError, UnicodeDecodeError, SourceError, ValueError) as e:
        log.warn("ddns state file {path} ignored: {error}", path=path, error=e)
        return UNKNOWN, {}


class DdnsMonitor(Monitor):
    monitor = "ddns"
    config: DdnsConfig

    def __init__(self, config: DdnsConfig, tools: Tools,
                 interface_addresses: Callable[[str, int], list[str]]) -> None:
        super().__init__(config, tools)
        self.sources = AddressSources(tools.clock, config, interface_addresses)
        self.address, confirmed = read_state(config.state_file, config.family)
        self.failures: list[tuple[str, str]] = []
        self.checked_at: float | None = None
        self.changed_at: float | None = None
        self.provider: ProviderUpdater | None = None
        if config.update is not None:
            send = functools.partial(PROTOCOLS[config.update.protocol], tools.clock,
                                     config.update, config.timeout)
            self.provider = ProviderUpdater(config.name, config.update, tools.clock, send,
                                            self.event, self._remember, confirmed)

    def stopService(self) -> None:
        super().stopService()
        if self.provider is not None:
            self.provider.stop()

    @defer.inlineCallbacks
    def check(self) -> Any:
        found, self.failures = yield self.sources.first()
        self.checked_at = self.tools.clock.seconds()
        for source, reason in self.failures:
            log.info("ddns {name}: source {source} failed: {reason}", name=self.config.name,
                     source=source, reason=reason)
        if found is None:
            self.event("ddns-no-update",
                       notes=tuple(f"{s}: {r}" for s, r in self.failures))
            return
        if found != self.address:
            old, self.address = self.address, found
            self.changed_at = self.checked_at
            self._remember()
            self.event("ddns-ip-update", found, old)
        if self.provider is not None:
            self.provider.want(found)

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
        return DdnsStatus(self.address, f"ipv{self.config.family}", self.checked_at,
                          self.changed_at, tuple(SourceFailure(s, r) for s, r in self.failures),
                          self.provider.status() if self.provider is not None else None)
