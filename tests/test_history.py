"""The graph sampler: a Clock drives it, its rings stay bounded, counters become rates."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
from twisted.internet.task import Clock

from netsentinel import history as h
from netsentinel.checks import failover_report, ping_report
from netsentinel.config import MAX_POINTS, ControlConfig, history_points, parse_config
from netsentinel.forward import metrics as forward_metrics
from netsentinel.history import History, Sampler
from netsentinel.metrics import Family, counter, gauge
from netsentinel.names import report as names_report
from netsentinel.schema import ConfigError

RTT = gauge(h.PING_RTT, "rtt", "name", "target")
OPEN = gauge(h.FORWARD_OPEN, "open", "service")
BYTES = counter(h.FORWARD_BYTES, "bytes", "service", "direction")
OTHER = gauge("netsentinel_uptime_seconds", "not kept")


@attrs.define
class FakeConfig:
    control: ControlConfig


class FakeDaemon:
    """What the sampler reads: the configuration and the metric families."""

    def __init__(self, history: int = 60, every: int = 10, page: bool = True) -> None:
        self.config: Any = FakeConfig(ControlConfig(status_page=page, history=history,
                                                    history_every=every))
        self.reactor = Clock()
        self.rtt = 0.010
        self.calls = 0

    def metrics(self) -> list[Family]:
        self.calls += 1
        return [RTT.of(self.rtt, "gw", "10.0.0.1"), OTHER.of(5)]


def test_kept_families_are_declared_by_their_features() -> None:
    declared = {f.name: f for module in (ping_report, failover_report, forward_metrics,
                                         names_report) for f in vars(module).values()
                if isinstance(f, Family)}
    for name in (h.PING_RTT, h.PING_LOSS, h.UPLINK_UP, h.UPLINK_ACTIVE, h.UPLINK_SHARE,
                 h.FORWARD_BYTES, h.FORWARD_OPEN, "netsentinel_names_set_elements"):
        assert name in declared, name


def test_sampler_samples_every_interval_on_the_clock() -> None:
    daemon = FakeDaemon(history=60, every=10)
    sampler = Sampler(daemon)
    sampler.startService()
    assert daemon.calls == 0            # the features start after the sampler
    for rtt in (0.010, 0.020, 0.030):
        daemon.rtt = rtt
        daemon.reactor.advance(10)
    assert sampler.history is not None and sampler.history.capacity == history_points(60, 10)
    [series] = sampler.history.series(h.PING_RTT)
    assert series.labels == {"name": "gw", "target": "10.0.0.1"}
    assert series.points == ((10.0, 0.010), (20.0, 0.020), (30.0, 0.030))
    assert sampler.history.series("netsentinel_uptime_seconds") == []   # not kept
    sampler.stopService()
    daemon.reactor.advance(100)
    assert daemon.calls == 3 and not daemon.reactor.getDelayedCalls()


def test_sampler_is_idle_while_the_page_is_off() -> None:
    daemon = FakeDaemon(page=False)
    sampler = Sampler(daemon)
    sampler.startService()
    daemon.reactor.advance(100)
    assert daemon.calls == 0 and sampler.history is None
    sampler.stopService()


def test_reload_with_new_settings_starts_a_new_history() -> None:
    daemon = FakeDaemon(history=60, every=10)
    sampler = Sampler(daemon)
    sampler.startService()
    daemon.reactor.advance(20)
    daemon.config = FakeConfig(ControlConfig(status_page=True, history=120, history_every=5))
    daemon.reactor.advance(10)          # the tick that sees the change restarts the loop
    daemon.reactor.advance(0)
    assert sampler.settings == (120, 5)
    assert sampler.history is not None and sampler.history.count == 0
    daemon.reactor.advance(5)
    assert sampler.history.count == 1 and sampler.history.capacity == 25
    sampler.stopService()
    assert not daemon.reactor.getDelayedCalls()


def test_ring_keeps_only_the_last_points() -> None:
    history = History(points=4)
    for t in range(10):
        history.record(float(t), [RTT.of(t / 1000, "gw", "a")])
    [series] = history.series(h.PING_RTT)
    assert series.points == ((6.0, 0.006), (7.0, 0.007), (8.0, 0.008), (9.0, 0.009))
    assert len(history.times) == 4 and len(history.rings[(h.PING_RTT, ("gw", "a"))]) == 4


def test_series_beyond_the_cap_are_refused() -> None:
    history = History(points=3, max_series=2)
    history.record(1.0, [OPEN.with_samples(((f"s{i}",), i) for i in range(5))])
    assert len(history.rings) == 2 and history.refused == 3
    assert [s.labels["service"] for s in history.series(h.FORWARD_OPEN)] == ["s0", "s1"]


def test_a_series_gone_for_the_whole_window_is_dropped() -> None:
    history = History(points=3)
    history.record(1.0, [OPEN.of(2, "web")])
    history.record(2.0, [OPEN])                     # the service is gone
    [series] = history.series(h.FORWARD_OPEN)
    assert series.points[0] == (1.0, 2.0) and math.isnan(series.points[1][1])
    history.record(3.0, [OPEN])
    assert history.series(h.FORWARD_OPEN)           # still in the window
    history.record(4.0, [OPEN])
    assert history.series(h.FORWARD_OPEN) == [] and not history.rings


def test_counter_becomes_a_rate_with_gaps_at_resets() -> None:
    history = History(points=10)
    for t, total in ((0, 0), (10, 1000), (20, 3000), (30, 100), (40, 600)):
        history.record(float(t), [BYTES.of(total, "web", "up")])
    [series] = history.series(h.FORWARD_BYTES)
    rates = series.values()
    assert [t for t, _ in rates] == [10.0, 20.0, 30.0, 40.0]
    assert rates[0][1] == 100.0 and rates[1][1] == 200.0 and rates[3][1] == 50.0
    assert math.isnan(rates[2][1])                  # a reset: no rate, not a negative one


def test_history_needs_two_points() -> None:
    with pytest.raises(ValueError):
        History(points=1)


PAGE = "control:\n  metrics: 127.0.0.1:9380\n  status_page: true\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "test.yaml")
    return [str(p) for p in raised.value.problems]


def test_history_is_an_hour_every_ten_seconds_by_default() -> None:
    control = parse_config(PAGE, "test.yaml").control
    assert (control.history, control.history_every) == (3600, 10)
    assert history_points(3600, 10) == 361
    control = parse_config(PAGE + "  history: 7200\n  history_every: 30\n", "t.yaml").control
    assert (control.history, control.history_every) == (7200, 30)
    assert parse_config(PAGE + "  history: 0\n", "test.yaml").control.history == 0


def test_history_bounds_are_one_line_each() -> None:
    assert problems(PAGE + "  history: 30\n") == [
        "test.yaml:4: control.history: at least 60 seconds (0 turns the graphs off)"]
    assert problems(PAGE + "  history: 86400\n") == [
        "test.yaml:4: control.history: 86400 s at one sample every 10 s is more than "
        f"{MAX_POINTS} points: raise history_every"]
    assert parse_config(PAGE + "  history: 86400\n  history_every: 60\n", "t").control.history
    assert problems(PAGE + "  history: 90000\n")[0].startswith("test.yaml:4: control.history:")
    assert problems(PAGE + "  history_every: 0\n")[0].startswith(
        "test.yaml:4: control.history_every:")
    assert problems("control:\n  history: 600\n") == [
        "test.yaml:2: control.history: needs control.status_page: the graphs are on that page"]
