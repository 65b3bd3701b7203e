"""The shared beat: many periodic checks on one timer, on a grid, never two at once."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer
from twisted.internet.task import Clock

from netsentinel.checks.periodic import Beat, Periodic


def test_many_checks_share_one_timer_and_keep_their_pace() -> None:
    clock = Clock()
    beat = Beat(clock, rate=50)
    runs: list[tuple[int, float]] = []

    def checker(n: int) -> Callable[[], defer.Deferred[None]]:
        def check() -> defer.Deferred[None]:
            runs.append((n, clock.seconds()))
            return defer.succeed(None)
        return check

    periodics = [Periodic(beat, checker(n), lambda: 1.0, "p") for n in range(100)]
    for n, p in enumerate(periodics):
        p.start((n % 10) / 10)
    assert len(clock.getDelayedCalls()) == 1
    clock.pump([0.1] * 30)
    assert len(runs) == 100 * 3 + 10          # 0 s, 1 s, 2 s and the first slot at 3 s
    together: dict[tuple[int, int], set[float]] = {}
    for n, t in runs:
        together.setdefault((n % 10, round(t)), set()).add(t)
    assert all(len(times) == 1 for times in together.values())   # one wake-up per slot
    assert [round(t, 6) for n, t in runs if n == 5] == [0.5, 1.5, 2.5]


def test_stop_cancels_and_a_slow_check_runs_again_at_the_next_beat() -> None:
    clock = Clock()
    beat = Beat(clock, rate=10)
    pending: list[defer.Deferred[None]] = []

    def check() -> defer.Deferred[None]:
        pending.append(defer.Deferred())
        return pending[-1]

    slow = Periodic(beat, check, lambda: 1.0, "slow")
    stopped = Periodic(beat, check, lambda: 1.0, "stopped")
    slow.start()
    stopped.start(0.5)
    stopped.stop()
    clock.advance(0)
    assert len(pending) == 1                  # never two at once, stopped never ran
    clock.advance(2.5)
    assert len(pending) == 1
    pending[0].callback(None)                 # took 2.5 s: due again at once
    clock.advance(0.1)
    assert len(pending) == 2 and slow.checks == 1
    assert clock.getDelayedCalls() == []


def test_a_check_that_raises_is_a_fault_and_the_next_check_runs() -> None:
    from netsentinel.faults import FaultRecorder
    clock = Clock()
    faults = FaultRecorder(clock)
    runs: list[float] = []

    def check() -> defer.Deferred[None]:
        runs.append(clock.seconds())
        if len(runs) == 1:
            raise ZeroDivisionError("division by zero")
        return defer.succeed(None)
    periodic = Periodic(Beat(clock, rate=10), check, lambda: 1.0, "ping gw",
                        faults.errback("checks", "ping gw"))
    periodic.start()
    clock.pump([0.1] * 25)
    assert len(runs) == 3      # at 0.1, 1.1 and 2.1 s: the fault stopped nothing
    assert faults.faults["checks"].count == 1
    assert faults.faults["checks"].last == "ping gw: ZeroDivisionError: division by zero"


def test_a_beat_call_that_raises_does_not_stop_the_others_or_the_beat() -> None:
    clock = Clock()
    beat = Beat(clock, rate=10)
    calls: list[str] = []

    def broken(tick: int) -> None:
        calls.append("broken")
        raise RuntimeError("bug")

    def fine(tick: int) -> None:
        calls.append("fine")
        beat.at(tick + 10, fine)
    beat.at(1, broken)
    beat.at(1, fine)
    clock.pump([0.1] * 12)
    assert calls == ["broken", "fine", "fine"]
