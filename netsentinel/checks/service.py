"""The checks feature: one ICMP engine, the monitor instances, and the action sink."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from netsentinel.checks.config import ChecksConfig, DdnsConfig
from netsentinel.checks.ddns import DdnsMonitor
from netsentinel.checks.ddns_report import DdnsStatus
from netsentinel.checks.events import CheckEvent, ImonCall
from netsentinel.checks.failover import FailoverMonitor
from netsentinel.checks.failover_report import FailoverStatus
from netsentinel.checks.gateways import gateway_warnings
from netsentinel.checks.icmp import IcmpEngine
from netsentinel.checks.monitor import Monitor, Tools
from netsentinel.checks.multiwan import MultiWanMonitor
from netsentinel.checks.multiwan_command import uplink_command
from netsentinel.checks.ping import PingMonitor
from netsentinel.checks.ping_report import PingStatus
from netsentinel.checks.report import ChecksStatus
from netsentinel.checks.routes import Netlink
from netsentinel.checks.updown import UpdownMonitor
from netsentinel.checks.updown_report import UpdownStatus
from netsentinel.features import CommandHandler, Context
from netsentinel.metrics import Family
from netsentinel.netlink.reader import RouteMonitor

log = Logger()

T = TypeVar("T")


class ChecksService(service.MultiService):
    def __init__(self, config: ChecksConfig, context: Context) -> None:
        super().__init__()
        self.config = config
        self.context = context
        self.engine: IcmpEngine | None = None
        self.netlink: Netlink | None = None
        self.monitors: dict[str, dict[str, Monitor]] = {}
        self.events = 0
        self._unsubscribe: Any = None
        self._build()
        self._warn_gateways()

    def _warn_gateways(self) -> None:
        """Gateways off their interface's networks: on stderr while the tree is built
        before the reactor runs (check-config, start), in the log at a reload."""
        if not self.config.failover or self.netlink is None:
            return
        for line in gateway_warnings(self.config.failover, self.netlink.networks):
            if getattr(self.context.reactor, "running", False):
                log.warn("{line}", line=line)
            else:
                print(line, file=sys.stderr)
        self.netlink.close()            # opened again when used

    def _build(self) -> None:
        """The monitors, built with the tree (a name two monitors share fails here, at
        check-config); the engine and netlink open their sockets only when used."""
        self.engine = IcmpEngine(self.context.reactor)
        self.netlink = Netlink()
        tools = Tools(self.context.reactor, self.engine, self.context.bus.publish,
                      faults=self.context.faults)
        c = self.config
        pings = [PingMonitor(p, tools) for p in c.ping]
        slots = tools.beat.rate
        for n, ping in enumerate(pings):
            # spread the first checks over an interval on every beat, as fping spaces
            # its targets: a thousand echo requests in one burst would queue their own
            # replies, and one wake-up per target costs the reactor
            ping.offset = (n % slots) * min(ping.config.interval, 1.0) / slots
        built: list[Monitor] = [
            *pings,
            *(UpdownMonitor(u, tools) for u in c.updown),
            *(self._ddns(d, tools) for d in c.ddns),
            *(MultiWanMonitor(f, tools) if f.uplinks else FailoverMonitor(f, tools, self.netlink)
              for f in c.failover),
        ]
        for monitor in built:
            self.monitors.setdefault(monitor.monitor, {})[monitor.config.name] = monitor
            monitor.setServiceParent(self)
        self.tools = tools

    def _ddns(self, config: DdnsConfig, tools: Tools) -> DdnsMonitor:
        assert self.netlink is not None
        return DdnsMonitor(config, tools, self.netlink.addresses, self.context.bus.subscribe,
                           self._link_watch)

    def _link_watch(self, on_change: Callable[[bool], None]) -> RouteMonitor:
        """Address changes, for ddns instances with an interface source."""
        monitor = RouteMonitor(on_change, self.context.reactor)
        monitor.startReading()
        return monitor

    def startService(self) -> None:
        if self.engine is None:     # started again after a stop
            self._build()
        switch = self.context.switch
        for kind in switch.held_parts("checks") if switch is not None else ():
            self.hold(kind)         # ha's master_only monitors, until this node is MASTER
        self._unsubscribe = self.context.bus.subscribe(CheckEvent, self._sink)
        super().startService()

    def stopService(self) -> defer.Deferred[None]:
        d = defer.maybeDeferred(super().stopService)
        for monitor in [m for group in self.monitors.values() for m in group.values()]:
            if monitor.parent is self:          # a held ddns monitor is stopped already
                monitor.disownServiceParent()
        self.monitors.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.engine is not None:
            self.engine.close()
        if self.netlink is not None:
            self.netlink.close()
        self.engine = self.netlink = None
        return d

    # -- parts ha holds (``ha.master_only: [ddns, failover]``)

    def hold(self, kind: str) -> defer.Deferred[None]:
        """Stop the ``ddns`` monitors; let the ``failover`` ones probe on (the uplinks'
        health feeds ha's track weight) without touching the main default route."""
        stopping: list[defer.Deferred[Any]] = []
        for monitor in self.monitors.get(kind, {}).values():
            if isinstance(monitor, FailoverMonitor | MultiWanMonitor):
                monitor.held = True
            elif monitor.parent is self:
                stopping.append(defer.maybeDeferred(monitor.disownServiceParent))
        return defer.gatherResults(stopping).addCallback(lambda _: None)

    def release(self, kind: str) -> defer.Deferred[None]:
        """Start them again: a ddns monitor anew (a stopped one does not restart), so it
        asks its sources and the provider afresh; failover routes at its next round."""
        group = self.monitors.get(kind, {})
        for name, monitor in list(group.items()):
            if isinstance(monitor, FailoverMonitor | MultiWanMonitor):
                monitor.held = False
            elif isinstance(monitor, DdnsMonitor) and monitor.parent is not self:
                group[name] = self._ddns(monitor.config, self.tools)
                group[name].setServiceParent(self)
        return defer.succeed(None)

    def _sink(self, event: CheckEvent) -> None:
        """Every monitor event goes to the log, and to the action script if there is one."""
        self.events += 1
        if event.logged:
            log.info("{monitor} {instance}: {event} {args}{notes}", monitor=event.monitor,
                     instance=event.instance, event=event.name, args=" ".join(event.args),
                     notes="".join(f"; {n}" for n in event.notes))
        if self.config.action is not None:
            self.context.runner.call(self.config.action, ImonCall(event, self.context.syslog))

    def when_ready(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def reconfigure(self, config: ChecksConfig) -> bool:
        """Never in place (the monitors are rebuilt); first the failover routes that only
        the running configuration manages are withdrawn, so none is left unattended."""
        keep = {route for f in config.failover for route in f.routes}
        for monitor in self.monitors.get("failover", {}).values():
            assert isinstance(monitor, FailoverMonitor | MultiWanMonitor)
            monitor.withdraw(keep)
        return False

    def status(self) -> ChecksStatus:
        return ChecksStatus(
            ddns=self._group("ddns", DdnsStatus), failover=self._group("failover", FailoverStatus),
            ping=self._group("ping", PingStatus), updown=self._group("updown", UpdownStatus),
            engine=self.engine.status() if self.engine is not None else None,
            events=self.events)

    def _group(self, kind: str, cls: type[T]) -> dict[str, T] | None:
        """The snapshots of one kind's instances by name; None while none is configured."""
        monitors = self.monitors.get(kind)
        if not monitors:
            return None
        return {name: s for name, m in sorted(monitors.items())
                if isinstance(s := m.status(), cls)}

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"checks": lambda args: self.status().to_json(),
                "failover": lambda args: uplink_command(self.monitors.get("failover", {}), args)}
