"""``twistd netsentinel``: command-line options and the service tree they build."""

from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import Mapping
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.logger import Logger
from twisted.python import usage

from netsentinel import restart
from netsentinel.config import DEFAULT_CONFIG, Config, load_config
from netsentinel.control.datagram import DatagramControlService
from netsentinel.control.server import ControlService
from netsentinel.features import CommandHandler
from netsentinel.gcfreeze import freeze_startup
from netsentinel.logs import logs_to_system_log
from netsentinel.schema import ConfigError
from netsentinel.service import Daemon
from netsentinel.tree import TreeError

log = Logger()


class Options(usage.Options):
    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "YAML configuration file"],
        ["socket", "s", None, "control socket path (overrides control.socket)"],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["forward"] = []

    def opt_forward(self, spec: str) -> None:
        """[udp:]LISTEN=BACKEND, e.g. :2222=127.0.0.1:22 or udp::51820=10.0.0.2:51820
        (repeatable; monconn's -p)"""
        self["forward"].append(spec)


class Netsentinel(Daemon):
    """The daemon with ``restart`` (netsentinel/restart.py) among its commands."""

    def commands(self) -> dict[str, CommandHandler]:
        table = super().commands()
        table["restart"] = restart.Restart(self, self.reactor)
        return table


def makeService(options: Options, reactor: Any = global_reactor) -> Daemon:
    feature_options = {"forward": tuple(options["forward"])}
    passed = restart.adopt_environment()     # sockets from systemd or a restarting daemon
    try:
        config = load_config(options["config"], feature_options)
        # twistd keeps its own options to itself: --syslog, --logger are read from argv
        syslog = logs_to_system_log(sys.argv, os.environ, sys.stdout)
        daemon = build(config, reactor, feature_options, syslog, options["socket"])
    except ConfigError as e:
        # twistd has not started logging yet: this goes to the terminal, and we exit non-zero
        for problem in e.problems:
            print(f"netsentinel: {problem}", file=sys.stderr)
        raise SystemExit(2) from None
    except TreeError as e:
        print(f"netsentinel: {config.file}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    raise_fd_limit()
    _reload_on_sighup(daemon, reactor)
    if passed:
        log.info("{count} listening sockets passed in", count=passed)
    reactor.callWhenRunning(_started)
    freeze_startup()            # built, nothing relayed or asked yet (gcfreeze.py)
    return daemon


def _started() -> None:
    """Every listener is up: sockets passed for none are closed, the starter told."""
    restart.release_leftovers()
    restart.announce_ready()


def build(config: Config, reactor: Any, feature_options: Mapping[str, Any] | None = None,
          syslog: bool = False, socket_path: str | None = None) -> Daemon:
    """The whole service tree, started by nothing: ``twistd`` starts it, check-config
    only builds it, so a file check-config accepts builds the same tree at start.
    Raises :class:`TreeError` for what only starting would have found."""
    socket_path = socket_path or config.control.socket
    daemon = Netsentinel(config, reactor, feature_options, syslog=syslog,
                         control_socket=socket_path)
    ControlService(daemon, socket_path, config.control.mode, reactor).setServiceParent(daemon)
    if config.control.datagram_socket is not None:     # IPMon's scripts: socat UNIX-SENDTO
        DatagramControlService(daemon, config.control.datagram_socket, config.control.mode,
                               reactor).setServiceParent(daemon)
    return daemon


def raise_fd_limit() -> None:
    """The soft open-files limit up to the hard one: 1,024 is the common default, and a
    forwarder under a connection flood would otherwise starve the control socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as e:
        log.warn("cannot raise the open-files limit from {soft}: {error}", soft=soft, error=e)
        return
    log.info("open-files limit raised from {soft} to {hard}", soft=soft, hard=hard)


def _reload_on_sighup(daemon: Daemon, reactor: Any) -> None:
    """The handler only records intent; the reactor runs the reload."""
    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(daemon.reload)
    reactor.callWhenRunning(signal.signal, signal.SIGHUP, handler)
