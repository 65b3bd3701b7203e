"""Where one direction's bytes wait between the read and the write.

Bulk transfers never enter Python: ``os.splice`` moves them from the source
socket into a pipe and from the pipe into the destination socket, and only the
counts come back.  Small chunks (requests, replies, keystrokes) are copied:
for a few hundred bytes one ``recv`` and one ``send`` cost less than two
splices (about 10 % more short connections per second), so a direction reads
by copy until a read fills its whole chunk, splices while splices keep moving
at least that much, and falls back to copying when they do not.  A pipe is held
only while it holds data, so thousands of idle connections hold no pipe at all;
empty pipes go back to a shared pool.  With ``print_bytes`` every chunk is
read into Python, dumped and sent on.  Either way a direction reads again only
once everything it read has been written, which bounds the memory of a
connection to one buffer each way.
"""

from __future__ import annotations

import _socket
import fcntl
import os
from collections.abc import Callable

PIPE_SIZE = 1 << 20         # bytes a pipe may hold: one splice moves up to this much
COPY_CHUNK = 1 << 16        # bytes read at once when the bytes go through Python
POOL_SIZE = 64              # empty pipes kept for reuse

_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK   # no SPLICE_F_MORE: it would cork replies


class PipePool:
    """Empty pipes for reuse: creating and sizing one costs three system calls."""

    def __init__(self, size: int = PIPE_SIZE, keep: int = POOL_SIZE) -> None:
        self.size = size
        self.keep = keep
        self._free: list[tuple[int, int]] = []

    def acquire(self) -> tuple[int, int]:
        if self._free:
            return self._free.pop()
        read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.size = fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, self.size)
        except OSError:         # above /proc/sys/fs/pipe-max-size: the default will do
            self.size = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
        return read, write

    def release(self, pipe: tuple[int, int]) -> None:
        """Take back an *empty* pipe."""
        if len(self._free) < self.keep:
            self._free.append(pipe)
        else:
            discard(pipe)

    def clear(self) -> None:
        for pipe in self._free:
            discard(pipe)
        self._free.clear()


def discard(pipe: tuple[int, int]) -> None:
    os.close(pipe[0])
    os.close(pipe[1])


class Buffer:
    """One direction's bytes in transit: in a pipe, or in Python for a hex dump.

    ``fill`` and ``drain`` raise :class:`BlockingIOError` when the socket has
    nothing to give or no room to take, and :class:`OSError` on a socket error.
    ``fill`` is only called when the buffer is empty, so a full pipe can never
    be mistaken for an empty socket.
    """

    __slots__ = ("asked", "bulk", "data", "pending", "pipe", "pool")

    def __init__(self, pool: PipePool) -> None:
        self.pool = pool
        self.pipe: tuple[int, int] | None = None
        self.data: memoryview | None = None     # bytes read into Python (small chunks, dumps)
        self.pending = 0
        self.asked = 0          # bytes the last fill asked for: fewer means the socket is empty
        self.bulk = False       # the last read moved a whole chunk: the next one splices

    def fill(self, source: _socket.socket, dump: Callable[[bytes], None] | None) -> int:
        """Read what ``source`` has into the empty buffer; 0 means end of data."""
        if self.bulk and dump is None:
            try:
                pipe = self.pool.acquire()
            except OSError:     # out of descriptors: this chunk goes through Python
                pass
            else:
                count = self._splice_in(source, pipe)
                self.bulk = count >= COPY_CHUNK
                return count
        count = self._copy_in(source, dump)
        self.bulk = count == COPY_CHUNK
        return count

    def _splice_in(self, source: _socket.socket, pipe: tuple[int, int]) -> int:
        self.asked = self.pool.size
        try:
            count = os.splice(source.fileno(), pipe[1], self.pool.size, flags=_FLAGS)
        except OSError:
            self.pool.release(pipe)
            raise
        if count:
            self.pipe = pipe
            self.pending = count
        else:
            self.pool.release(pipe)
        return count

    def _copy_in(self, source: _socket.socket, dump: Callable[[bytes], None] | None) -> int:
        self.asked = COPY_CHUNK
        data = source.recv(COPY_CHUNK)
        if data:
            if dump is not None:
                dump(data)
            self.data = memoryview(data)
            self.pending = len(data)
        return len(data)

    def put(self, data: bytes) -> None:
        """Queue bytes of our own (a PROXY header) ahead of the stream; the buffer is empty."""
        self.data = memoryview(data)
        self.pending = len(data)

    def drain(self, destination: _socket.socket) -> int:
        """Write as much of the pending bytes as ``destination`` takes."""
        if self.data is not None:
            count = destination.send(self.data)
            self.data = self.data[count:] if count < len(self.data) else None
        else:
            assert self.pipe is not None
            count = os.splice(self.pipe[0], destination.fileno(), self.pending, flags=_FLAGS)
        self.pending -= count
        if not self.pending and self.pipe is not None:
            self.pool.release(self.pipe)
            self.pipe = None
        return count

    def close(self) -> None:
        """Give the pipe back, or close it when it still holds bytes nobody will read."""
        if self.pipe is not None:
            if self.pending:
                discard(self.pipe)
            else:
                self.pool.release(self.pipe)
            self.pipe = None
        self.data = None
        self.pending = 0
