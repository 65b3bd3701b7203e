"""The in-process event bus: sources publish typed events, sinks subscribe.

Features never call each other; they meet here.  A subscriber that raises is
logged and the others still run, so one broken sink cannot silence a source.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from twisted.logger import Logger

log = Logger()

E = TypeVar("E", bound="Event")


@attrs.frozen
class Event:
    """Base of every event; ``kind`` is the stable name shown by ``watch``."""

    kind = "event"

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True, value_serializer=_serialize)
        return {"event": self.kind, **data}


def _serialize(_inst: Any, _field: Any, value: Any) -> Any:
    if isinstance(value, (frozenset, set)):
        return sorted(str(v) for v in value)
    if isinstance(value, (str, int, float, bool, type(None), dict, list, tuple)):
        return value
    return str(value)


@attrs.frozen
class DaemonReady(Event):
    """The first sync of every feature is applied: the daemon is serving."""

    kind = "ready"
    version: str


@attrs.frozen
class ConfigReloaded(Event):
    kind = "config-reloaded"
    ok: bool
    detail: str


@attrs.frozen
class ActionFinished(Event):
    """A user script ended; ``code`` is None when it was killed or never ran."""

    kind = "action-finished"
    argv: tuple[str, ...]
    code: int | None
    reason: str
    duration: float


@attrs.frozen
class SetsSynced(Event):
    """A feature rewrote these nft sets in one transaction."""

    kind = "sets-synced"
    sets: tuple[str, ...]
    transactions: int


@attrs.frozen
class SyncFailed(Event):
    """A sink could not be brought in line; the next sync tries again."""

    kind = "sync-failed"
    sink: str
    error: str


Subscriber = Callable[[Any], None]


class EventBus:
    """Synchronous publish/subscribe keyed by event class (subclasses included)."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Event], Subscriber]] = []
        self.published = 0
        self.started = time.time()

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call ``callback`` for every ``kind`` event; returns an unsubscribe function."""
        entry = (kind, callback)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)
        return unsubscribe

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone listens for ``kind``: hot paths skip building events nobody reads."""
        if not self._subscribers:
            return False
        return any(issubclass(kind, wanted) for wanted, _ in self._subscribers)

    def publish(self, event: Event) -> None:
        self.published += 1
        for kind, callback in list(self._subscribers):
            if isinstance(event, kind):
                try:
                    callback(event)
                except Exception:
                    log.failure("subscriber {callback!r} failed on {kind}",
                                callback=callback, kind=event.kind)
