"""The manhole service: an SSH port on loopback and/or a unix socket, each a Python prompt.

Each session gets a fresh namespace built from the daemon (found as this
service's parent when it starts), so ``config`` is the running configuration
even after reloads.  A reload moves a listener whose address changed, swaps the
authorized keys and host key in place, and closes what was removed, with its
sessions: nobody keeps a root prompt through a door that was shut.
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.logger import Logger

from netsentinel.control.server import listen_unix, remove_stale_socket
from netsentinel.deferreds import observe
from netsentinel.features import CommandHandler, Context
from netsentinel.manhole import hostkey, ssh
from netsentinel.manhole.config import ManholeConfig
from netsentinel.manhole.interpreter import Namespace, UnixLineManhole, namespace

log = Logger()


class UnixFactory(protocol.Factory):
    noisy = False

    def __init__(self, owner: "ManholeService") -> None:
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
        self._changing: defer.Deferred[None] = defer.succeed(None)

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
        return defer.gatherResults([defer.ensureDeferred(self._close_ssh()),
                                    defer.ensureDeferred(self._close_unix())], consumeErrors=True)

    def when_ready(self) -> defer.Deferred[None]:
        return observe(self._changing)

    def reconfigure(self, config: ManholeConfig) -> bool:
        old, self.config = self.config, config
        self._changing = defer.ensureDeferred(self._move(old, config))
        return True

    async def _move(self, old: ManholeConfig, new: ManholeConfig) -> None:
        self.error = None
        try:
            self._set_keys(new)
            if new.listen is not None and self.ssh_factory is not None \
                    and new.host_key != old.host_key:
                self.ssh_factory.set_host_key(hostkey.load_or_create(new.host_key))
            if new.listen != old.listen:
                await self._close_ssh()
                if new.listen is not None:
                    self._open_ssh(new)
            if new.socket != old.socket:
                await self._close_unix()
                if new.socket is not None:
                    self._open_unix(new.socket)
        except Exception as e:   # a port in use, an unusable host key: keep running, say so
            self.error = str(e)
            log.error("manhole: reconfiguration failed: {error}", error=self.error)

    # -- listeners

    def _set_keys(self, config: ManholeConfig) -> None:
        blobs = config.authorized_keys.blobs if config.authorized_keys is not None else ()
        self.keys.replace(blobs)

    def _open_ssh(self, config: ManholeConfig) -> None:
        assert config.listen is not None
        self.ssh_factory = ssh.ManholeFactory(self.names, self.keys,
                                              hostkey.load_or_create(config.host_key))
        self.ssh_port = self.context.reactor.listenTCP(
            config.listen.port, self.ssh_factory, interface=config.listen.host)
        log.info("manhole: SSH on {listen}, keys from {keys}", listen=str(config.listen),
                 keys=config.authorized_keys.path if config.authorized_keys else None)

    def _open_unix(self, path: str) -> None:
        self.unix_factory = UnixFactory(self)
        self.unix_port = listen_unix(self.context.reactor, path, self.unix_factory, 0o600)
        self.unix_path = path
        log.info("manhole: unix socket {path}", path=path)

    async def _close_ssh(self) -> None:
        port, factory, self.ssh_port, self.ssh_factory = self.ssh_port, self.ssh_factory, None, None
        if port is None:
            return
        where = _address(port)
        await defer.maybeDeferred(port.stopListening)
        assert factory is not None
        _close_sessions(factory.sessions)
        log.info("manhole: SSH closed on {listen}", listen=where)

    async def _close_unix(self) -> None:
        port, factory, path = self.unix_port, self.unix_factory, self.unix_path
        self.unix_port = self.unix_factory = self.unix_path = None
        if port is None or path is None:
            return
        await defer.maybeDeferred(port.stopListening)
        assert factory is not None
        _close_sessions(factory.sessions)
        remove_stale_socket(path)
        log.info("manhole: unix socket {path} closed", path=path)

    # -- status

    def status(self) -> dict[str, Any]:
        ssh_sessions = len(self.ssh_factory.sessions) if self.ssh_factory is not None else 0
        unix_sessions = len(self.unix_factory.sessions) if self.unix_factory is not None else 0
        return {
            "ssh": _address(self.ssh_port) if self.ssh_port is not None else None,
            "socket": self.unix_path,
            "host_key": hostkey.fingerprint(self.ssh_factory.host_key)
            if self.ssh_factory is not None else None,
            "authorized_keys": len(self.keys.keys),
            "sessions": ssh_sessions + unix_sessions,
            "error": self.error,
        }

    def commands(self) -> Mapping[str, CommandHandler]:
        return {}


def _close_sessions(sessions: set[Any]) -> None:
    for session in list(sessions):
        session.transport.loseConnection()


def _address(port: Any) -> str:
    host = port.getHost()
    return f"[{host.host}]:{host.port}" if ":" in host.host else f"{host.host}:{host.port}"
