"""Restarts that drop no connection: listening sockets handed to the next daemon.

``netsentinel-ctl restart`` starts a new daemon (the same command line) that inherits
every forward listening socket the way systemd socket activation passes them
(``LISTEN_FDS``/``LISTEN_PID``, descriptors from 3): the kernel's listen queue is never
without an owner, so no connect is refused.  Once the new daemon runs it says so on a
pipe (and, under systemd with ``NotifyAccess=all``, sends ``MAINPID``); only then does
the old one stop accepting and stop as on SIGTERM: its open connections (in its workers
too) run until they end or ``wait_timeout`` passes.  The control socket is released
just before the new daemon starts, so it can bind it; if the new daemon fails, the old
one takes it back and keeps running.

The same ``LISTEN_FDS`` sockets come from systemd's socket activation (a
``netsentinel.socket`` unit): :func:`adopt_environment` reads them at start and
``forward`` listeners with the same address take them instead of binding.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import MutableMapping
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()

FIRST_FD = 3            # sd_listen_fds(3): passed sockets start here
READY_FD = "NETSENTINEL_READY_FD"
START_TIMEOUT = 60.0    # s the new daemon has to come up before the restart is abandoned

_inherited: list[socket.socket] = []


def adopt_environment(environ: MutableMapping[str, str] = os.environ) -> int:
    """Take the sockets passed by systemd or a restarting daemon; the variables are
    removed so that no child takes them too.  Returns how many."""
    pid, count = environ.pop("LISTEN_PID", ""), environ.pop("LISTEN_FDS", "0")
    environ.pop("LISTEN_FDNAMES", None)
    if pid != str(os.getpid()) or not count.isdigit():
        return 0
    for fd in range(FIRST_FD, FIRST_FD + int(count)):
        sock = socket.socket(fileno=fd)
        sock.set_inheritable(False)
        _inherited.append(sock)
    return len(_inherited)


def _same_host(bound: str, wanted: str) -> bool:
    wild = ("", "0.0.0.0", "::")
    return bound == wanted or (bound in wild and wanted in wild)


def take(kind: int, host: str, port: int) -> Any:
    """An inherited socket of ``kind`` bound to ``host:port`` (as a raw ``_socket``),
    or None: then the caller binds one."""
    for sock in _inherited:
        bound = sock.getsockname()
        if sock.type == kind and bound[1] == port and _same_host(bound[0], host):
            _inherited.remove(sock)
            import _socket
            raw = _socket.socket(fileno=sock.detach())
            raw.setblocking(False)
            return raw
    return None


def release_leftovers() -> None:
    """Close inherited sockets no service claimed (a listener left the file)."""
    while _inherited:
        _inherited.pop().close()


def announce_ready(environ: MutableMapping[str, str] = os.environ) -> None:
    """Tell whoever started us that we run: the old daemon's pipe, systemd's MAINPID."""
    fd = environ.pop(READY_FD, None)
    if fd is not None and fd.isdigit():
        try:
            os.write(int(fd), b"%d\n" % os.getpid())
            os.close(int(fd))
        except OSError:
            pass
    notify = environ.get("NOTIFY_SOCKET")
    if notify:
        address = "\0" + notify[1:] if notify.startswith("@") else notify
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                s.sendto(b"MAINPID=%d\nREADY=1" % os.getpid(), address)
            except OSError as e:
                log.warn("cannot notify systemd: {error}", error=e)


def listening_sockets(daemon: Any) -> list[Any]:
    """Every forward listening socket of ``daemon`` (TCP ports and UDP readers)."""
    forwarding = getattr(daemon, "features", {}).get("forward")
    found = []
    for forwarder in getattr(forwarding, "forwarders", {}).values():
        for holder in (getattr(forwarder, "port", None), getattr(forwarder, "listener", None)):
            sock = getattr(holder, "sock", None)
            if sock is not None:
                found.append(sock)
    return found


def _control_services(daemon: Any) -> list[Any]:
    from netsentinel.control.datagram import DatagramControlService
    from netsentinel.control.server import ControlService
    services = [s for s in daemon if isinstance(s, ControlService | DatagramControlService)]
    metrics = getattr(daemon, "metrics_server", None)
    return services + ([metrics] if metrics is not None else [])


class Restart:
    """One ``restart``: start the successor, wait for it, then step down."""

    def __init__(self, daemon: Any, reactor: Any) -> None:
        self.daemon = daemon
        self.reactor = reactor

    def __call__(self, args: list[str]) -> defer.Deferred[str]:
        return defer.ensureDeferred(self._run())

    async def _run(self) -> str:
        socks = listening_sockets(self.daemon)
        released = _control_services(self.daemon)
        for service in released:
            await defer.maybeDeferred(service.stopService)
        try:
            pid = await self._successor(socks)
        except Exception as e:
            for service in released:
                service.startService()
            log.error("restart failed, this daemon keeps running: {error}", error=e)
            raise
        forward = self.daemon.status().get("forward") or {}
        open_now = sum(v.get("connections", 0) for v in forward.values())
        log.info("restart: daemon {pid} took over {count} listening sockets; this one "
                 "(pid {me}) stops accepting and drains {open} connections",
                 pid=pid, count=len(socks), me=os.getpid(), open=open_now)
        self.reactor.callLater(0.05, self.reactor.stop)
        return (f"OK: daemon {pid} took over {len(socks)} listening sockets; pid "
                f"{os.getpid()} drains {open_now} connections (up to wait_timeout)")

    async def _successor(self, socks: list[Any]) -> int:
        read, write = os.pipe()
        fds = [s.fileno() for s in socks]
        env = {**os.environ, READY_FD: str(write)}
        argv = [sys.executable, "-m", "netsentinel.restart", ",".join(map(str, fds)),
                sys.executable, *sys.argv]
        # the successor starts at this daemon's starting nice, not its control.priority:
        # it applies its own, and takes the starting one back when the key goes
        started, now = self.daemon.priority.initial, os.getpriority(os.PRIO_PROCESS, 0)
        if started != now:
            argv = ["nice", "-n", str(started - now), *argv]
        child = subprocess.Popen(argv, env=env, pass_fds=[*fds, write], start_new_session=True)
        os.close(write)
        try:
            return await self._wait_ready(read, child)
        finally:
            os.close(read)

    async def _wait_ready(self, read: int, child: subprocess.Popen[bytes]) -> int:
        """The successor writes its pid once running; EOF first means it failed."""
        from twisted.internet import threads
        line = await threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                               _read_line, read, START_TIMEOUT)
        if not line.strip().isdigit():
            if child.poll() is None:
                child.kill()
            raise RuntimeError(f"the new daemon did not start (exit {child.wait()}); "
                               "see its log lines above")
        return int(line)


def _read_line(fd: int, timeout: float) -> bytes:
    import select
    if not select.select([fd], [], [], timeout)[0]:
        return b""
    return os.read(fd, 64)


def main(argv: list[str]) -> None:
    """``python -m netsentinel.restart FD,FD,... PROGRAM ARGS...``: the sockets moved to
    3, 4, ... with ``LISTEN_FDS``/``LISTEN_PID`` set, as systemd passes them, then exec."""
    import fcntl
    fds = [int(fd) for fd in argv[1].split(",") if fd]
    floor = FIRST_FD + len(fds)                 # every move lands above the targets
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, floor) for fd in fds]
    ready = os.environ.get(READY_FD, "")
    if ready.isdigit():
        os.environ[READY_FD] = str(fcntl.fcntl(int(ready), fcntl.F_DUPFD, floor))
        os.close(int(ready))
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(high, start=FIRST_FD):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.update(LISTEN_FDS=str(len(fds)), LISTEN_PID=str(os.getpid()))
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv)
