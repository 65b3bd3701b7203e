"""Round-trip statistics of one check and of a sliding window of checks.

The figures are icmplib's own (``Host``), so ``ping-result`` reports exactly the
values imon's scripts received: RTTs in milliseconds, loss a fraction 0..1,
jitter the mean difference between consecutive RTTs.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import attrs
from icmplib import Host


@attrs.frozen
class ProbeResult:
    """What one check of one target saw: packets sent and the RTT (ms) of each reply."""

    address: str
    sent: int
    rtts: tuple[float, ...] = ()

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def alive(self) -> bool:
        return bool(self.rtts)

    def figures(self) -> tuple[float, float, float, float, float]:
        """(min, avg, max, loss, jitter) exactly as icmplib's ``Host`` computes them."""
        host = Host(self.address, self.sent, list(self.rtts))
        return (host.min_rtt, host.avg_rtt, host.max_rtt, host.packet_loss, host.jitter)

    @property
    def loss(self) -> float:
        return float(self.figures()[3])

    @property
    def avg_rtt(self) -> float:
        return float(self.figures()[1])

    def imon_result(self) -> str:
        """imon's single ``ping-result`` argument: ``IP:ALIVE:MIN:AVG:MAX:LOSS:JITTER``."""
        low, avg, high, loss, jitter = self.figures()
        return f"{self.address}:{self.alive}:{low}:{avg}:{high}:{loss}:{jitter}"

    def snapshot(self) -> ProbeStatus:
        low, avg, high, loss, jitter = self.figures()
        return ProbeStatus(self.address, self.sent, self.received, self.alive, loss, low, avg, high,
                     jitter)


@attrs.frozen
class ProbeStatus:
    """A result as ``status`` shows it: the counts and icmplib's figures (RTTs in ms)."""

    address: str
    sent: int
    received: int
    alive: bool
    loss: float
    min_rtt: float
    avg_rtt: float
    max_rtt: float
    jitter: float

    @property
    def rtt(self) -> float | None:
        """The average RTT in seconds; None when nothing answered."""
        return self.avg_rtt / 1000.0 if self.received else None


def merged(address: str, results: Iterable[ProbeResult]) -> ProbeResult:
    """One result covering several checks (their packets and RTTs in order)."""
    sent = 0
    rtts: list[float] = []
    for result in results:
        sent += result.sent
        rtts.extend(result.rtts)
    return ProbeResult(address, sent, tuple(rtts))


class Window:
    """The last ``size`` checks of one target, summed as one result."""

    def __init__(self, address: str, size: int) -> None:
        self.address = address
        self._results: collections.deque[ProbeResult] = collections.deque(maxlen=size)

    def add(self, result: ProbeResult) -> None:
        self._results.append(result)

    @property
    def rounds(self) -> int:
        """How many checks the window holds (fewer than ``size`` until it has filled)."""
        return len(self._results)

    def total(self) -> ProbeResult:
        return merged(self.address, self._results)
