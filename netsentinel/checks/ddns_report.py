"""What a ddns instance reports: the external address, its sources' failures, its provider."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from twisted.web.template import Tag, tags

from netsentinel.checks.provider import STATES, ProviderStatus
from netsentinel.metrics import Family, counter, gauge, one_hot
from netsentinel.page import grid
from netsentinel.readable import ago

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


@attrs.frozen
class SourceFailure:
    """A source that gave no usable address at the last check, and why."""

    source: str
    reason: str


@attrs.frozen
class DdnsStatus:
    """One ddns instance; ``provider`` only with ``update:`` configured."""

    address: str             # ``unknown`` until a source answered (or a state file told)
    family: str              # ``ipv4`` or ``ipv6``
    checked_at: float | None
    changed_at: float | None
    failures: tuple[SourceFailure, ...]
    provider: ProviderStatus | None = None

    @property
    def troubled(self) -> bool:
        return bool(self.failures) or (self.provider is not None and self.provider.troubled)

    def problems(self, name: str) -> list[str]:
        found = []
        if self.failures:
            found.append(f"ddns {name}: {len(self.failures)} source(s) failed")
        if self.provider is not None and self.provider.troubled:
            found.append(f"ddns {name}: provider {self.provider.text(None)}")
        return found

    def metrics(self, name: str) -> list[Family]:
        families = [ADDRESS.of(1, name, self.address), CHANGED.of(self.changed_at, name),
                    CHECKED.of(self.checked_at, name), FAILURES.of(len(self.failures), name)]
        provider = self.provider
        if provider is not None:
            families += [
                one_hot(PROVIDER_STATE, STATES, provider.state, name),
                PROVIDER_ATTEMPT.of(provider.last_attempt, name),
                PROVIDER_NEXT.of(provider.next_attempt, name),
                PROVIDER_REQUESTS.of(provider.requests, name),
                PROVIDER_RESULTS.with_samples(((name, code), n)
                                              for code, n in provider.results.items())]
            if provider.address is not None:
                families.append(PROVIDER_ADDRESS.of(1, name, provider.address))
        return families


def ddns_grid(ddns: Mapping[str, DdnsStatus], now: float) -> list[Tag]:
    """The ddns instances, one row each, those with a failed source or provider marked."""
    return [tags.h3("ddns"), grid(
        ("name", "family", "address", "checked", "changed", "failures", "provider"),
        [(n, d.family, d.address, ago(d.checked_at, now), ago(d.changed_at, now),
          "; ".join(f"{f.source}: {f.reason}" for f in d.failures) or None,
          d.provider.text(now) if d.provider is not None else None)
         for n, d in ddns.items()],
        [d.troubled for d in ddns.values()], id="ddns")]
