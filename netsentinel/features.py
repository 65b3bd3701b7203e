"""What a feature is, and the list of them.

A feature owns one top-level key of the YAML file.  It parses that section into
a frozen config and builds a child service from it; the service tree never
needs to know more.  Modules are named as strings so that a feature is only
imported when the daemon (or the config check) runs.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs
from twisted.internet.defer import Deferred, maybeDeferred, succeed

from netsentinel.actions import ActionRunner
from netsentinel.events import EventBus
from netsentinel.faults import FaultRecorder
from netsentinel.metrics import Family
from netsentinel.nft.watch import SetsWatch
from netsentinel.schema import Section
from netsentinel.snapshot import Snapshot


class FeatureSwitch(Protocol):
    """What the daemon lets one feature (``ha``) do to the others: start and stop the
    children of the keys it holds (``Feature.holds``), and read any feature's status.

    A held key ``FEATURE.PART`` is a part of a running feature (``checks.ddns``: its
    ddns monitors): the child's ``hold(PART)``/``release(PART)`` stop and start it, and
    the child asks ``held_parts(FEATURE)`` when it starts, so it starts without them."""

    def start(self, key: str) -> Deferred[None]: ...     # fires once the child is ready
    def stop(self, key: str) -> Deferred[None]: ...      # fires once it has stopped
    def running(self, key: str) -> bool: ...
    def status(self, key: str) -> Snapshot | None: ...
    def held_parts(self, feature: str) -> frozenset[str]: ...


class Switch:
    """The daemon's :class:`FeatureSwitch` (``daemon``: netsentinel.service.Daemon)."""

    def __init__(self, daemon: Any) -> None:
        self._daemon = daemon

    def start(self, key: str) -> Deferred[None]:
        started = typing.cast("Deferred[None]", self._daemon.attach(key))  # a part: noted
        return self._part(key, "release") if "." in key else started

    def stop(self, key: str) -> Deferred[None]:
        stopped = typing.cast("Deferred[None]", self._daemon.detach(key))
        return self._part(key, "hold") if "." in key else stopped

    def _part(self, key: str, verb: str) -> Deferred[None]:
        feature, _, part = key.partition(".")
        action = getattr(self._daemon.features.get(feature), verb, None)
        if action is None or not self._daemon.attached(feature):
            return succeed(None)        # it asks held_parts when it starts
        return maybeDeferred(action, part).addCallback(lambda _: None)

    def running(self, key: str) -> bool:
        feature = key.partition(".")[0]
        return bool(self._daemon.attached(feature) and self._daemon.running
                    and ("." not in key or self._daemon.runs(key)))

    def held_parts(self, feature: str) -> frozenset[str]:
        return frozenset(key.partition(".")[2] for key in self._daemon.held
                         if key.startswith(f"{feature}.") and not self._daemon.runs(key))

    def status(self, key: str) -> Snapshot | None:
        child = self._daemon.features.get(key)
        return None if child is None else typing.cast(Snapshot, child.status())


@attrs.frozen
class Context:
    """What every feature service may use: the reactor, the bus, the script runner, and
    the recorder of unexpected exceptions (netsentinel.faults)."""

    reactor: Any
    bus: EventBus
    runner: ActionRunner
    syslog: bool = False      # imon's SYSLOGFLAG: scripts learn where we log
    faults: FaultRecorder = attrs.field(
        default=attrs.Factory(lambda self: FaultRecorder(self.reactor), takes_self=True))
    sets_watch: SetsWatch = attrs.field(     # nftables' notifications, for sets that heal
        default=attrs.Factory(lambda self: SetsWatch(self.reactor), takes_self=True))
    switch: FeatureSwitch | None = None     # the daemon's, for a feature that holds others


CommandResult = Any   # str, JSON-able data, or a Deferred firing with one
CommandHandler = Callable[[list[str]], CommandResult]


class StartupError(Exception):
    """The service tree cannot be built; the message is one line for the terminal."""


class CommandError(Exception):
    """A control command was refused; the message is shown as ``ERROR: ...``."""


class FeatureService(Protocol):
    """A child service of the daemon (a twisted Service) with these additions."""

    name: str | None
    running: int

    def setName(self, name: str) -> None: ...
    def setServiceParent(self, parent: Any) -> None: ...
    def startService(self) -> None: ...
    def stopService(self) -> Any: ...
    def status(self) -> Snapshot: ...
    def metrics(self) -> list[Family]: ...
    def commands(self) -> Mapping[str, CommandHandler]: ...
    def reconfigure(self, config: Any) -> bool: ...
    def when_ready(self) -> Deferred[None]: ...


@attrs.frozen
class SetClaim:
    """An nft set a feature will write, and the config key that makes it write it.

    Two features writing one set would undo each other's elements at every sync,
    so the config check refuses that (netsentinel.config).
    """

    family: str
    table: str
    name: str
    key: tuple[str, ...]      # path of the key in the file, e.g. ("docker", "zones", "web")

    @property
    def set(self) -> str:
        return f"{self.family} {self.table} {self.name}"


def _no_sets(config: Any) -> Iterable[SetClaim]:
    return ()


def _no_holds(config: Any) -> Iterable[str]:
    return ()


@attrs.frozen
class Feature:
    """``service`` is "module:Class", imported only when the feature is configured:
    a daemon that only watches addresses never loads the forwarder or pcap."""

    key: str
    parse: Callable[[Section, Mapping[str, Any]], Any]   # None when not configured
    service: str
    sets: Callable[[Any], Iterable[SetClaim]] = _no_sets   # of a parsed config
    nft: Callable[[Any], bool] | None = None   # uses libnftables; None: when it claims sets
    snapshot: str = ""      # "module:Class" of what status() returns, read back by read_status
    # keys of other features whose children stay stopped until this one starts them
    holds: Callable[[Any], Iterable[str]] = _no_holds

    def snapshot_class(self) -> type[Snapshot]:
        module, _, name = self.snapshot.partition(":")
        return typing.cast("type[Snapshot]", getattr(importlib.import_module(module), name))

    def needs_nft(self, config: Any) -> bool:
        return self.nft(config) if self.nft is not None else any(True for _ in self.sets(config))

    def make(self, config: Any, context: Context) -> FeatureService:
        if self.needs_nft(config):
            from netsentinel.nft.client import binding_problem
            problem = binding_problem()
            if problem is not None:
                raise StartupError(f"uses nftables, but {problem}")
        module, _, name = self.service.partition(":")
        factory: Callable[[Any, Context], FeatureService] = getattr(
            importlib.import_module(module), name)
        return factory(config, context)


FEATURE_MODULES = (
    "netsentinel.addresses.feature",
    "netsentinel.forward.feature",
    "netsentinel.traffic.feature",
    "netsentinel.checks.feature",
    "netsentinel.manhole.feature",
    "netsentinel.docker.feature",
    "netsentinel.names.feature",
    "netsentinel.ha.feature",
)


def load_features() -> list[Feature]:
    return [importlib.import_module(name).FEATURE for name in FEATURE_MODULES]
