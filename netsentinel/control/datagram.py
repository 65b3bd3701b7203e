"""The optional datagram control socket: IPMon's ``/run/ipmon.sock`` kept working.

IPMon listened on a unix *datagram* socket for ``update`` and ``reload``, so its users'
scripts do ``printf update | socat - UNIX-SENDTO:/run/ipmon.sock``.  Here one datagram
is one command of the line protocol (any command, blanks and a newline around it
allowed); the reply, one line, goes back to the sender's address once the work is
done.  A sender without an address (socat's ``UNIX-SENDTO`` binds none unless given
``bind=``) cannot be answered: the command still runs, as with IPMon, which answered
``reload`` with an empty datagram and ``update`` with nothing.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger

from netsentinel.control.server import describe_error, remove_stale_socket, render_reply

log = Logger()

MAX_COMMAND = 4096          # as the line socket's longest line


class ControlDatagrams(protocol.DatagramProtocol):
    """One command per datagram, its reply to the sender's bound address."""

    noisy = False

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        words = datagram.decode("utf-8", "replace").split()
        if not words:
            return
        if words[0] == "watch":
            self.reply("ERROR: watch needs a connection: use the control socket "
                       "(socat - UNIX-CONNECT:...)", addr)
            return
        self.daemon.dispatch(words).addCallbacks(
            render_reply, lambda f: "ERROR: " + describe_error(f)).addCallback(self.reply, addr)

    def reply(self, text: str, addr: Any) -> None:
        if not addr or self.transport is None:      # unnamed sender, or the socket closed
            return
        payload = text.encode() + b"\n"
        try:
            try:
                self.transport.write(payload, addr)
            except error.MessageLengthError:
                self.transport.write(f"ERROR: the reply ({len(payload)} bytes) does not fit "
                                     "in a datagram: use the control socket\n".encode(), addr)
        except OSError as e:     # the sender went away before its answer
            log.info("datagram control reply to {addr} not sent: {error}", addr=addr,
                     error=e.strerror)


class DatagramControlService(service.Service):
    """Listens on ``path`` (mode ``mode``); a stale socket file from a crash is replaced,
    one a live process (IPMon itself) still has open is refused."""

    def __init__(self, daemon: Any, path: str, mode: int, reactor: Any) -> None:
        self.daemon, self.path, self.mode, self.reactor = daemon, path, mode, reactor
        self.port: Any = None

    def startService(self) -> None:
        super().startService()
        remove_stale_datagram_socket(self.path)
        old_umask = os.umask(0o177)     # no window in which the socket is world-accessible
        try:
            self.port = self.reactor.listenUNIXDatagram(
                self.path, ControlDatagrams(self.daemon), MAX_COMMAND, mode=self.mode)
        finally:
            os.umask(old_umask)
        log.info("datagram control socket listening on {path}", path=self.path)

    def stopService(self) -> Any:
        super().stopService()
        if self.port is None:
            return None
        d = defer.maybeDeferred(self.port.stopListening)
        self.port = None
        return d.addCallback(lambda _: _unlink(self.path))


def remove_stale_datagram_socket(path: str) -> None:
    """Unlink ``path`` unless a process still receives on it (then refuse to start)."""
    remove_stale_socket(path, socket.SOCK_DGRAM,
                        "another process is receiving on {path} (IPMon still running?)")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
