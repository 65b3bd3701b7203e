"""Small Deferred helpers shared by services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer, threads

T = TypeVar("T")


def observe(pending: defer.Deferred[T]) -> defer.Deferred[T]:
    """A new Deferred firing with ``pending``'s result, leaving its chain as it was.

    Lets several callers wait for one operation in progress (a reload, a first
    sync, a graceful stop) without any of them consuming the result.
    """
    observer: defer.Deferred[T] = defer.Deferred()

    def relay(result: Any) -> Any:
        observer.callback(result)
        return result
    pending.addBoth(relay)
    return observer


def in_thread(reactor: Any, function: Callable[[], T]) -> defer.Deferred[T]:
    """``function()`` in the reactor's thread pool: for pure work on frozen values (and
    the libnftables calls of one owner) that would hold the reactor for tens of ms."""
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), function)
