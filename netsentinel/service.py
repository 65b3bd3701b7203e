"""The service tree: one child per configured feature, and reload as a diff.

``reload`` re-reads the file; a file that fails validation changes nothing.
A feature whose section is unchanged is left alone, one that can adopt its new
section in place (``reconfigure``) keeps its sockets and connections, any
other is stopped and rebuilt.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.application.service import MultiService
from twisted.internet import defer, threads
from twisted.logger import Logger

if TYPE_CHECKING:
    from netsentinel.control.web import MetricsServer

from netsentinel import __version__
from netsentinel.actions import ActionRunner
from netsentinel.config import Config, load_config
from netsentinel.control.clients import ClientCounters
from netsentinel.deferreds import observe
from netsentinel.events import ConfigReloaded, DaemonReady, EventBus
from netsentinel.features import (
    CommandError,
    CommandHandler,
    Context,
    Feature,
    FeatureService,
    Switch,
    load_features,
)
from netsentinel.history import Sampler
from netsentinel.metrics import Family, counter, gauge, render
from netsentinel.priority import Priority
from netsentinel.schema import ConfigError
from netsentinel.status import DaemonStatus
from netsentinel.tree import TreeError, conflicts, error_line

log = Logger()

BUILD_INFO = gauge("netsentinel_build_info", "Always 1; the running version is the label.",
                   "version")
START_TIME = gauge("netsentinel_start_time_seconds", "When the daemon started (Unix time).")
UPTIME = gauge("netsentinel_uptime_seconds", "Seconds since the daemon started.")
READY = gauge("netsentinel_ready", "1 once the first sync of every feature is applied.")
RELOADS = counter("netsentinel_reloads_total",
                  "Configuration reloads: ok (applied), refused (the file failed validation or "
                  "the new tree could not be built or bound: nothing changed) or failed "
                  "(an error part-way).",
                  "result")
BUS_EVENTS = counter("netsentinel_bus_events_total", "Events published on the internal bus.")


class Daemon(MultiService):
    """Root service: owns the bus, the action runner and the feature children."""

    def __init__(self, config: Config, reactor: Any,
                 options: Mapping[str, Any] | None = None, syslog: bool = False,
                 control_socket: str | None = None) -> None:
        """Builds the whole tree and opens nothing: what would fail at start (two sections
        on one port, a child that cannot be built) raises :class:`TreeError` here."""
        super().__init__()
        self.control_socket = control_socket or config.control.socket
        problems = conflicts(config, self.control_socket)
        if problems:
            raise TreeError("; ".join(problems))
        self.config = config
        self.reactor = reactor
        self.options = dict(options or {})
        self.bus = EventBus()
        self.runner = ActionRunner(reactor, self.bus, config.actions.concurrency,
                                   config.actions.queue, config.actions.timeout)
        self.context = Context(reactor, self.bus, self.runner, syslog, switch=Switch(self))
        self.priority = Priority()      # control.priority; scripts keep the starting nice
        self.runner.spawned = self.priority.started
        self.features: dict[str, FeatureService] = {}
        self.held: frozenset[str] = frozenset()   # keys a feature (ha) starts and stops
        self.released: set[str] = set()           # held keys it has started
        self._spent: set[str] = set()             # keys whose child has been started
        self.ready = False
        self.started_at = time.time()
        self.reloads: Counter[str] = Counter(ok=0, refused=0, failed=0)
        self.metrics_server: MetricsServer | None = None
        self.control_clients = ClientCounters()     # control socket and HTTP, refused/dropped
        self._serve_metrics(config)
        self.history = Sampler(self)      # the status page's graphs (control.history)
        self.history.setServiceParent(self)
        self._known: dict[str, Feature] = {f.key: f for f in load_features()}
        self._reloading: defer.Deferred[str] | None = None
        self.held = self._holds(config)
        for key, section in config.features.items():
            self._add(key, self._make(key, section))

    def _make(self, key: str, section: Any) -> FeatureService:
        """A feature's child, built and named but not started; any failure is the config's."""
        try:
            child = self._known[key].make(section, self.context)
            child.setName(key)
        except Exception as e:
            raise TreeError(f"{key}: {error_line(e)}") from e
        return child

    def _add(self, key: str, child: FeatureService) -> FeatureService:
        self.features[key] = child
        self._spent.discard(key)
        if self.runs(key):
            self._spent.add(key)
            child.setServiceParent(self)
        return child

    def _holds(self, config: Config) -> frozenset[str]:
        return frozenset(held for key, section in config.features.items()
                         for held in self._known[key].holds(section))

    def runs(self, key: str) -> bool:
        """Whether ``key``'s child is (to be) started: not held, or released."""
        return key not in self.held or key in self.released

    def attached(self, key: str) -> bool:
        return getattr(self.features.get(key), "parent", None) is self

    def attach(self, key: str) -> defer.Deferred[None]:
        """Start a held feature (ha: this node became MASTER). A child that ran before is
        rebuilt from its section, as a reload would; never call this from a startService."""
        self.released.add(key)
        if key not in self.features or self.attached(key):
            return defer.succeed(None)
        if key in self._spent:
            self.features[key] = self._make(key, self.config.features[key])
        self._spent.add(key)
        child = self.features[key]
        child.setServiceParent(self)
        return child.when_ready()

    def detach(self, key: str) -> defer.Deferred[None]:
        """Stop a held feature gracefully (ha: BACKUP or FAULT); its status stays readable."""
        self.released.discard(key)
        if key not in self.held or not self.attached(key):
            return defer.succeed(None)
        child: Any = self.features[key]
        return defer.maybeDeferred(child.disownServiceParent).addCallback(lambda _: None)

    def _serve_metrics(self, config: Config) -> None:
        if config.control.metrics is not None:
            # imported only when asked for: twisted.web costs every daemon 4 MB otherwise
            from netsentinel.control.web import MetricsServer
            self.metrics_server = MetricsServer(self, config.control.metrics, self.reactor)
            self.metrics_server.setServiceParent(self)

    async def _rebind_metrics(self, new: Config) -> None:
        """A new ``control.metrics`` address: the old port is closed before the new bind."""
        if self.metrics_server is not None:
            await defer.maybeDeferred(self.removeService, self.metrics_server)
            self.metrics_server = None
        self._serve_metrics(new)
        if self.metrics_server is not None:
            await self.metrics_server.when_listening()

    def startService(self) -> None:
        self.started_at = time.time()
        self.runner.stopping = False
        self.context.faults.watch()   # failures logged anywhere count as faults too
        self.priority.apply(self.config.control.priority)
        super().startService()
        self._wait_ready([c for k, c in self.features.items() if self.runs(k)]).addCallback(
            self._became_ready)

    def stopService(self) -> defer.Deferred[None]:
        """Features stop first (a trigger may still run its stop command), then the runner
        ends what runs and starts nothing queued: no script outlives the daemon."""
        self.context.faults.unwatch()
        stopped = defer.maybeDeferred(super().stopService)
        stopped.addBoth(lambda result: self.runner.stop().addCallback(lambda _: result))
        return stopped

    def _became_ready(self, _: object) -> None:
        self.ready = True
        log.info("netsentinel {version} ready: {features}", version=__version__,
                 features=", ".join(self.features) or "no features configured")
        self.bus.publish(DaemonReady(__version__))

    @staticmethod
    def _wait_ready(children: list[FeatureService]) -> defer.Deferred[Any]:
        return defer.gatherResults([c.when_ready() for c in children], consumeErrors=True)

    # -- reload

    def reload(self) -> defer.Deferred[str]:
        """Re-read the config file and apply the difference; fires with the outcome."""
        if self._reloading is not None:
            return observe(self._reloading)   # one reload at a time; same outcome for both
        reloading = self._reloading = defer.ensureDeferred(self._reload())
        reloading.addBoth(self._reload_done)
        return reloading

    def _reload_done(self, outcome: Any) -> Any:
        self._reloading = None
        return outcome

    async def _reload(self) -> str:
        try:
            new = await self._read()
            fresh = self._prepare(new)
        except (ConfigError, TreeError) as e:
            return self._refused(e)
        try:
            changed = await self._apply(new, fresh)
        except Exception as e:   # a bug past _prepare: one line here, the traceback logged
            log.failure("reload failed part-way")
            self.reloads["failed"] += 1
            self.bus.publish(ConfigReloaded(False, error_line(e)))
            return f"ERROR: reload failed part-way (see the log): {error_line(e)}"
        self.config = new
        self.reloads["ok"] += 1
        detail = f"changed: {', '.join(changed)}" if changed else "no changes"
        log.info("configuration reloaded from {file} ({detail})", file=new.file, detail=detail)
        self.bus.publish(ConfigReloaded(True, detail))
        return f"OK: reloaded ({detail})"

    async def _read(self) -> Config:
        """``load_config`` in the reactor's thread pool: reading, parsing and validating a
        large file must not stop the daemon answering (a test's memory reactor has no
        pool: it reads inline)."""
        pool = getattr(self.reactor, "getThreadPool", None)
        if pool is None:
            return load_config(self.config.file, self.options)
        config: Config = await threads.deferToThreadPool(
            self.reactor, pool(), load_config, self.config.file, self.options)
        return config

    def _refused(self, e: ConfigError | TreeError) -> str:
        reasons = ([str(p) for p in e.problems] if isinstance(e, ConfigError)
                   else [f"{self.config.file}: {e}"])
        for reason in reasons:
            log.error("reload refused: {problem}", problem=reason)
        self.reloads["refused"] += 1
        self.bus.publish(ConfigReloaded(False, "; ".join(reasons)))
        return "ERROR: reload refused, running configuration kept: " + "; ".join(reasons)

    def _prepare(self, new: Config) -> dict[str, FeatureService]:
        """All a reload can fail on, done before it changes anything: the tree's conflicts,
        the changed features' new children, and what a child binds ahead (``prepare``:
        the running child when it adopts in place, else the new one)."""
        problems = conflicts(new, self.control_socket)
        if problems:
            raise TreeError("; ".join(problems))
        fresh = {key: self._make(key, section) for key, section in new.features.items()
                 if section != self.config.features.get(key)}
        prepared: list[Any] = []
        try:
            for key, child in fresh.items():
                target: Any = self.features[key] if self.attached(key) else child
                if hasattr(target, "prepare"):
                    prepared.append(target)
                    target.prepare(new.features[key])
        except Exception as e:
            for target in prepared:
                target.abandon()
            if isinstance(e, TreeError):
                raise
            raise TreeError(f"{key}: {error_line(e)}") from e
        return fresh

    async def _apply(self, new: Config, fresh: Mapping[str, FeatureService]) -> list[str]:
        changed: list[str] = []
        touched: list[FeatureService] = []
        old_control = self.config.control
        if (new.control.socket, new.control.mode, new.control.datagram_socket) != (
                old_control.socket, old_control.mode, old_control.datagram_socket):
            log.warn("control socket settings change only at restart")
        unbound = self.metrics_server is not None and self.metrics_server.error is not None
        if new.control.metrics != old_control.metrics or unbound:   # a failed bind is retried
            await self._rebind_metrics(new)
            error = self.metrics_server.error if self.metrics_server is not None else None
            changed.append("control.metrics" + (f" (not listening: {error})" if error else ""))
        if new.control.status_page != old_control.status_page:   # read per request: no rebind
            changed.append("control.status_page")
        if new.control.priority != old_control.priority:
            self.priority.apply(new.control.priority)
            changed.append("control.priority")
        self.runner.timeout = new.actions.timeout
        self.runner.concurrency = new.actions.concurrency
        self.runner.queue_limit = new.actions.queue
        self.held = self._holds(new)
        for key in self._known:
            old_section = self.config.features.get(key)
            new_section = new.features.get(key)
            if old_section == new_section:
                continue
            changed.append(key)
            child = self.features.get(key)
            attached = self.attached(key)
            if attached and new_section is not None and child and child.reconfigure(new_section):
                touched.append(child)
                continue
            if child is not None:
                del self.features[key]
                if attached:
                    await defer.maybeDeferred(self.removeService, child)
            if new_section is not None:
                touched.append(self._add(key, fresh[key]))
        for key in set(self.features) - self.held:     # no longer held: runs always
            if not self.attached(key):
                touched.append(self._add(key, self.features[key]))
        await self._wait_ready([c for c in touched if getattr(c, "parent", None) is self])
        return changed

    # -- control commands

    def commands(self) -> dict[str, CommandHandler]:
        table: dict[str, CommandHandler] = {
            "ping": lambda args: "PONG",
            "status": lambda args: self.status(),
            "reload": lambda args: self.reload(),
            "update": lambda args: self.update(),
            "version": lambda args: __version__,
            "metrics": lambda args: self.metrics_text().rstrip("\n"),
        }
        for child in self.features.values():
            table.update(child.commands())
        table["help"] = lambda args: "commands: " + ", ".join(sorted(table))
        return table

    def dispatch(self, words: list[str]) -> defer.Deferred[Any]:
        """Run a control command given as words; the longest known prefix wins."""
        table = self.commands()
        for n in range(len(words), 0, -1):
            handler: Callable[[list[str]], Any] | None = table.get(" ".join(words[:n]))
            if handler is not None:
                return defer.maybeDeferred(handler, words[n:])
        shown = " ".join(words) or "(empty)"
        return defer.fail(CommandError(f"unknown command {shown!r} (try 'help')"))

    def update(self) -> defer.Deferred[str]:
        """Force every feature that syncs state to do so now (IPMon's ``update``)."""
        table = self.commands()
        syncs = [defer.maybeDeferred(table[k], []) for k in table if k.endswith(" sync")]
        return defer.gatherResults(syncs, consumeErrors=True).addCallback(
            lambda _: "OK: synced")

    def status(self) -> dict[str, Any]:
        """What ``status`` prints."""
        return self.snapshot().to_json()

    def snapshot(self, features: bool = True) -> DaemonStatus:
        """The spine's values and (unless ``features`` is false) every feature's snapshot."""
        return DaemonStatus(
            version=__version__,
            ready=self.ready,
            started_at=self.started_at,
            uptime=round(time.time() - self.started_at, 3),
            config=self.config.file,
            reloads=dict(self.reloads),
            events=self.bus.published,
            actions=self.runner.status(),
            control=self.control_clients.status(),
            priority=self.priority.status(),
            faults=self.context.faults.status(),
            metrics=self.metrics_server.status() if self.metrics_server is not None else None,
            nftables=watch.status() if (watch := self.context.sets_watch).writers else None,
            features={key: child.status() for key, child in self.features.items()}
            if features else {})

    # -- metrics

    def metrics(self) -> list[Family]:
        """The spine's families, then every feature's."""
        spine = self.snapshot(features=False)
        families = [
            BUILD_INFO.of(1, __version__),
            START_TIME.of(spine.started_at),
            UPTIME.of(spine.uptime),
            READY.of(spine.ready),
            RELOADS.with_samples(((result,), n) for result, n in spine.reloads.items()),
            BUS_EVENTS.of(spine.events),
            *spine.actions.metrics(),
            *self.context.faults.metrics(self.features),
            *self.context.sets_watch.status().metrics(),
        ]
        families += self.control_clients.metrics()
        for child in self.features.values():
            families += child.metrics()
        return families

    def metrics_text(self) -> str:
        """The Prometheus text exposition, as served on /metrics."""
        return render(self.metrics())
