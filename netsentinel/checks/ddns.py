"""The ddns monitor: follow the external address and report each change as imon does.

The first address after start is reported with old address ``unknown`` (imon
users' scripts take that as "rebooted") unless a ``state_file`` remembers the
last one, in which case an unchanged address is no event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.atomic import write_if_changed
from netsentinel.checks.config import DdnsConfig
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.sources import AddressSources, SourceError, validate
from netsentinel.metrics import Family, gauge

log = Logger()

UNKNOWN = "unknown"

ADDRESS = gauge("netsentinel_ddns_address_info",
                "Always 1; the external address now known is the label.", "name", "address")
CHANGED = gauge("netsentinel_ddns_last_change_timestamp_seconds",
                "When the external address last changed (Unix time); absent before a change.",
                "name")
CHECKED = gauge("netsentinel_ddns_last_check_timestamp_seconds",
                "When the sources were last asked (Unix time).", "name")
FAILURES = gauge("netsentinel_ddns_source_failures",
                 "Sources that failed at the last check.", "name")


def read_state(path: str | None, family: int) -> str:
    """The address remembered in ``path``, or ``unknown`` if there is none usable."""
    if path is None or not os.path.exists(path):
        return UNKNOWN
    try:
        with open(path, encoding="ascii") as f:
            return validate(f.read(), family, accept_private=True)
    except (OSError, UnicodeDecodeError, SourceError) as e:
        log.warn("ddns state file {path} ignored: {error}", path=path, error=e)
        return UNKNOWN


class DdnsMonitor(Monitor):
    monitor = "ddns"
    config: DdnsConfig

    def __init__(self, config: DdnsConfig, tools: Tools,
                 interface_addresses: Callable[[str, int], list[str]]) -> None:
        super().__init__(config, tools)
        self.sources = AddressSources(tools.clock, config, interface_addresses)
        self.address = read_state(config.state_file, config.family)
        self.failures: list[tuple[str, str]] = []
        self.checked_at: float | None = None
        self.changed_at: float | None = None

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
        if found == self.address:
            return
        old, self.address = self.address, found
        self.changed_at = self.checked_at
        self._remember(found)
        self.event("ddns-ip-update", found, old)

    def _remember(self, address: str) -> None:
        if self.config.state_file is None:
            return
        try:
            write_if_changed(self.config.state_file, f"{address}\n".encode())
        except OSError as e:
            log.error("ddns {name}: cannot write {path}: {error}", name=self.config.name,
                      path=self.config.state_file, error=e.strerror)

    def status(self) -> dict[str, Any]:
        return {"address": self.address, "family": f"ipv{self.config.family}",
                "checked_at": self.checked_at, "changed_at": self.changed_at,
                "failures": [{"source": s, "reason": r} for s, r in self.failures]}

    def metrics(self) -> list[Family]:
        state = self.status()
        name = self.config.name
        return [ADDRESS.of(1, name, state["address"]), CHANGED.of(state["changed_at"], name),
                CHECKED.of(state["checked_at"], name), FAILURES.of(len(state["failures"]), name)]
