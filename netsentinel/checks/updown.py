"""The updown monitor: online/offline with hysteresis, quorum, a DNS second opinion, addping."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.checks.config import UpdownConfig
from netsentinel.checks.dns import DnsQuerier
from netsentinel.checks.hysteresis import Change, Hysteresis, LinkState
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.stats import ProbeResult
from netsentinel.checks.updown_report import UpdownStatus

log = Logger()


def duration(seconds: float) -> str:
    """imon's ``D:H:M:S`` outage length (no zero padding)."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}:{hours}:{minutes}:{secs}"


class UpdownMonitor(Monitor):
    monitor = "updown"
    config: UpdownConfig

    def __init__(self, config: UpdownConfig, tools: Tools) -> None:
        super().__init__(config, tools)
        self.state = Hysteresis(config.down_after, config.up_after)
        self.label = ",".join(config.targets)     # imon's TARGET argument
        self.down_since = tools.clock.seconds()
        self.last: list[ProbeResult] = []
        self.refuted = False                      # ping failed but DNS answered
        self.addping: list[ProbeResult] = []
        self.dns = (DnsQuerier(tools.clock, config.dns_server, timeout=config.probe.wait)
                    if config.dns_server else None)

    def next_delay(self) -> float:
        return self.config.fast_interval if self.state.changing else self.config.interval

    def _ping_all(self, targets: tuple[str, ...]) -> defer.Deferred[list[ProbeResult]]:
        c = self.config
        return defer.gatherResults([
            self.tools.engine.ping(t, c.probe.count, c.probe.wait, interface=c.interface)
            for t in targets])

    @defer.inlineCallbacks
    def check(self) -> Any:
        self.last = yield self._ping_all(self.config.targets)
        good = sum(r.alive for r in self.last) >= self.config.quorum
        self.refuted = False
        if not good and self.dns is not None:
            good = self.refuted = yield self._dns_answers()
        change = self.state.feed(good)
        if change is not None:
            yield self._changed(change)

    @defer.inlineCallbacks
    def _dns_answers(self) -> Any:
        assert self.dns is not None and self.config.dns_lookup is not None
        try:
            found = yield self.dns.addresses(self.config.dns_lookup)
        except Exception as e:  # noqa: BLE001 - any DNS failure is "no answer"
            log.debug("updown {name}: DNS check failed: {error}", name=self.config.name, error=e)
            return False
        if found:
            log.info("updown {name}: ping of {target} failed but {server} resolved {lookup}",
                     name=self.config.name, target=self.label, server=self.config.dns_server,
                     lookup=self.config.dns_lookup)
        return bool(found)

    @defer.inlineCallbacks
    def _changed(self, change: Change) -> Any:
        now = self.tools.clock.seconds()
        self.addping = (yield self._ping_all(self.config.addping)) if self.config.addping else []
        notes = tuple(f"addping {r.address} {'online' if r.alive else 'offline'}"
                      for r in self.addping)
        if change.state is LinkState.UP:
            if change.initial:
                log.info("updown {name}: {target} online", name=self.config.name,
                         target=self.label)
                for note in notes:
                    log.info("updown {name}: {note}", name=self.config.name, note=note)
            else:
                self.event("updown-online", self.label, duration(now - self.down_since),
                           notes=notes)
        else:
            self.down_since = now
            if change.initial:
                log.info("updown {name}: {target} offline at start", name=self.config.name,
                         target=self.label)
            else:
                self.event("updown-offline", self.label, notes=notes)

    def status(self) -> UpdownStatus:
        return UpdownStatus(self.state.state.value, self.config.targets, self.config.quorum,
                            self.state.streak, self.refuted,
                            tuple(r.snapshot() for r in self.last),
                            tuple(r.snapshot() for r in self.addping))
