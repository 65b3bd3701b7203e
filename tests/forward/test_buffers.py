"""The relay's buffers over real loopback sockets and real pipes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import socket
import struct
import termios
from collections.abc import Iterator

import pytest

from netsentinel.forward.buffers import COPY_CHUNK, Buffer, PipePool
from tests.lab import wait_for


class Pair:
    """Two connected TCP sockets on loopback: ``near`` is the relay's, ``far`` the peer's."""

    def __init__(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.far = socket.create_connection(listener.getsockname())
            self.near = listener.accept()[0]
        self.near.setblocking(False)

    def close(self) -> None:
        self.far.close()
        self.near.close()


@pytest.fixture
def pairs() -> Iterator[tuple[Pair, Pair]]:
    made = (Pair(), Pair())
    yield made
    for pair in made:
        pair.close()


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_splice_moves_the_bytes_and_gives_the_pipe_back(pairs: tuple[Pair, Pair]) -> None:
    source, destination = pairs
    pool = PipePool()
    buffer = Buffer(pool)
    buffer.bulk = True                  # as after a read that filled its chunk
    source.far.sendall(b"hello through a pipe")
    assert buffer.fill(source.near, None) == 20
    assert buffer.pipe is not None and buffer.data is None       # not read into Python
    assert buffer.drain(destination.near) == 20
    assert receive(destination.far, 20) == b"hello through a pipe"
    assert buffer.pending == 0 and buffer.pipe is None and len(pool._free) == 1


def test_small_chunks_are_copied_and_bulk_is_spliced(pairs: tuple[Pair, Pair]) -> None:
    source, destination = pairs
    buffer = Buffer(PipePool())
    destination.far.setblocking(False)

    def move(expect_pipe: bool) -> int:
        count = buffer.fill(source.near, None)
        assert (buffer.pipe is not None) == expect_pipe and (buffer.data is None) == expect_pipe
        while buffer.pending:
            buffer.drain(destination.near)
            with contextlib.suppress(BlockingIOError):
                while destination.far.recv(1 << 20):
                    pass
        return count

    source.far.sendall(b"a request")
    assert move(expect_pipe=False) == 9                 # a small chunk: recv + send
    source.near.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    source.far.sendall(os.urandom(3 * COPY_CHUNK))
    wait_for(lambda: queued(source.near) == 3 * COPY_CHUNK, what="bulk queued at the relay")
    assert move(expect_pipe=False) == COPY_CHUNK        # a whole chunk: bulk is coming
    assert move(expect_pipe=True) == 2 * COPY_CHUNK     # spliced, and big enough to go on
    source.far.sendall(b"a reply")
    assert move(expect_pipe=True) == 7                  # a short splice ends the bulk mode
    source.far.sendall(b"another")
    assert move(expect_pipe=False) == 7


def test_a_partial_write_keeps_the_rest_in_the_pipe(pairs: tuple[Pair, Pair]) -> None:
    source, destination = pairs
    destination.near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    destination.far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    buffer = Buffer(PipePool())
    buffer.bulk = True
    payload = os.urandom(512 * 1024)
    source.far.sendall(payload)
    wait_for(lambda: queued(source.near) >= 60_000, what="60 kB queued at the relay")
    filled = buffer.fill(source.near, None)
    with pytest.raises(BlockingIOError):    # the peer does not read: the write must block
        while buffer.pending:
            buffer.drain(destination.near)
    assert buffer.pending and buffer.pipe is not None       # the rest waits in the pipe
    received = bytearray()
    destination.far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    destination.near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    destination.far.setblocking(False)
    while len(received) < filled:           # the peer reads: everything arrives, in order
        with contextlib.suppress(BlockingIOError):
            received += destination.far.recv(1 << 20)
        if buffer.pending:
            with contextlib.suppress(BlockingIOError):
                buffer.drain(destination.near)
    assert bytes(received) == payload[:filled]


def queued(sock: socket.socket) -> int:
    """Bytes waiting in a socket's receive queue (SIOCINQ)."""
    count: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
    return count


def test_hex_dump_mode_reads_into_python_and_shows_the_bytes(pairs: tuple[Pair, Pair]) -> None:
    source, destination = pairs
    seen: list[bytes] = []
    buffer = Buffer(PipePool())
    source.far.sendall(b"GET /")
    assert buffer.fill(source.near, seen.append) == 5
    assert seen == [b"GET /"] and buffer.pipe is None
    buffer.drain(destination.near)
    assert receive(destination.far, 5) == b"GET /"


def test_out_of_descriptors_the_bytes_go_through_python(pairs: tuple[Pair, Pair]) -> None:
    source, destination = pairs
    buffer = Buffer(PipePool())
    source.far.sendall(b"no pipe to be had")
    probe = os.open(os.devnull, os.O_RDONLY)    # the lowest free descriptor
    os.close(probe)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe, hard))   # no new descriptor at all
    try:
        with pytest.raises(OSError):
            os.pipe()
        assert buffer.fill(source.near, None) == 17
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert buffer.pipe is None and buffer.data is not None
    buffer.drain(destination.near)
    assert receive(destination.far, 17) == b"no pipe to be had"


def test_closing_with_bytes_inside_closes_the_pipe_instead_of_pooling_it(
        pairs: tuple[Pair, Pair]) -> None:
    source, _ = pairs
    pool = PipePool()
    buffer = Buffer(pool)
    buffer.bulk = True
    source.far.sendall(b"never delivered")
    buffer.fill(source.near, None)
    assert buffer.pipe is not None
    read_end = buffer.pipe[0]
    buffer.close()
    assert not pool._free
    with pytest.raises(OSError):
        os.fstat(read_end)
