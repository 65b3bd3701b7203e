"""The manhole service: an SSH port on loopback and/or a unix socket, each a Python prompt.

Each session gets a fresh namespace built from the daemon (found as this
service's parent when it starts), so ``config`` is the running configuration
even after reloads.  A reload moves a listener whose address changed (the new
one opens first, so one that cannot open leaves the old in place), swaps the
authorized keys and host key in place, and closes what was removed, with its
sessions: nobody keeps a root prompt through a door that was shut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from netsentinel.control.server import listen_unix, remove_stale_socket
from netsentinel.deferreds import observe
from netsentinel.features import CommandHandler, Context
from netsentinel.manhole import hostkey, ssh
from netsentinel.manhole.config import ManholeConfig
from netsentinel.manhole.interpreter import Namespace, UnixLineManhole, namespace
from netsentinel.manhole.report import ManholeStatus
from netsentinel.metrics import Family
from netsentinel.tree import TreeError

log = Logger()


class UnixFactory(protocol.Factory):
    noisy = False

    def __init__(self, owner: ManholeService) -> None:
        self.owner = owner
        self.sessions: set[UnixLineManhole] = set()

    def buildProtocol(self, addr: Any) -> UnixLineManhole:
        return UnixLineManhole(self.owner.names(), self.sessions)


class ManholeService(service.Service):
    def __init__(self, config: ManholeConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.daemon: Any = None
        self.keys = ssh.AuthorizedKeys(())
        self.ssh_factory: ssh.ManholeFactory | None = None
        self.ssh_port: Any = None
        self.unix_factory: UnixFactory | None = None
        self.unix_port: Any = None
        self.unix_path: str | None = None
        self.error: str | None = None
        self._ahead: dict[str, tuple[Any, Any]] = {}    # "ssh"/"unix" -> (port, factory)
        self._changing: defer.Deferred[None] = defer.succeed(None)
        if config.listen is not None:   # an unusable host key fails the tree, not the start
            hostkey.check(config.host_key)

    def names(self) -> Namespace:
        return namespace(self.daemon)

    # -- life cycle

    def startService(self) -> None:
        super().startService()
        self.daemon = self.parent
        # at start a listener that cannot open stops the daemon, loudly
        self._set_keys(self.config)
        if self.config.listen is not None:
            self._open_ssh(self.config)
        if self.config.socket is not None:
            self._open_unix(self.config.socket)

    def stopService(self) -> defer.Deferred[Any]:
        super().stopService()
        return defer.gatherResults([defer.ensureDeferred(self._replace_ssh(None)),
                                    defer.ensureDeferred(self._replace_unix(None))],
                                   consumeErrors=True)

    def when_ready(self) -> defer.Deferred[None]:
        return observe(self._changing)

    def prepare(self, config: ManholeConfig) -> None:
        """Open every listener ``config`` adds or moves before the reload changes
        anything, so one that cannot open (a port another program holds) refuses the
        whole reload (TreeError) with the old listeners kept. A new SSH port equal to the
        old one (another host) can only open after the old closes: it is opened then."""
        self.abandon()
        old = self.config if self.running else None
        try:
            if config.listen is not None and (old is None or (
                    config.listen != old.listen and
                    (old.listen is None or old.listen.port != config.listen.port))):
                where = f"manhole.listen {config.listen}"
                self._ahead["ssh"] = self._listen_ssh(config)
            if config.socket is not None and (old is None or config.socket != old.socket):
                where = f"manhole.socket {config.socket}"
                self._ahead["unix"] = self._listen_unix(config.socket)
        except (CannotListenError, OSError, RuntimeError) as e:
            self.abandon()
            reason = e.socketError.strerror if isinstance(e, CannotListenError) else str(e)
            raise TreeError(f"{where}: cannot listen: {reason}") from None

    def abandon(self) -> None:
        """Close what ``prepare`` opened: the reload it was for was refused."""
        for kind, (port, _) in self._ahead.items():
            port.stopListening()
            if kind == "unix":
                remove_stale_socket(port.port)
        self._ahead = {}

    def reconfigure(self, config: ManholeConfig) -> bool:
        old, self.config = self.config, config
        self._changing = defer.ensureDeferred(self._move(old, config))
        return True

    async def _move(self, old: ManholeConfig, new: ManholeConfig) -> None:
        self.error = None
        try:
            self._set_keys(new)
            if new.listen != old.listen:
                await self._replace_ssh(new if new.listen is not None else None)
            elif self.ssh_factory is not None and new.host_key != old.host_key:
                self.ssh_factory.set_host_key(hostkey.load_or_create(new.host_key))
            if new.socket != old.socket:
                await self._replace_unix(new.socket)
        except Exception as e:   # a port in use, an unusable host key: the old one stays
            self.error = str(e)
            log.error("manhole: reconfiguration failed: {error}", error=self.error)

    # -- listeners: a new one opens before the old one closes, so a failure leaves the old

    def _set_keys(self, config: ManholeConfig) -> None:
        blobs = config.authorized_keys.blobs if config.authorized_keys is not None else ()
        self.keys.replace(blobs)

    def _listen_ssh(self, config: ManholeConfig) -> tuple[Any, ssh.ManholeFactory]:
        assert config.listen is not None
        factory = ssh.ManholeFactory(self.names, self.keys, hostkey.load_or_create(config.host_key))
        return self.context.reactor.listenTCP(config.listen.port, factory,
                                              interface=config.listen.host), factory

    def _listen_unix(self, path: str) -> tuple[Any, UnixFactory]:
        factory = UnixFactory(self)
        return listen_unix(self.context.reactor, path, factory, 0o600), factory

    def _open_ssh(self, config: ManholeConfig) -> None:
        assert config.listen is not None
        self.ssh_port, self.ssh_factory = self._ahead.pop("ssh", None) or self._listen_ssh(config)
        log.info("manhole: SSH on {listen}, keys from {keys}", listen=str(config.listen),
                 keys=config.authorized_keys.path if config.authorized_keys else None)

    def _open_unix(self, path: str) -> None:
        self.unix_port, self.unix_factory = self._ahead.pop("unix", None) or self._listen_unix(path)
        self.unix_path = path
        log.info("manhole: unix socket {path}", path=path)

    async def _replace_ssh(self, config: ManholeConfig | None) -> None:
        port, factory = self.ssh_port, self.ssh_factory
        if config is not None:
            self._open_ssh(config)
        else:
            self.ssh_port = self.ssh_factory = None
        if port is not None and factory is not None:
            where = _address(port)
            await _close(port, factory.sessions)
            log.info("manhole: SSH on {listen} closed", listen=where)

    async def _replace_unix(self, path: str | None) -> None:
        port, factory, old_path = self.unix_port, self.unix_factory, self.unix_path
        if path is not None:
            self._open_unix(path)
        else:
            self.unix_port = self.unix_factory = self.unix_path = None
        if port is not None and factory is not None and old_path is not None:
            await _close(port, factory.sessions)
            remove_stale_socket(old_path)
            log.info("manhole: unix socket {path} closed", path=old_path)

    # -- status

    def status(self) -> ManholeStatus:
        ssh_sessions = len(self.ssh_factory.sessions) if self.ssh_factory is not None else 0
        unix_sessions = len(self.unix_factory.sessions) if self.unix_factory is not None else 0
        return ManholeStatus(
            ssh=_address(self.ssh_port) if self.ssh_port is not None else None,
            socket=self.unix_path,
            host_key=hostkey.fingerprint(self.ssh_factory.host_key)
            if self.ssh_factory is not None else None,
            authorized_keys=len(self.keys.keys),
            sessions=ssh_sessions + unix_sessions,
            error=self.error,
        )

    def metrics(self) -> list[Family]:
        return self.status().metrics()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {}


async def _close(port: Any, sessions: set[Any]) -> None:
    """Stop listening, then end the sessions that came in through ``port``."""
    await defer.maybeDeferred(port.stopListening)
    for session in list(sessions):
        session.transport.loseConnection()


def _address(port: Any) -> str:
    host = port.getHost()
    return f"[{host.host}]:{host.port}" if ":" in host.host else f"{host.host}:{host.port}"
