"""The kernel services' conntrack reads, in a child process (``forward/ctdump.py``).

Reading conntrack is work proportional to every entry of the service's port,
closed TCP flows in TIME_WAIT included: at 14,000 short connections a second that
is hundreds of thousands of entries.  Parsed in the daemon (a thread still holds
the GIL) it would stall the reactor and the control socket; in a child it costs
another core.  One child serves every kernel service, a request per line and a
JSON line back, in order.  A child that dies fails the requests it had and the
next request starts a new one.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from typing import Any

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

LINE_LIMIT = 64 << 20       # one answer: 20,000 open flows are ~1.5 MB


class ReaderGone(Exception):
    """The flow reader exited before it answered."""


class _Child(protocol.ProcessProtocol):
    def __init__(self, owner: FlowReader) -> None:
        self.owner = owner
        self.chunks: list[bytes] = []       # of the answer being received
        self.size = 0

    def outReceived(self, data: bytes) -> None:
        while data:
            end = data.find(b"\n")
            if end < 0:
                self.chunks.append(data)
                self.size += len(data)
                if self.size > LINE_LIMIT:
                    self.chunks, self.size = [], 0
                    self.transport.signalProcess("KILL")    # type: ignore[union-attr]
                return
            self.chunks.append(data[:end])
            line, self.chunks, self.size = b"".join(self.chunks), [], 0
            self.owner.answered(line)
            data = data[end + 1:]

    def errReceived(self, data: bytes) -> None:
        log.warn("forward flow reader: {text}", text=data.decode("utf-8", "replace").strip())

    def processEnded(self, reason: Failure) -> None:
        self.owner.ended(self)


class FlowReader:
    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.child: _Child | None = None
        self.pending: deque[defer.Deferred[dict[str, Any]]] = deque()
        self.started = 0            # children started (more than one: one died)

    def read(self, family: int, protocol_number: int, port: int, backend: str,
             backend_port: int) -> defer.Deferred[dict[str, Any]]:
        """``{"flows": [[id, ip, port, local, up, down, packets_up, packets_down,
        state]...]}`` (``ctdump.live``)
        or ``{"error": ...}``; fails with ReaderGone when the child died."""
        if self.child is None:
            self.child = _Child(self)
            self.started += 1
            self.reactor.spawnProcess(
                self.child, sys.executable,
                [sys.executable, "-m", "netsentinel.forward.ctdump"],
                env=None, path=None)
        asked: defer.Deferred[dict[str, Any]] = defer.Deferred()
        self.pending.append(asked)
        request = f"{family} {protocol_number} {port} {backend} {backend_port}\n"
        self.child.transport.write(request.encode())     # type: ignore[union-attr]
        return asked

    def answered(self, line: bytes) -> None:
        if self.pending:
            self.pending.popleft().callback(json.loads(line))

    def ended(self, child: _Child) -> None:
        if child is self.child:
            self.child = None
        pending, self.pending = self.pending, deque()
        for asked in pending:
            asked.errback(ReaderGone("the flow reader exited"))

    def stop(self) -> None:
        child, self.child = self.child, None
        if child is not None and child.transport is not None:
            child.transport.closeStdin()         # it exits at the end of its input
