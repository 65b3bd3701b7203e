"""The ``traffic`` feature service: one child per trigger, and its control commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import defer

from netsentinel.features import CommandError, CommandHandler, Context
from netsentinel.metrics import Family
from netsentinel.snapshot import to_json
from netsentinel.traffic.capture import Opener, open_capture
from netsentinel.traffic.config import TrafficConfig, TriggerConfig
from netsentinel.traffic.report import TrafficStatus, TriggerStatus
from netsentinel.traffic.source import Source
from netsentinel.traffic.trigger import Trigger


class TriggerService(Service):
    """A trigger and the sources that feed it; sockets open only while running."""

    def __init__(self, config: TriggerConfig, context: Context,
                 opener: Opener = open_capture) -> None:
        self.context = context
        self.opener = opener
        self.trigger = Trigger(config, context.reactor, context.runner, context.bus.publish,
                               context.faults)
        self.sources = self._make_sources(config)
        self.setName(config.name)

    def _make_sources(self, config: TriggerConfig) -> list[Source]:
        return [Source(s, self.trigger.receive, self.context.reactor, self.opener,
                       faults=self.context.faults) for s in config.sources]

    def startService(self) -> None:
        super().startService()
        for source in self.sources:
            source.start()

    def stopService(self) -> defer.Deferred[Any]:
        super().stopService()
        for source in self.sources:
            source.stop()
        return self.trigger.shutdown()

    def reconfigure(self, config: TriggerConfig) -> None:
        if config.sources != self.trigger.config.sources:
            for source in self.sources:
                source.stop()
            self.sources = self._make_sources(config)
            if self.running:
                for source in self.sources:
                    source.start()
        self.trigger.reconfigure(config)

    def status(self) -> TriggerStatus:
        return self.trigger.status(tuple(s.status() for s in self.sources))


class TrafficService(MultiService):
    def __init__(self, config: TrafficConfig, context: Context,
                 opener: Opener = open_capture) -> None:
        super().__init__()
        self.context = context
        self.opener = opener
        self.triggers: dict[str, TriggerService] = {}
        for trigger in config.triggers:
            self._add(trigger)

    def _add(self, config: TriggerConfig) -> None:
        child = TriggerService(config, self.context, self.opener)
        child.setServiceParent(self)
        self.triggers[config.name] = child

    def reconfigure(self, config: TrafficConfig) -> bool:
        """Triggers keep their state across a reload; removed ones are shut down."""
        wanted = {t.name: t for t in config.triggers}
        for name in list(self.triggers):
            if name not in wanted:
                self.removeService(self.triggers.pop(name))
        for name, trigger in wanted.items():
            if name in self.triggers:
                self.triggers[name].reconfigure(trigger)
            else:
                self._add(trigger)
        return True

    def when_ready(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def status(self) -> TrafficStatus:
        return TrafficStatus({name: t.status() for name, t in self.triggers.items()})

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"trigger list": self._list, "trigger standby": self._standby}

    def _list(self, args: list[str]) -> dict[str, Any]:
        if args:
            raise CommandError("usage: trigger list")
        return {name: to_json(t) for name, t in self.status().triggers.items()}

    def _standby(self, args: list[str]) -> defer.Deferred[str]:
        if len(args) != 1:
            raise CommandError("usage: trigger standby NAME")
        child = self.triggers.get(args[0])
        if child is None:
            raise CommandError(f"no trigger named {args[0]!r} "
                               f"(known: {', '.join(sorted(self.triggers)) or 'none'})")
        return child.trigger.standby()
