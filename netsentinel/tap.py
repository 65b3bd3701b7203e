"""``twistd netsentinel``: command-line options and the service tree they build."""

from __future__ import annotations

import signal
import sys
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.logger import Logger
from twisted.python import usage

from netsentinel.config import DEFAULT_CONFIG, load_config
from netsentinel.control.server import ControlService
from netsentinel.schema import ConfigError
from netsentinel.service import Daemon

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
        """LISTEN=BACKEND, e.g. :2222=127.0.0.1:22 (repeatable; monconn's -p)"""
        self["forward"].append(spec)


def makeService(options: Options, reactor: Any = global_reactor) -> Daemon:
    feature_options = {"forward": tuple(options["forward"])}
    try:
        config = load_config(options["config"], feature_options)
    except ConfigError as e:
        # twistd has not started logging yet: this goes to the terminal, and we exit non-zero
        for problem in e.problems:
            print(f"netsentinel: {problem}", file=sys.stderr)
        raise SystemExit(2) from None
    syslog = "--syslog" in sys.argv   # twistd keeps its own options to itself
    daemon = Daemon(config, reactor, feature_options, syslog=syslog)
    socket_path = options["socket"] or config.control.socket
    ControlService(daemon, socket_path, config.control.mode, reactor).setServiceParent(daemon)
    _reload_on_sighup(daemon, reactor)
    return daemon


def _reload_on_sighup(daemon: Daemon, reactor: Any) -> None:
    """The handler only records intent; the reactor runs the reload."""
    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(daemon.reload)
    reactor.callWhenRunning(signal.signal, signal.SIGHUP, handler)
