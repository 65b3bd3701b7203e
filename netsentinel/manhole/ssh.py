"""The SSH side: public keys from one authorized_keys file, a Python prompt as the shell.

``ssh -p PORT root@127.0.0.1`` gets the coloured prompt (with a pty), ``echo CODE |
ssh ...`` the plain one, and ``ssh ... CODE`` runs CODE and exits non-zero if it
raised.  The user name is not checked: the key is the identity.
"""

from __future__ import annotations

from typing import Any

from twisted.conch import manhole, manhole_ssh
from twisted.conch.checkers import IAuthorizedKeysDB, SSHPublicKeyChecker
from twisted.conch.error import ValidPublicKey
from twisted.conch.insults import insults
from twisted.conch.interfaces import IConchUser, ISession
from twisted.conch.ssh import session, transport
from twisted.conch.ssh.keys import Key
from twisted.cred import portal
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet import defer
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from netsentinel.manhole.hostkey import fingerprint
from netsentinel.manhole.interpreter import LineManhole, NamespaceFactory, run_source

log = Logger()


@implementer(IAuthorizedKeysDB)
class AuthorizedKeys:
    """The keys of the running config; ``keys`` is replaced in place on reload."""

    def __init__(self, blobs: tuple[bytes, ...]) -> None:
        self.keys: list[Key] = []
        self.replace(blobs)

    def replace(self, blobs: tuple[bytes, ...]) -> None:
        """Later logins check the new keys; sessions already open are not touched."""
        self.keys = [Key.fromString(blob) for blob in blobs]

    def getAuthorizedKeys(self, username: bytes) -> list[Key]:
        return self.keys


class KeyChecker(SSHPublicKeyChecker):
    """Logs each login and each refused key with its fingerprint: who tried a root prompt."""

    def requestAvatarId(self, credentials: Any) -> defer.Deferred[bytes]:
        d: defer.Deferred[bytes] = super().requestAvatarId(credentials)
        user = credentials.username.decode("utf-8", "replace")

        def logged_in(username: bytes) -> bytes:
            log.info("manhole: SSH login as {user} with key {fingerprint}", user=user,
                     fingerprint=_fingerprint(credentials.blob))
            return username

        def refused(failure: Failure) -> Failure:
            # a key offered without a signature is only a question ("would you take this
            # key?"): conch answers ValidPublicKey, an UnauthorizedLogin, before every login
            if failure.check(ValidPublicKey):
                return failure
            if failure.check(UnauthorizedLogin):
                log.warn("manhole: SSH key {fingerprint} refused for {user}", user=user,
                         fingerprint=_fingerprint(credentials.blob))
            return failure
        return d.addCallbacks(logged_in, refused)


def _fingerprint(blob: bytes) -> str:
    return fingerprint(Key.fromString(blob))   # parsed once already by the sanity check


class ManholeSession(manhole_ssh.TerminalSession):
    width, height = 80, 24      # a shell without a pty never gets a window size
    names: NamespaceFactory     # set by the realm

    def __init__(self, original: Any) -> None:
        super().__init__(original)
        self.pty = False
        self.client: Any = None
        self.terminal: insults.ServerProtocol | None = None
        self.ended = False

    def getPty(self, term: bytes, windowSize: Any, attrs: Any) -> None:
        super().getPty(term, windowSize, attrs)
        self.pty = True

    def openShell(self, proto: Any) -> None:
        self.client = proto
        if self.pty:
            self.terminal = insults.ServerProtocol(manhole.ColoredManhole, self.names())
            self.transportFactory(proto, self.terminal, IConchUser(self.original),
                                  self.width, self.height)
            # Ctrl-D: conch would close the channel without an exit status (ssh exits 255)
            setattr(self.terminal.transport, "loseConnection", self.end)  # noqa: B010 -- patching a method
            return
        line = LineManhole(self.names())
        line.makeConnection(proto)
        proto.makeConnection(session.wrapProtocol(line))

    def execCommand(self, proto: Any, command: bytes) -> None:
        self.client = proto
        output, failed = run_source(self.names(), command)
        proto.write(output)
        self.end(1 if failed else 0)

    def end(self, status: int = 0) -> None:
        """Send the exit status, then close the channel (once, whoever asks first)."""
        if self.ended or self.client is None:
            return
        self.ended = True
        self.client.processEnded(Failure(ProcessTerminated(exitCode=status) if status
                                         else ProcessDone(0)))

    def windowChanged(self, newWindowSize: Any) -> None:
        self.height, self.width = newWindowSize[:2]
        if self.terminal is not None:
            prompt: Any = self.terminal.terminalProtocol    # conch annotates it as None
            prompt.terminalSize(self.width, self.height)

    def eofReceived(self) -> None:
        """The client's input ended (``echo CODE | ssh ...``): the session ends, status 0."""
        self.end()


@implementer(IRealm)
class ManholeRealm(manhole_ssh.TerminalRealm):
    sessionFactory = ManholeSession

    def __init__(self, names: NamespaceFactory) -> None:
        super().__init__()
        self.names = names

    def _getAvatar(self, avatarId: bytes) -> Any:
        user = super()._getAvatar(avatarId)
        user.original.getComponent(ISession).names = self.names
        return user


class TrackedTransport(transport.SSHServerTransport):
    """Registers with its factory, so closing a listener can close its sessions too."""

    factory: ManholeFactory

    def connectionMade(self) -> None:
        self.factory.sessions.add(self)
        super().connectionMade()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.sessions.discard(self)
        super().connectionLost(reason)

    def receiveError(self, reasonCode: int, description: bytes) -> None:
        # conch logs every disconnect as an error, even ssh's own at logout
        if reasonCode == transport.DISCONNECT_BY_APPLICATION:
            log.debug("manhole: SSH client disconnected: {reason}",
                      reason=description.decode("utf-8", "replace"))
            return
        super().receiveError(reasonCode, description)


class ManholeFactory(manhole_ssh.ConchFactory):
    protocol = TrackedTransport
    noisy = False

    def __init__(self, names: NamespaceFactory, keys: AuthorizedKeys, host_key: Key) -> None:
        super().__init__(portal.Portal(ManholeRealm(names), [KeyChecker(keys)]))
        self.sessions: set[TrackedTransport] = set()
        self.set_host_key(host_key)

    def set_host_key(self, key: Key) -> None:
        """New connections are offered ``key``; open ones keep the key they verified."""
        self.host_key = key
        # instance attributes: ConchFactory's class-level dicts would be shared by every
        # factory; conch annotates their values as bytes but uses Key objects
        self.publicKeys = {key.sshType(): key.public()}
        self.privateKeys = {key.sshType(): key}           # type: ignore[dict-item]
