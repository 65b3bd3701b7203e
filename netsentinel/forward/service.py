"""The ``forward`` feature: one :class:`Forwarder` per service, and its control commands.

A reload adopts new limits, timeouts, blacklists and backends in place; only a
service whose listening address changed is stopped (gracefully) and rebuilt,
and one that left the file is stopped gracefully.  Every new listener is bound
by ``prepare`` before the reload changes anything, so one that cannot bind
refuses the whole reload.
"""

from __future__ import annotations

import _socket
from collections.abc import Mapping
from typing import Any

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from netsentinel.features import CommandError, CommandHandler, Context
from netsentinel.forward.banning import Banning, adopt
from netsentinel.forward.blacklist import network_of
from netsentinel.forward.config import ForwardConfig, Network, ServiceConfig
from netsentinel.forward.flowreader import FlowReader
from netsentinel.forward.kernel import KernelForwarder
from netsentinel.forward.listener import Forwarder
from netsentinel.forward.nftset import NftMirror
from netsentinel.forward.pool import Pool
from netsentinel.forward.port import bind
from netsentinel.forward.rejectlog import RejectLog
from netsentinel.forward.report import ForwardStatus
from netsentinel.forward.udp import UdpForwarder
from netsentinel.forward.udpsocket import bind_udp
from netsentinel.metrics import Family
from netsentinel.tree import TreeError, error_line, overlap

log = Logger()

AnyForwarder = Forwarder | UdpForwarder | KernelForwarder


class Forwarding(MultiService):
    def __init__(self, config: ForwardConfig, context: Context) -> None:
        super().__init__()
        self.config = config
        self.context = context
        self.forwarders: dict[str, AnyForwarder] = {}
        self.pool = Pool(config.workers, context.reactor, config.worker_priority) \
            if config.workers > 1 else None
        self._bound: dict[str, _socket.socket] = {}    # by prepare(), for the next change
        self.rejections: RejectLog | None = None       # with a mode: kernel service...
        self.reader: FlowReader | None = None          # ...and its conntrack reader
        self._kernel_sides(config)
        for service_config in config.services:
            self._add(service_config)

    def _kernel_sides(self, config: ForwardConfig) -> None:
        """The NFLOG reader of the kernel services' refusals and their conntrack
        reader: there while a kernel service is."""
        wanted = any(s.mode == "kernel" for s in config.services)
        old = self.rejections
        if old is not None and (not wanted or old.group != config.log_group):
            old.stop()
            self.rejections = None
        if wanted and self.rejections is None:
            self.rejections = RejectLog(config.log_group, self._refused, self.context.reactor,
                                        faults=self.context.faults)
            if self.running:
                self.rejections.start()
        if not wanted and self.reader is not None:
            self.reader.stop()
            self.reader = None
        if wanted and self.reader is None:
            self.reader = FlowReader(self.context.reactor)
        for forwarder in self.forwarders.values():
            if isinstance(forwarder, KernelForwarder):
                forwarder.rejections, forwarder.reader = self.rejections, self.reader
                forwarder.group = config.log_group

    def _refused(self, name: str, ip: str, reason: str) -> None:
        forwarder = self.forwarders.get(name)
        if isinstance(forwarder, KernelForwarder) and forwarder.running:
            forwarder.refused(ip, reason)

    def _add(self, config: ServiceConfig) -> AnyForwarder:
        mirror = NftMirror(config.blacklist_set, self.context.bus, self.context.reactor,
                           watch=self.context.sets_watch) \
            if config.blacklist_set else None
        bans = Banning(config, self.context.bus, self.context.reactor,
                       self.context.sets_watch) if config.ban else None
        bound = self._bound.pop(config.name, None)
        forwarder: AnyForwarder
        if config.mode == "kernel":
            forwarder = KernelForwarder(config, self.context.reactor, self.context.bus,
                                        self.config.log_group, self.rejections, self.reader,
                                        self.context.faults, bans, self.context.sets_watch)
        elif config.protocol == "udp":      # UDP sessions stay in the main process
            forwarder = UdpForwarder(config, self.context.reactor, self.context.bus, mirror,
                                     bound, self.context.faults, bans)
        else:
            forwarder = Forwarder(config, self.context.reactor, self.context.bus, mirror,
                                  bound, self.context.faults, bans, self.pool)
        self.forwarders[config.name] = forwarder
        forwarder.setServiceParent(self)
        return forwarder

    def startService(self) -> None:
        for name, sock in self._bound.items():      # a new section, prepared by a reload
            self.forwarders[name].bound = sock
        self._bound = {}
        if self.pool is not None:
            self.pool.start()
        if self.rejections is not None:
            self.rejections.start()
        super().startService()

    def stopService(self) -> defer.Deferred[None]:
        """The services drain first (their connections may live in workers), then the
        workers go."""
        stopped = defer.maybeDeferred(super().stopService)
        if self.rejections is not None:
            self.rejections.stop()
        if self.reader is not None:
            self.reader.stop()
        if self.pool is not None:
            stopped.addBoth(lambda _: self.pool.stop() if self.pool is not None else None)
        return stopped

    def when_ready(self) -> defer.Deferred[None]:
        """Listening is done by the time startService returns; bans once read back,
        kernel services once their rules are in place, and workers once they run."""
        started = [f.bans.started for f in self.forwarders.values() if f.bans is not None]
        started += [f.started for f in self.forwarders.values()
                    if isinstance(f, KernelForwarder)]
        if self.pool is not None:
            started.append(self.pool.when_ready())
        return defer.gatherResults(started, consumeErrors=True).addBoth(lambda _: None)

    def prepare(self, config: ForwardConfig) -> None:
        """Bind every listener ``config`` adds or moves before anything changes, so a
        reload that cannot bind one is refused whole (TreeError) with nothing moved.

        An address that overlaps one this reload releases cannot be bound while the old
        listener holds it: it is bound right after the old one closes."""
        self.abandon()
        wanted = {s.name: s for s in config.services}
        kept = {name for name, f in self.forwarders.items()
                if self.running and name in wanted and f.config.same_listener(wanted[name])}
        releasing = [f.config.listen for name, f in self.forwarders.items()
                     if self.running and name not in kept]
        try:
            for new in config.services:
                if new.name in kept or new.mode == "kernel" or \
                        any(overlap(new.listen, old) for old in releasing):
                    continue
                self._bound[new.name] = \
                    bind_udp(new.listen.host, new.listen.port, new.freebind) \
                    if new.protocol == "udp" else \
                    bind(new.listen.host, new.listen.port, new.backlog, new.freebind)
        except CannotListenError as e:
            self.abandon()
            raise TreeError(f"forward.{new.name}.listen {new.listen}: cannot listen: "
                            f"{e.socketError.strerror or error_line(e)}") from None

    def abandon(self) -> None:
        """Close what ``prepare`` bound: the reload it was for was refused."""
        for sock in self._bound.values():
            sock.close()
        self._bound = {}

    def reconfigure(self, config: ForwardConfig) -> bool:
        """Adopt ``config``: in place where the listener stays, else the old service is
        stopped (its connections drain) and the new one listens at once."""
        self.config = config
        self._resize(config.workers, config.worker_priority)
        self._kernel_sides(config)
        wanted = {s.name: s for s in config.services}
        for name, forwarder in list(self.forwarders.items()):
            new = wanted.get(name)
            if new is not None and forwarder.config.same_listener(new):
                if new.blacklist_set != forwarder.config.blacklist_set:
                    if forwarder.mirror is not None:
                        forwarder.mirror.close()
                    forwarder.mirror = NftMirror(new.blacklist_set, self.context.bus,
                                                 self.context.reactor,
                                                 watch=self.context.sets_watch) \
                        if new.blacklist_set else None
                forwarder.bans = adopt(forwarder.bans, new, self.context.bus,
                                       self.context.reactor, self.context.sets_watch,
                                       bool(forwarder.running))
                forwarder.reconfigure(new)
                del wanted[name]
                continue
            del self.forwarders[name]
            if forwarder.bans is not None and (new is None or new.ban is None):
                forwarder.bans.sets.remove()  # the ban left the file: its rule goes too
            self.removeService(forwarder)     # the port closes now; connections drain
        for new in wanted.values():
            self._add(new)
        self.abandon()
        return True

    def _resize(self, workers: int, priority: int) -> None:
        """New services get the new pool; running ones keep relaying where they do."""
        if self.pool is not None and workers > 1:
            self.pool.resize(workers, priority)
        elif self.pool is None and workers > 1:
            self.pool = Pool(workers, self.context.reactor, priority)
            if self.running:
                self.pool.start()
            for forwarder in self.forwarders.values():
                if isinstance(forwarder, Forwarder):
                    forwarder.pool = self.pool
        elif self.pool is not None:
            pool, self.pool = self.pool, None
            for forwarder in self.forwarders.values():
                if isinstance(forwarder, Forwarder):
                    forwarder.pool = None       # new connections relayed here again
            pool.stop(None)

    def status(self) -> ForwardStatus:
        return ForwardStatus({name: f.status() for name, f in self.forwarders.items()})

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    # -- commands

    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "forward stats": self._stats,
            "forward workers": self._workers,
            "forward stop": self._stop,
            "forward start": self._start,
            "forward sync": self._sync,
            "forward bans": self._bans,
            "forward ban": self._ban,
            "forward unban": self._unban,
            "reject": self._reject,
            "release": self._release,
        }

    def _forwarder(self, name: str) -> AnyForwarder:
        forwarder = self.forwarders.get(name)
        if forwarder is None:
            known = ", ".join(sorted(self.forwarders)) or "none"
            raise CommandError(f"no forward service {name!r} (known: {known})")
        return forwarder

    def _stats(self, args: list[str]) -> Any:
        names = [a for a in args if a != "--json"]
        if len(names) > 1:
            raise CommandError("usage: forward stats [SERVICE] [--json]")
        if names:
            return self._forwarder(names[0]).stats()
        return {name: f.stats() for name, f in self.forwarders.items()}

    def _workers(self, args: list[str]) -> Any:
        """The worker processes: pid and open connections each; {} with ``workers: 1``."""
        if self.pool is None:
            return {}
        return {str(i): {"pid": w.pid, "connections": len(w.open)}
                for i, w in sorted(self.pool.workers.items())}

    def _stop(self, args: list[str]) -> defer.Deferred[str]:
        if len(args) != 1:
            raise CommandError("usage: forward stop SERVICE")
        forwarder = self._forwarder(args[0])
        if forwarder.state == "stopped":
            return defer.succeed(f"OK: {args[0]} was already stopped")
        log.info("forward {name}: stop requested", name=args[0])
        return defer.maybeDeferred(forwarder.stopService).addCallback(
            lambda _: f"OK: {args[0]} stopped")

    def _start(self, args: list[str]) -> str:
        if len(args) != 1:
            raise CommandError("usage: forward start SERVICE")
        forwarder = self._forwarder(args[0])
        if forwarder.state != "stopped":
            raise CommandError(f"{args[0]} is {forwarder.state}, not stopped")
        forwarder.startService()
        return f"OK: {args[0]} started"

    def _sync(self, args: list[str]) -> str:
        for forwarder in self.forwarders.values():
            if forwarder.mirror is not None:
                forwarder.mirror.sync(forwarder.blacklist)
        return "OK: forward blacklist sets synced"

    def _target(self, args: list[str], usage: str) -> tuple[AnyForwarder, Network]:
        if len(args) != 2:
            raise CommandError(f"usage: {usage}")
        forwarder = self._forwarder(args[0])
        try:
            return forwarder, network_of(args[1])
        except ValueError:
            raise CommandError(f"not an IP address or CIDR network: {args[1]!r}") from None

    def _reject(self, args: list[str]) -> str:
        close = "--close" in args
        forwarder, network = self._target([a for a in args if a != "--close"],
                                          "reject SERVICE IP|CIDR [--close]")
        closed = forwarder.reject(network, close)
        log.info("forward {name}: {network} blacklisted ({closed} connections closed)",
                 name=forwarder.name, network=str(network), closed=closed)
        return f"OK: {network} rejected by {forwarder.name}" + (
            f", {closed} connections closed" if close else "")

    def _release(self, args: list[str]) -> str:
        forwarder, network = self._target(args, "release SERVICE IP|CIDR")
        if not forwarder.release(network):
            raise CommandError(f"{network} is not on the blacklist of {forwarder.name}")
        log.info("forward {name}: {network} released", name=forwarder.name,
                 network=str(network))
        return f"OK: {network} released by {forwarder.name}"

    # -- kernel bans

    def _banning(self, name: str) -> Banning:
        bans = self._forwarder(name).bans
        if bans is None:
            raise CommandError(f"{name} has no ban: section")
        return bans

    def _bans(self, args: list[str]) -> Any:
        args = [a for a in args if a != "--json"]
        if len(args) > 1:
            raise CommandError("usage: forward bans [SERVICE]")
        names = args or [n for n, f in self.forwarders.items() if f.bans is not None]
        return {name: self._banning(name).listing() for name in names}

    def _ban(self, args: list[str]) -> defer.Deferred[str]:
        usage = "forward ban SERVICE IP|CIDR [--for SECONDS]"
        seconds: float | None = None
        if "--for" in args:
            at = args.index("--for")
            try:
                seconds = float(args[at + 1])
            except (IndexError, ValueError):
                raise CommandError(f"usage: {usage}") from None
            if not 0 < seconds <= 86400 * 365:
                raise CommandError("--for takes seconds, more than 0 and at most a year")
            args = args[:at] + args[at + 2:]
        forwarder, network = self._target(args, usage)
        bans = self._banning(forwarder.sid)
        try:
            banning = bans.ban(network, seconds)
        except ValueError as e:
            raise CommandError(str(e)) from None
        duration = int(seconds or bans.book.config.duration)
        return banning.addCallback(
            lambda banned: f"OK: {banned} banned from {forwarder.sid} for {duration}s")

    def _unban(self, args: list[str]) -> defer.Deferred[str]:
        forwarder, network = self._target(args, "forward unban SERVICE IP|CIDR")
        lifting = self._banning(forwarder.sid).unban(str(network))
        if lifting is None:
            raise CommandError(f"{network} is not banned from {forwarder.sid}")
        return lifting.addCallback(lambda lifted: f"OK: {lifted} unbanned from {forwarder.sid}")
