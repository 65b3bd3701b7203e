"""The libpcap calls behind a source, in one small object that tests replace.

Captures are non-blocking and read with ``next_batch`` so a whole slice of
packets costs one call.  pcapy-ng reports "nothing to read" two ways: an empty
batch (interfaces) or a ``PcapError`` carrying EAGAIN (NFLOG); both mean
"drained", anything else is a real error.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any, Protocol

import pcapy

from netsentinel.traffic.config import SNAPLEN, SourceConfig
from netsentinel.traffic.packet import Batch

# TPACKET_V3 hands a block to user space only when it is full or this old, so it
# must be non-zero or a quiet interface would never become readable
BLOCK_TIMEOUT_MS = 10
_EAGAIN_TEXT = os.strerror(errno.EAGAIN)


class CaptureError(Exception):
    """A capture could not be opened, or failed while reading."""


class Capture(Protocol):
    linktype: int

    def fileno(self) -> int: ...
    def read(self, limit: int) -> Batch | None: ...
    def close(self) -> None: ...


Opener = Callable[[SourceConfig], Capture]


class PcapCapture:
    """A live pcapy-ng handle on ``nflog:N`` or an interface."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._fd = int(handle.getfd())
        self.linktype = int(handle.datalink())

    def fileno(self) -> int:
        return self._fd

    def read(self, limit: int) -> Batch | None:
        """Up to ``limit`` packets, or None when nothing is waiting."""
        try:
            data, meta = self._handle.next_batch(limit)
        except pcapy.PcapError as e:
            if _EAGAIN_TEXT in str(e):
                return None
            raise CaptureError(str(e)) from None
        return Batch(self.linktype, data, meta) if meta else None

    def close(self) -> None:
        self._handle.close()


def open_capture(config: SourceConfig) -> PcapCapture:
    try:
        handle = pcapy.open_live(config.device, SNAPLEN, False, BLOCK_TIMEOUT_MS)
        handle.setnonblock(1)
        if config.filter is not None:
            handle.setfilter(config.filter)
    except pcapy.PcapError as e:
        raise CaptureError(str(e)) from None
    return PcapCapture(handle)
