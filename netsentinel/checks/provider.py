"""Keeps a DNS provider's host names at the external address, as ddclient does.

The updater is told the address after every check; it sends an update only for
host names the provider has not confirmed at that address, or confirmed longer
than ``max_interval`` ago (free accounts expire host names nobody updates),
never two for one host within ``min_interval``. A permanent refusal (badauth, nohost, ...) stops
it until the address changes or the configuration is reloaded: retrying a bad
password gets accounts blocked. Temporary failures are retried with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.dyndns2 import OK, PERMANENT, TEMPORARY, HostResult
from netsentinel.readable import duration

log = Logger()

PENDING, RETRYING, FAILED = "pending", "retrying", "failed"
STATES = (PENDING, OK, RETRYING, FAILED)
FIRST_RETRY = 300.0
MAX_RETRY = 3600.0

Send = Callable[[tuple[str, ...], str], defer.Deferred[list[HostResult]]]
Event = Callable[..., None]


@attrs.define
class HostState:
    address: str | None = None       # what the provider confirmed (good/nochg)
    confirmed_at: float | None = None    # when (Unix time)
    result: str | None = None        # its last word for this host
    detail: str = ""
    at: float | None = None          # when that word came
    sent_at: float | None = None


@attrs.frozen
class HostStatus:
    """A host name as the provider last answered for it."""

    address: str | None      # what the provider confirmed
    result: str | None       # its last word (good, nochg, badauth, http 503, ...)
    detail: str
    at: float | None         # when that word came (Unix time)


@attrs.frozen
class ProviderStatus:
    """The provider side of a ddns instance: its state, what it has, what it answered."""

    protocol: str
    server: str
    state: str
    address: str | None      # the address every host name has, if they agree
    wanted: str | None
    last_attempt: float | None
    next_attempt: float | None
    attempts: int
    requests: int
    results: dict[str, int]
    hosts: dict[str, HostStatus]

    @property
    def troubled(self) -> bool:
        """It refused an update or is waiting to retry one: a problem."""
        return self.state in (FAILED, RETRYING)

    def text(self, now: float | None) -> str:
        """Its state in a few words: the state, the address it has, and what went wrong
        (with when the next attempt is, given ``now``)."""
        words = [self.state]
        if self.address is not None:
            words.append(self.address)
        errors = sorted({h.result for h in self.hosts.values() if self.troubled
                         and h.result is not None and h.result not in ("good", "nochg")})
        if errors:
            words.append(f"({', '.join(errors)})")
        if now is not None and self.next_attempt is not None:
            words.append(f"next in {duration(max(0.0, self.next_attempt - now))}")
        return " ".join(words)


def retry_delay(attempts: int, min_interval: float) -> float:
    """5 min doubling to 1 h after each temporary failure, never below ``min_interval``."""
    return float(max(min_interval, min(MAX_RETRY, FIRST_RETRY * 2 ** (attempts - 1))))


class ProviderUpdater:
    """The provider side of one ddns instance; ``remember`` persists ``confirmed()``."""

    def __init__(self, name: str, config: UpdateConfig, clock: Any, send: Send, event: Event,
                 remember: Callable[[], None],
                 confirmed: dict[str, tuple[str, float | None]]) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.send = send
        self.event = event
        self.remember = remember
        now = clock.seconds()
        self.hosts = {h: HostState() for h in config.hostnames}
        for host, (address, at) in confirmed.items():
            if host in self.hosts:      # a state file line without a time counts from now
                self.hosts[host] = HostState(address, now if at is None else at)
        self.wanted: str | None = None
        self.failed_for: str | None = None     # permanent error at this address: stay quiet
        self.attempts = 0                      # temporary failures in a row
        self.requests = 0
        self.results: dict[str, int] = {}
        self.last_attempt: float | None = None
        self.timer: IDelayedCall | None = None
        self.sending: defer.Deferred[list[HostResult]] | None = None
        self.stopped = False

    def want(self, address: str) -> None:
        """The external address now; a new one clears a permanent error and any backoff.

        Told after every check, so an unchanged address is also the moment to see
        whether a host's confirmation has grown older than ``max_interval``.
        """
        if address == self.wanted:
            if self.timer is None:
                self._schedule()
            return
        self.wanted, self.failed_for, self.attempts = address, None, 0
        self._cancel_timer()
        self._schedule()

    def stop(self) -> None:
        self.stopped = True
        self._cancel_timer()
        if self.sending is not None:
            self.sending.cancel()

    def confirmed(self) -> dict[str, tuple[str, float | None]]:
        return {h: (s.address, s.confirmed_at) for h, s in self.hosts.items()
                if s.address is not None}

    @property
    def state(self) -> str:
        if self.wanted is not None and self.failed_for == self.wanted:
            return FAILED
        if self.attempts:
            return RETRYING
        if self.wanted is not None and not self._due():
            return OK
        return PENDING

    def _due(self) -> tuple[str, ...]:
        return tuple(h for h, s in self.hosts.items()
                     if s.address != self.wanted or self._stale(s))

    def _stale(self, host: HostState) -> bool:
        limit = self.config.max_interval
        return bool(limit) and host.confirmed_at is not None and (
            self.clock.seconds() - host.confirmed_at >= limit)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def _schedule(self, delay: float = 0.0) -> None:
        if (self.stopped or self.sending is not None or self.wanted is None
                or self.failed_for == self.wanted):
            return                   # a reply on its way reschedules; a refusal waits
        due = self._due()
        if not due:
            return
        sent = [t for h in due if (t := self.hosts[h].sent_at) is not None]
        now = self.clock.seconds()
        earliest = max(sent) + self.config.min_interval if sent else now
        self.timer = self.clock.callLater(max(delay, earliest - now), self._send)

    def _send(self) -> None:
        self.timer = None
        due, address = self._due(), self.wanted
        if not due or address is None:
            return
        now = self.last_attempt = self.clock.seconds()
        for host in due:
            self.hosts[host].sent_at = now
        self.requests += 1
        refresh = all(self.hosts[h].address == address for h in due)
        log.info("ddns {name}: {what} {hosts} to {address} at {server}", name=self.name,
                 what="refreshing" if refresh else "updating", hosts=",".join(due),
                 address=address, server=self.config.server)
        self.sending = d = self.send(due, address)
        d.addCallback(self._done, address).addErrback(self._bug)

    def _bug(self, failure: Any) -> None:
        if not self.stopped:
            log.failure("ddns {name}: update", failure, name=self.name)

    def _done(self, results: list[HostResult], address: str) -> None:
        self.sending = None
        if self.stopped:
            return
        now = self.clock.seconds()
        for r in results:
            self.results[r.code] = self.results.get(r.code, 0) + 1
            host = self.hosts[r.host]
            host.result, host.detail, host.at = r.code, r.detail, now
            if r.kind == OK:
                host.address, host.confirmed_at = address, now
        good = [r.host for r in results if r.kind == OK]
        if good:
            self.remember()
            self.event("ddns-provider-updated", address, ",".join(good))
        refused = [r for r in results if r.kind == PERMANENT]
        failed = [r for r in results if r.kind == TEMPORARY]
        if address != self.wanted:
            self._schedule()             # the address changed meanwhile: that one now
        elif refused:
            self._refused(refused, address)
        elif failed:
            self._retry(failed)
        else:
            self.attempts = 0

    def _refused(self, refused: list[HostResult], address: str) -> None:
        self.failed_for, self.attempts = address, 0
        for code in dict.fromkeys(r.code for r in refused):
            hosts = [r.host for r in refused if r.code == code]
            detail = next(r.detail for r in refused if r.code == code)
            log.error("ddns {name}: provider answered {code} for {hosts}: {detail}; no more "
                      "updates until the address changes or the configuration is reloaded",
                      name=self.name, code=code, hosts=",".join(hosts), detail=detail)
            self.event("ddns-provider-error", code,
                       notes=(f"{','.join(hosts)}: {detail}",), logged=False)

    def _retry(self, failed: list[HostResult]) -> None:
        self.attempts += 1
        delay = retry_delay(self.attempts, self.config.min_interval)
        self._schedule(delay)
        next_at = self.next_attempt()
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next_at)) if next_at else "?"
        first = failed[0]
        log.warn("ddns {name}: update of {hosts} failed: {code} ({detail}); retry {attempt} "
                 "in {delay:.0f}s at {when}", name=self.name,
                 hosts=",".join(r.host for r in failed), code=first.code, detail=first.detail,
                 attempt=self.attempts, delay=delay, when=when)
        self.event("ddns-provider-retry", first.code, f"{delay:.0f}",
                   notes=(first.detail, f"next attempt at {when}"), logged=False)

    def next_attempt(self) -> float | None:
        return self.timer.getTime() if self.timer is not None and self.timer.active() else None

    def address(self) -> str | None:
        """The address the provider has for every host name, if they agree."""
        found = {s.address for s in self.hosts.values()}
        return found.pop() if len(found) == 1 else None

    def status(self) -> ProviderStatus:
        return ProviderStatus(
            self.config.protocol, self.config.server, self.state, self.address(), self.wanted,
            self.last_attempt, self.next_attempt(), self.attempts, self.requests,
            dict(sorted(self.results.items())),
            {h: HostStatus(s.address, s.result, s.detail, s.at) for h, s in self.hosts.items()})
