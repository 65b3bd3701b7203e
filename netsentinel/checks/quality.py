"""Link quality over a moving window of rounds, judged against failure and recovery limits.

mwan3's ``check_quality`` and dpinger's loss/latency alarms: an uplink that
answers but loses too many packets, or answers too late, counts as failed.
While it is down the (lower) recovery limits apply, so an uplink hovering
around one limit does not flap.  The loss compared is the exact fraction,
not icmplib's two-decimal rounding, so 0.395 is below a 0.4 limit.
"""

from __future__ import annotations

import math

import attrs

from netsentinel.checks.config import Quality
from netsentinel.checks.stats import ProbeResult, Window
from netsentinel.snapshot import omitted


def _close(value: float, limit: float) -> bool:
    """Equal but for float noise: a window's 7/10 must reach a configured 0.7."""
    return math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)


def _reaches(value: float, limit: float) -> bool:
    return value >= limit or _close(value, limit)


def _exceeds(value: float, limit: float) -> bool:
    return value > limit and not _close(value, limit)


def _shown(kind: str, value: float) -> str:
    """A loss as a percentage, a latency in milliseconds: one decimal, two digits under 1 ms."""
    if kind == "loss":
        return f"{round(value * 100, 1):g}%"
    ms = value * 1000
    return f"{round(ms, 1):g} ms" if ms >= 1 else f"{ms:.2g} ms"


def _over(rounds: int) -> str:
    return f"over {rounds} round{'' if rounds == 1 else 's'}"


@attrs.frozen
class Breach:
    """One limit a family's window crossed: ``failure_loss`` … ``recovery_latency``."""

    family: int
    threshold: str
    value: float           # loss fraction 0..1, or average RTT in seconds
    limit: float

    @property
    def kind(self) -> str:
        return self.threshold.split("_", 1)[1]

    def text(self) -> str:
        """``loss 45% >= 40%``; a recovery limit is missed by being above it."""
        value, limit = _shown(self.kind, self.value), _shown(self.kind, self.limit)
        if self.threshold.startswith("recovery"):
            return f"{self.kind} {value} > recovery {limit}"
        return f"{self.kind} {value} >= {limit}"


@attrs.frozen
class WindowFigures:
    """A family's window: the exact loss, the average RTT in seconds (None: no reply)."""

    loss: float
    latency: float | None

    def by_kind(self) -> dict[str, float | None]:
        """The figures by the limit kind they are compared with."""
        return {"loss": self.loss, "latency": self.latency}


@attrs.frozen(kw_only=True)
class QualityStatus:
    """An uplink's quality windows (a field per family it probes), the limits that apply
    to it from now on (``failure`` while up, ``recovery`` while down), and those the last
    round crossed."""

    rounds: int
    limits: str
    ipv4: WindowFigures | None = omitted()
    ipv6: WindowFigures | None = omitted()
    breaches: tuple[Breach, ...]

    def window(self, family: int) -> WindowFigures | None:
        return self.ipv4 if family == 4 else self.ipv6 if family == 6 else None


def figures(window: ProbeResult) -> WindowFigures:
    """The window's exact loss and its average RTT in seconds (None: nothing answered)."""
    loss = (window.sent - window.received) / window.sent if window.sent else 0.0
    latency = sum(window.rtts) / len(window.rtts) / 1000.0 if window.rtts else None
    return WindowFigures(loss, latency)


def breaches(quality: Quality, family: int, window: ProbeResult, down: bool) -> list[Breach]:
    """The limits this window crosses: recovery ones while ``down``, else failure ones.

    An unset recovery limit falls back to its failure limit.
    """
    found = []
    for kind, value in figures(window).by_kind().items():
        failure = getattr(quality, f"failure_{kind}")
        recovery = getattr(quality, f"recovery_{kind}")
        if value is None:
            continue
        if down and recovery is not None:
            if _exceeds(value, recovery):
                found.append(Breach(family, f"recovery_{kind}", value, recovery))
        elif failure is not None and _reaches(value, failure):
            found.append(Breach(family, f"failure_{kind}", value, failure))
    return found


def describe(found: list[Breach], rounds: int, dual: bool) -> str:
    """``loss 45% >= 40% over 10 rounds`` (families named when the uplink has two)."""
    parts = []
    for family in sorted({b.family for b in found}):
        text = ", ".join(b.text() for b in found if b.family == family)
        parts.append(f"IPv{family} {text}" if dual else text)
    return f"{'; '.join(parts)} {_over(rounds)}"


class UplinkQuality:
    """The windows of one uplink's families and the verdict of its last round."""

    def __init__(self, quality: Quality, targets: dict[int, str]) -> None:
        self.quality = quality
        self.windows = {family: Window(target, quality.window)
                        for family, target in targets.items()}
        self.found: list[Breach] = []

    def add(self, family: int, result: ProbeResult) -> None:
        self.windows[family].add(result)

    @property
    def rounds(self) -> int:
        return max(window.rounds for window in self.windows.values())

    def judge(self, down: bool) -> str | None:
        """Judge every family's window with the limits of the uplink's state: why the
        round is bad on quality, or None while it is within the limits."""
        self.found = [b for family, window in self.windows.items()
                      for b in breaches(self.quality, family, window.total(), down)]
        return describe(self.found, self.rounds, len(self.windows) > 1) if self.found else None

    def summary(self) -> str:
        """``loss 0%, latency 12 ms over 10 rounds``: what a good verdict rested on."""
        parts = []
        for family, window in sorted(self.windows.items()):
            text = ", ".join(f"{kind} {_shown(kind, value)}"
                             for kind, value in figures(window.total()).by_kind().items()
                             if value is not None)
            parts.append(f"IPv{family} {text}" if len(self.windows) > 1 else text)
        return f"{'; '.join(parts)} {_over(self.rounds)}"

    def status(self, down: bool) -> QualityStatus:
        """The windows, the limits that apply to a ``down`` (or up) uplink from now on,
        and those the last round crossed."""
        shown = {family: figures(window.total()) for family, window in self.windows.items()}
        return QualityStatus(rounds=self.rounds, limits="recovery" if down else "failure",
                             ipv4=shown.get(4), ipv6=shown.get(6), breaches=tuple(self.found))
