"""What every monitor instance shares: its config, the engine, a clock and the bus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
from twisted.application import service
from twisted.internet import defer

from netsentinel.checks.events import CheckEvent
from netsentinel.checks.icmp import IcmpEngine
from netsentinel.checks.periodic import Beat, Periodic
from netsentinel.faults import FaultRecorder
from netsentinel.metrics import Family

Publish = Callable[[CheckEvent], None]


class MonitorStatus(Protocol):
    """An instance's snapshot; it is told the instance's name, which is its key."""

    def problems(self, name: str) -> list[str]: ...
    def metrics(self, name: str) -> list[Family]: ...


@attrs.frozen
class Tools:
    """Handed to each monitor: time, pings, where its events go, and the shared beat."""

    clock: Any
    engine: IcmpEngine
    publish: Publish
    beat: Beat = attrs.field(default=attrs.Factory(lambda self: Beat(self.clock), takes_self=True))
    faults: FaultRecorder = attrs.field(
        default=attrs.Factory(lambda self: FaultRecorder(self.clock), takes_self=True))


class Monitor(service.Service):
    """A named instance that runs ``check()`` on a timer and reports ``status()``."""

    monitor = "monitor"

    def __init__(self, config: Any, tools: Tools) -> None:
        self.config = config
        self.tools = tools
        self.offset = 0.0           # delay of the first check, to spread many monitors
        self.setName(f"{self.monitor} {config.name}")   # unique per kind: imon names all four after the instance
        name = f"{self.monitor} {config.name}"
        self.periodic = Periodic(tools.beat, self.check, self.next_delay, name,
                                 tools.faults.errback("checks", name))

    def startService(self) -> None:
        super().startService()
        self.periodic.start(self.offset)

    def stopService(self) -> None:
        super().stopService()
        self.periodic.stop()

    def next_delay(self) -> float:
        return float(self.config.interval)

    def check(self) -> defer.Deferred[Any]:
        raise NotImplementedError

    def event(self, name: str, *args: str, notes: tuple[str, ...] = (),
              logged: bool = True) -> None:
        self.tools.publish(CheckEvent(self.monitor, self.config.name, name, args, notes, logged))

    def status(self) -> MonitorStatus:
        raise NotImplementedError

    def metrics(self) -> list[Family]:
        """This instance's samples, taken from ``status()``; families are shared by type."""
        return self.status().metrics(self.config.name)
