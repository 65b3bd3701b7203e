"""Round-trip statistics of one check and of a sliding window of checks.

The figures are icmplib's own (``Host``), so ``ping-result`` reports exactly the
values imon's scripts received: RTTs in milliseconds, loss a fraction 0..1,
jitter the mean difference between consecutive RTTs.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable

import attrs
from icmplib import Host


@attrs.frozen
class ProbeResult:
    """What one check of one target saw: packets sent and the RTT (ms) of each reply."""

    address: str
    sent: int
    rtts: tuple[float, ...] = ()

    @property
    def _host(self) -> Host:
        return Host(self.address, self.sent, list(self.rtts))

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def alive(self) -> bool:
        return bool(self.rtts)

    @property
    def loss(self) -> float:
        return float(self._host.packet_loss)

    @property
    def min_rtt(self) -> float:
        return float(self._host.min_rtt)

    @property
    def avg_rtt(self) -> float:
        return float(self._host.avg_rtt)

    @property
    def max_rtt(self) -> float:
        return float(self._host.max_rtt)

    @property
    def jitter(self) -> float:
        return float(self._host.jitter)

    def imon_result(self) -> str:
        """imon's single ``ping-result`` argument: ``IP:ALIVE:MIN:AVG:MAX:LOSS:JITTER``."""
        return (f"{self.address}:{self.alive}:{self.min_rtt}:{self.avg_rtt}:"
                f"{self.max_rtt}:{self.loss}:{self.jitter}")

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "sent": self.sent, "received": self.received,
                "alive": self.alive, "loss": self.loss, "min_rtt": self.min_rtt,
                "avg_rtt": self.avg_rtt, "max_rtt": self.max_rtt, "jitter": self.jitter}


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

    def add(self, result: ProbeResult) -> ProbeResult:
        self._results.append(result)
        return self.total()

    def total(self) -> ProbeResult:
        return merged(self.address, self._results)
