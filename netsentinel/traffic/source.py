"""A source keeps one capture open as a reactor reader, and reopens it when it can.

An interface that is missing (a tun created later by the VPN it starts) or
that vanishes is retried on a timer instead of failing the daemon.  Reading
drains in bounded slices: a flood costs a few calls per reactor turn and the
other services still get theirs.  When the trigger says it needs no packet for
a while (it is up and was just refreshed), the source stops reading for that
long and lets the kernel drop what it cannot queue: a flood then costs a few
reads per second instead of one per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import abstract, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.faults import FaultRecorder
from netsentinel.traffic.capture import Capture, CaptureError, Opener, open_capture
from netsentinel.traffic.config import SourceConfig
from netsentinel.traffic.packet import Batch
from netsentinel.traffic.report import SourceStatus

log = Logger()

SLICE = 64            # packets per read call
SLICES = 8            # read calls per reactor turn, at most
RETRY = 2.0           # seconds between attempts to open a missing device

Deliver = Callable[[Batch, str], float]   # returns seconds the source may rest


class CaptureReader(abstract.FileDescriptor):
    """Reads a capture when its fd is readable, like ``twisted.pair.tuntap.TuntapPort``."""

    def __init__(self, capture: Capture, deliver: Callable[[Batch], bool | None],
                 failed: Callable[[str], None], reactor: Any) -> None:
        super().__init__(reactor)
        self.capture = capture
        self.deliver = deliver
        self.failed = failed

    def fileno(self) -> int:
        return self.capture.fileno()

    def doRead(self) -> None:
        for _ in range(SLICES):
            try:
                batch = self.capture.read(SLICE)
            except CaptureError as e:
                self._lost(str(e))
                return
            if batch is None or self.deliver(batch):   # True: the source paused reading
                return

    def connectionLost(self, reason: Failure) -> None:
        """The reactor saw an error or hang-up on the fd: the interface went away."""
        self._lost("error or hang-up on the capture (device removed?)")

    def _lost(self, error: str) -> None:
        self.close()
        self.failed(error)

    def close(self) -> None:
        self.stopReading()
        self.capture.close()


class Source:
    """One configured device (``nflog:2``, ``tun0``) feeding a trigger."""

    def __init__(self, config: SourceConfig, deliver: Deliver, reactor: Any,
                 opener: Opener = open_capture, retry: float = RETRY,
                 faults: FaultRecorder | None = None) -> None:
        self.config = config
        self.faults = faults or FaultRecorder(reactor)
        self.deliver = deliver
        self.reactor = reactor
        self.opener = opener
        self.retry = retry
        self.reader: CaptureReader | None = None
        self.error: str | None = None
        self.packets = 0
        self._opening: task.LoopingCall | None = None
        self._resume: Any = None

    def start(self) -> None:
        self._opening = task.LoopingCall(self._try_open)
        self._opening.clock = self.reactor
        self._opening.start(self.retry, now=True)

    def stop(self) -> None:
        if self._opening is not None and self._opening.running:
            self._opening.stop()
        self._opening = None
        self._cancel_resume()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def status(self) -> SourceStatus:
        state = "waiting" if self.reader is None else (
            "resting" if self._resume is not None else "listening")
        return SourceStatus(self.config.device, self.config.filter, state, self.error,
                            self.packets)

    def _try_open(self) -> None:
        try:
            capture = self.opener(self.config)
        except CaptureError as e:
            if str(e) != self.error:
                log.warn("traffic source {device} not available, retrying every {retry}s: "
                         "{error}", device=self.config.device, retry=self.retry, error=str(e))
            self.error = str(e)
            return
        except Exception:   # a fault: counted, and retried as a missing device is
            self.error = self.faults.record("traffic", f"source {self.config.device}").last
            return
        if self._opening is not None and self._opening.running:
            self._opening.stop()
        self.error = None
        # a packet the code trips on is a fault, not a lost device: the reader reads on
        received = self.faults.guarded("traffic", f"source {self.config.device} packet",
                                       self._received)
        self.reader = CaptureReader(capture, received, self._failed, self.reactor)
        self.reader.startReading()
        log.info("traffic source {device} listening", device=self.config.device)

    def _received(self, batch: Batch) -> bool:
        self.packets += len(batch)
        rest = self.deliver(batch, self.config.device)
        if rest <= 0 or self.reader is None:
            return False
        self.reader.stopReading()
        self._resume = self.reactor.callLater(rest, self._resume_reading)
        return True

    def _resume_reading(self) -> None:
        self._resume = None
        if self.reader is not None:
            self.reader.startReading()

    def _cancel_resume(self) -> None:
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        self._resume = None

    def _failed(self, error: str) -> None:
        log.warn("traffic source {device} failed, reopening: {error}",
                 device=self.config.device, error=error)
        self.reader = None
        self.error = error
        self.start()
