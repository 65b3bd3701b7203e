"""Unexpected exceptions, counted per feature where ``status``, metrics and the page show them.

A fault is a bug or an environment no check foresaw: a sync, a check, a trigger or a
forward service raised where it should have answered. The recorder logs it (the
traceback once per distinct error, then one line per repeat), keeps a one-line summary,
and lets the caller carry on, so the next sync or check still runs. What it is not
told about it still sees: every failure logged with a traceback anywhere in the process
(Twisted's "Unhandled error in Deferred", an exception in a timer or a reader) is
counted, under the feature whose code raised it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import attrs
from twisted.logger import ILogObserver, Logger, LogPublisher, globalLogPublisher
from twisted.python.failure import Failure

from netsentinel.metrics import Family, counter

log = Logger()

FAULTS = counter("netsentinel_faults_total",
                 "Unexpected exceptions (bugs, unforeseen environments) by the feature that "
                 "raised them; the last one is in status faults.", "feature")

DAEMON = "daemon"            # faults outside any feature: the spine, the control socket
RECORDED = "fault_recorded"  # log event field: this failure is counted already (as logged)
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep

T = TypeVar("T")


@attrs.frozen
class Fault:
    count: int
    last: str      # "where: Type: message", one line
    at: float      # when the last one happened (the clock's time: Unix time in the daemon)


def summary(failure: Failure | BaseException) -> str:
    """``ZeroDivisionError: division by zero``: the type and the message's first line."""
    value = failure.value if isinstance(failure, Failure) else failure
    text = str(value).strip().splitlines()
    return f"{type(value).__name__}: {text[0]}" if text else type(value).__name__


def feature_of(failure: Failure, namespace: str, features: Iterable[str]) -> str:
    """The feature whose code raised: the innermost frame in one of our feature packages,
    else the logging module's package, else :data:`DAEMON`."""
    known = set(features)
    for frame in reversed(failure.frames):
        path = os.path.abspath(str(frame[1]))
        if path.startswith(_PACKAGE):
            key = path[len(_PACKAGE):].split(os.sep)[0]
            if key in known:
                return key
    parts = namespace.split(".")
    if len(parts) > 1 and parts[0] == "netsentinel" and parts[1] in known:
        return parts[1]
    return DAEMON


class FaultRecorder:
    """Per feature: how many faults, the last one and when; see the module docstring."""

    def __init__(self, clock: Any = None, features: Iterable[str] = ()) -> None:
        self.clock = clock
        self.features = tuple(features) or _feature_keys()
        self.faults: dict[str, Fault] = {}
        self._publisher: LogPublisher | None = None
        self._observer = cast(ILogObserver, self.observe)

    def _now(self) -> float:
        if self.clock is None:
            from twisted.internet import reactor
            return float(reactor.seconds())
        return float(self.clock.seconds())

    def record(self, feature: str, where: str, failure: Failure | BaseException | None = None
               ) -> Fault:
        """Count a fault (``failure`` None: the exception being handled) and log it."""
        failure = failure if isinstance(failure, Failure) else Failure(failure)
        last = f"{where}: {summary(failure)}"
        previous = self.faults.get(feature)
        fault = self._store(feature, last)
        if previous is None or previous.last != last:
            log.failure("{feature} fault in {where} (fault {count}); carrying on", failure,
                        feature=feature, where=where, count=fault.count, fault_recorded=True)
        else:
            log.error("{feature} fault in {where} again (fault {count}): {last}",
                      feature=feature, where=where, count=fault.count, last=last,
                      fault_recorded=True)
        return fault

    def _store(self, feature: str, last: str) -> Fault:
        previous = self.faults.get(feature)
        fault = Fault((previous.count if previous else 0) + 1, last, self._now())
        self.faults[feature] = fault
        return fault

    def errback(self, feature: str, where: str) -> Callable[[Failure], None]:
        """For ``addErrback``: the failure is recorded and consumed, the chain goes on."""
        def recorded(failure: Failure) -> None:
            self.record(feature, where, failure)
        return recorded

    def guarded(self, feature: str, where: str,
                function: Callable[..., T]) -> Callable[..., T | None]:
        """``function`` that records what it raises and returns None instead: for a timer,
        a LoopingCall or a reader, where an exception would stop every later call."""
        def call(*args: Any, **kwargs: Any) -> T | None:
            try:
                return function(*args, **kwargs)
            except Exception:
                self.record(feature, where)
                return None
        return call

    # -- the catch-all: failures logged anywhere else in the process

    def watch(self, publisher: LogPublisher = globalLogPublisher) -> None:
        if self._publisher is None:
            self._publisher = publisher
            publisher.addObserver(self._observer)

    def unwatch(self) -> None:
        if self._publisher is not None:
            self._publisher.removeObserver(self._observer)
            self._publisher = None

    def observe(self, event: Mapping[str, Any]) -> None:
        failure = event.get("log_failure", event.get("failure"))   # new API, or log.err()
        if not isinstance(failure, Failure) or event.get(RECORDED):
            return
        feature = feature_of(failure, str(event.get("log_namespace", "")), self.features)
        where = str(event.get("log_namespace") or "unknown")
        if where == "log_legacy":   # log.err(): the system is the reader's logPrefix, if any
            where = str(event.get("log_system") or "-").strip("-") or "twisted"
        self._store(feature, f"{where}: {summary(failure)}")

    # -- what is shown

    @property
    def total(self) -> int:
        return sum(f.count for f in self.faults.values())

    def status(self) -> FaultsStatus:
        return FaultsStatus(self.total, dict(sorted(self.faults.items())))

    def metrics(self, configured: Iterable[str] = ()) -> list[Family]:
        """One sample per configured feature (0 until its first fault) and per other key."""
        counts = {key: 0 for key in configured}
        counts.update({key: fault.count for key, fault in self.faults.items()})
        return [FAULTS.with_samples(((key,), n) for key, n in sorted(counts.items()))]


def _feature_keys() -> tuple[str, ...]:
    """Our packages that are features (they hold a ``feature.py``), found without importing
    netsentinel.features, which imports this module."""
    return tuple(sorted(name for name in os.listdir(_PACKAGE)
                        if os.path.isfile(os.path.join(_PACKAGE, name, "feature.py"))))


@attrs.frozen
class FaultsStatus:
    """The ``faults`` section of ``status``: how many, and the last one per feature."""

    total: int = 0
    features: dict[str, Fault] = attrs.field(factory=dict)

    def problems(self) -> list[str]:
        """One line per feature with faults."""
        return [f"{key}: {fault.count} unexpected error(s), last: {fault.last}"
                for key, fault in sorted(self.features.items())]

