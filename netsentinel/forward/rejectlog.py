"""The refusals of ``mode: kernel`` services, as the kernel logs them (NFLOG).

The services' rules log every flow they refuse to one NFLOG group with the prefix
``netsentinel NAME REASON``; this reads the group (the capture the ``traffic``
feature uses, ``nflog:N``) and tells each service of its refusals: the counters
by reason, the bus, and the strikes that ban.  Only refusals come here (one
packet per refused flow), never the forwarded traffic.  A group that cannot be
opened is retried; its error is the services' problem until it opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from netsentinel.forward.kernelnft import PREFIX
from netsentinel.traffic.capture import CaptureError, Opener, open_capture
from netsentinel.traffic.config import SourceConfig
from netsentinel.traffic.packet import Batch, decode, nflog_prefix
from netsentinel.traffic.source import CaptureReader

log = Logger()

RETRY = 2.0
Refused = Callable[[str, str, str], None]       # service, client IP, reason


class RejectLog:
    def __init__(self, group: int, refused: Refused, reactor: Any,
                 opener: Opener = open_capture) -> None:
        self.group = group
        self.refused = refused
        self.reactor = reactor
        self.opener = opener
        self.reader: CaptureReader | None = None
        self.error: str | None = None
        self.read = 0
        self._retry: IDelayedCall | None = None

    def start(self) -> None:
        if self.reader is not None:
            return
        try:
            capture = self.opener(SourceConfig(f"nflog:{self.group}"))
        except CaptureError as e:
            self._failed(str(e))
            return
        self.error = None
        self.reader = CaptureReader(capture, self._deliver, self._failed, self.reactor)
        self.reader.startReading()

    def stop(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        reader, self.reader = self.reader, None
        if reader is not None:
            reader.close()

    def _failed(self, error: str) -> None:
        if self.error != error:
            log.error("forward: NFLOG group {group} for refusals: {error}", group=self.group,
                      error=error)
        self.error = f"NFLOG group {self.group}: {error}"
        self.reader = None
        self._retry = self.reactor.callLater(RETRY, self.start)

    def _deliver(self, batch: Batch) -> None:
        for packet in batch:
            words = nflog_prefix(packet).split()
            if len(words) != 3 or words[0] != PREFIX:
                continue            # another program's log in our group
            client = decode(batch.linktype, packet).src
            if client:
                self.read += 1
                self.refused(words[1], client, words[2])
