from twisted.internet.task import Clock

from netsentinel.debounce import Debouncer


def make(delay: float = 0.2, max_delay: float = 1.0) -> tuple[Clock, Debouncer, list[float]]:
    clock = Clock()
    fired: list[float] = []
    return clock, Debouncer(clock, delay, max_delay, lambda: fired.append(clock.seconds())), fired


def test_burst_fires_once_after_quiet() -> None:
    clock, debouncer, fired = make()
    for _ in range(5):
        debouncer.poke()
        clock.advance(0.1)
    # last poke at 0.4: nothing before 0.6, exactly one run after
    clock.advance(0.09)
    assert fired == []
    clock.advance(0.02)
    assert len(fired) == 1
    clock.advance(5)
    assert len(fired) == 1


def test_flapping_never_waits_longer_than_max_delay() -> None:
    clock, debouncer, fired = make(delay=0.2, max_delay=1.0)
    for _ in range(150):
        debouncer.poke()
        clock.advance(0.01)
    # pokes every 10 ms never leave 200 ms of quiet, yet the run came at 1.0 s
    assert len(fired) == 1 and abs(fired[0] - 1.0) < 0.02


def test_cancel_forgets_the_pending_run() -> None:
    clock, debouncer, fired = make()
    debouncer.poke()
    debouncer.cancel()
    clock.advance(5)
    assert fired == [] and not debouncer.pending
