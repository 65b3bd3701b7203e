"""The refusals of ``mode: kernel`` services, as the kernel logs them (NFLOG).

The services' rules log every flow they refuse to one NFLOG group with the prefix
``netsentinel NAME REASON``; this reads the group through the ``traffic`` feature's
:class:`~netsentinel.traffic.source.Source` (``nflog:N``: opened, retried while it
cannot be, reopened when it fails, a packet that trips the code a recorded fault)
and tells each service of its refusals: the counters by reason, the bus, and the
strikes that ban.  Only refusals come here (one packet per refused flow), never the
forwarded traffic.  The source's error is the services' problem until it opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netsentinel.faults import FaultRecorder
from netsentinel.forward.kernelnft import PREFIX
from netsentinel.traffic.capture import Opener, open_capture
from netsentinel.traffic.config import SourceConfig
from netsentinel.traffic.packet import Batch, decode, nflog_prefix
from netsentinel.traffic.source import Source

Refused = Callable[[str, str, str], None]       # service, client IP, reason


class RejectLog:
    def __init__(self, group: int, refused: Refused, reactor: Any,
                 opener: Opener = open_capture, faults: FaultRecorder | None = None) -> None:
        self.group = group
        self.refused = refused
        self.source = Source(SourceConfig(f"nflog:{group}"), self._deliver, reactor, opener,
                             faults=faults)

    def start(self) -> None:
        self.source.start()

    def stop(self) -> None:
        self.source.stop()

    @property
    def error(self) -> str | None:
        error = self.source.error
        return f"NFLOG group {self.group}: {error}" if error is not None else None

    def _deliver(self, batch: Batch, device: str) -> float:
        for packet in batch:
            words = nflog_prefix(packet).split()
            if len(words) != 3 or words[0] != PREFIX:
                continue            # another program's log in our group
            client = decode(batch.linktype, packet).src
            if client:
                self.refused(words[1], client, words[2])
        return 0.0                  # never rest: each refusal counts
