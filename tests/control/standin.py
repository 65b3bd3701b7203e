"""A stand-in for the service tree: the few attributes the control protocols and the
HTTP resource read from the daemon (``dispatch``, ``status`` and its ``snapshot``,
``metrics_text``, ``bus``,
``config.control.status_page``, ``control_clients``), with no features behind them.

``dispatch`` answers ``ping``, ``status``, ``echo WORDS``, ``refuse`` (a CommandError),
``crash`` (an internal error) and ``wait NAME`` (a Deferred the test fires by hand)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.control.clients import ClientCounters, Clients
from netsentinel.events import EventBus
from netsentinel.fdbudget import FdBudget, control_cap
from netsentinel.features import CommandError
from netsentinel.status import DaemonStatus, read_status

STATUS: dict[str, Any] = {
    "version": "0.0-test", "ready": True, "started_at": 1_800_000_000.0, "uptime": 90.0,
    "config": "/etc/netsentinel/netsentinel.yaml", "reloads": {"ok": 1, "refused": 0},
    "events": 4, "actions": {"running": 0, "queued": 0, "finished": 2, "failed": 0,
                             "dropped": 0, "lingering": 0},
    "control": {"dropped": {"socket": {}, "http": {}}}, "faults": {"total": 0, "features": {}},
}
METRICS = "# TYPE netsentinel_up gauge\nnetsentinel_up 1\n"


class StandInDaemon:
    """Stands in for ``netsentinel.service.Daemon`` (the service tree's root)."""

    def __init__(self, status_page: bool = True) -> None:
        self.bus = EventBus()
        self.config: Any = SimpleNamespace(control=SimpleNamespace(status_page=status_page))
        self.control_clients = ClientCounters()
        self.calls: list[list[str]] = []
        self.waiting: dict[str, defer.Deferred[Any]] = {}
        self.status_value: dict[str, Any] = dict(STATUS)

    def status(self) -> dict[str, Any]:
        return self.status_value

    def snapshot(self) -> DaemonStatus:
        return read_status(self.status_value)

    def metrics_text(self) -> str:
        return METRICS

    def dispatch(self, words: list[str]) -> defer.Deferred[Any]:
        self.calls.append(list(words))
        head, args = words[0], words[1:]
        if head == "ping":
            return defer.succeed("PONG")
        if head == "status":
            return defer.succeed(self.status())
        if head == "echo":
            return defer.succeed(" ".join(args))
        if head == "refuse":
            return defer.fail(CommandError("refused: " + " ".join(args)))
        if head == "crash":
            return defer.fail(RuntimeError("boom"))
        if head == "wait":
            d: defer.Deferred[Any] = defer.Deferred()
            self.waiting[args[0]] = d
            return d
        if words[:2] == ["forward", "stats"]:
            return defer.succeed({})
        return defer.fail(CommandError(f"unknown command {' '.join(words)!r} (try 'help')"))


def clients(daemon: StandInDaemon, clock: Clock | None = None) -> Clients:
    """The control socket's admission with a descriptor budget that reads no /proc."""
    clock = clock or Clock()
    budget = FdBudget(limit=lambda: 4096, count=lambda: 10, clock=clock.seconds)
    return Clients("socket", daemon.control_clients, control_cap, budget)
