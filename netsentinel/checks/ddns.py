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
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.provider import STATES, ProviderUpdater
from netsentinel.checks.sources import AddressSources, SourceError, validate
from netsentinel.metrics import Family, counter, gauge, one_hot

log = Logger()

PROTOCOLS = {"dyndns2": dyndns2.update, "cloudflare": cloudflare.update}
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
PROVIDER_STATE = gauge("netsentinel_ddns_provider_state",
                       "1 for the provider state of the instance (pending, ok, retrying, "
                       "failed), 0 for the others.", "name", "state")
PROVIDER_ADDRESS = gauge("netsentinel_ddns_provider_address_info",
                         "Always 1; the address the provider confirmed for every host name.",
                         "name", "address")
PROVIDER_ATTEMPT = gauge("netsentinel_ddns_provider_last_attempt_timestamp_seconds",
                         "When an update was last sent to the provider (Unix time).", "name")
PROVIDER_NEXT = gauge("netsentinel_ddns_provider_next_attempt_timestamp_seconds",
                      "When the next update is due (Unix time); absent when none is.", "name")
PROVIDER_REQUESTS = counter("netsentinel_ddns_provider_requests_total",
                            "Update requests sent to the provider.", "name")
PROVIDER_RESULTS = counter("netsentinel_ddns_provider_results_total",
                           "Per-host results of updates, by the provider's word (or http NNN, "
                           "network).", "name", "result")


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

    def status(self) -> dict[str, Any]:
        return {"address": self.address, "family": f"ipv{self.config.family}",
                "checked_at": self.checked_at, "changed_at": self.changed_at,
                "failures": [{"source": s, "reason": r} for s, r in self.failures],
                "provider": self.provider.status() if self.provider is not None else None}

    def metrics(self) -> list[Family]:
        state = self.status()
        name = self.config.name
        families = [ADDRESS.of(1, name, state["address"]), CHANGED.of(state["changed_at"], name),
                    CHECKED.of(state["checked_at"], name),
                    FAILURES.of(len(state["failures"]), name)]
        provider = state["provider"]
        if provider is not None:
            families += [
                one_hot(PROVIDER_STATE, STATES, provider["state"], name),
                PROVIDER_ATTEMPT.of(provider["last_attempt"], name),
                PROVIDER_NEXT.of(provider["next_attempt"], name),
                PROVIDER_REQUESTS.of(provider["requests"], name),
                PROVIDER_RESULTS.with_samples(((name, code), n)
                                              for code, n in provider["results"].items())]
            if provider["address"] is not None:
                families.append(PROVIDER_ADDRESS.of(1, name, provider["address"]))
        return families
