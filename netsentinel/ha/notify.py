"""keepalived's notify FIFO: its line format, and a reactor reader for it.

keepalived writes one line per state change (keepalived.conf(5), ``notify_fifo``)::

    INSTANCE "VI_WAN" MASTER 100
    GROUP "VG_1" BACKUP
    INSTANCE "VI_WAN" FAULT 100

The reader opens the FIFO read-write, so it is never at end-of-file while keepalived
restarts, and drains it in bounded slices like Twisted's own readers.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet import abstract
from twisted.logger import Logger

log = Logger()

STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
MAX_LINE = 4096
READ_SLICE = 65536


@attrs.frozen
class Notice:
    """One line of the FIFO: what changed (INSTANCE or GROUP), its name, its new state."""

    kind: str
    name: str
    state: str
    priority: int | None = None


def parse_line(line: str) -> Notice | None:
    """The notice a line carries, or None for lines about anything else (virtual servers,
    real servers, MASTER_RX_LOWER_PRI, garbage)."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    if len(words) < 3 or words[0] not in ("INSTANCE", "GROUP") or words[2] not in STATES:
        return None
    priority = int(words[3]) if len(words) > 3 and words[3].isdigit() else None
    return Notice(words[0], words[1], words[2], priority)


def ensure_fifo(path: str) -> None:
    """Make the FIFO if missing: keepalived uses one it finds, and does not remove a FIFO
    it did not create when it exits, so our open descriptor stays the one it writes to."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        os.mkfifo(path, 0o600)
        return
    if not stat.S_ISFIFO(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a FIFO")


class FifoReader(abstract.FileDescriptor):
    """Calls ``deliver`` with each complete line read from the FIFO at ``path``."""

    def __init__(self, path: str, deliver: Callable[[str], None], reactor: Any) -> None:
        super().__init__(reactor)
        self.path = path
        self.deliver = deliver
        self.fd = -1
        self._partial = b""

    def open(self) -> None:
        ensure_fifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._partial = b""
        self.startReading()

    def close(self) -> None:
        if self.fd >= 0:
            self.stopReading()
            os.close(self.fd)
            self.fd = -1

    def stale(self) -> bool:
        """True when the path is no longer our FIFO (removed or replaced): reopen it."""
        try:
            return os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except OSError:
            return True

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> None:
        for _ in range(16):
            try:
                data = os.read(self.fd, READ_SLICE)
            except BlockingIOError:
                return
            except OSError as e:
                log.error("reading {path}: {error}", path=self.path, error=e.strerror)
                return
            if not data:
                return
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > MAX_LINE:
            self._partial = b""
        for line in lines:
            self.deliver(line.decode("utf-8", "replace").strip())
