"""Failover on link quality (loss, latency over a window) with a Clock and the fake engine.

Each round sends 4 echo requests per target; ``answer`` sets how many come back and
their RTTs, so loss and latency over the window are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from netsentinel.checks.config import Probe, Quality
from netsentinel.checks.failover_report import UplinkStatus
from netsentinel.checks.quality import Breach, WindowFigures, breaches
from netsentinel.checks.routes import Route
from netsentinel.checks.stats import ProbeResult
from netsentinel.metrics import render
from netsentinel.snapshot import to_json
from tests.checks.test_failover import GW1, GW1_6, GW2, GW2_6, DualLab, Lab
from tests.lab import samples

LIMITS = Quality(window=4, failure_loss=0.4, recovery_loss=0.1, failure_latency=0.25,
                 recovery_latency=0.1)


def rtts(replies: int, ms: float = 1.0) -> tuple[float, ...]:
    return (ms,) * replies


class QualityLab(Lab):
    """Two IPv4 uplinks judged on quality; both answer all 4 packets at 1 ms to start."""

    def __init__(self, quality: Quality | None = LIMITS, **kw: Any) -> None:
        super().__init__(probe=Probe(4, 0.5), quality=quality, **kw)
        self.answer(4, 4)

    def answer(self, eth1: int, eth2: int, ms1: float = 1.0, ms2: float = 1.0) -> None:
        self.engine.replies[f"{GW1}%eth1"] = rtts(eth1, ms1)
        self.engine.replies[f"{GW2}%eth2"] = rtts(eth2, ms2)

    def uplink(self, key: str = "primary") -> UplinkStatus:
        return self.monitor.status().uplinks[key]


@contextmanager
def log_lines() -> Iterator[list[str]]:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(cast(ILogObserver, events.append))
    lines: list[str] = []
    try:
        yield lines
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, events.append))
        lines.extend(formatEvent(e) for e in events)


def test_limits_are_reached_at_equality_without_float_noise() -> None:
    q = Quality(failure_loss=0.7, recovery_loss=0.1, failure_latency=0.2, recovery_latency=0.1)
    seven_of_ten_lost = ProbeResult("t", 10, rtts(3))
    assert breaches(q, 4, seven_of_ten_lost, down=False) == [Breach(4, "failure_loss", 0.7, 0.7)]
    one_lost = ProbeResult("t", 10, rtts(9))
    assert breaches(q, 4, one_lost, down=True) == []                  # at recovery: good
    assert breaches(q, 4, ProbeResult("t", 10, rtts(8)), down=True)[0].threshold == \
        "recovery_loss"
    slow = ProbeResult("t", 2, (200.0, 200.0))
    assert [b.threshold for b in breaches(q, 4, slow, down=False)] == ["failure_latency"]
    assert breaches(q, 4, ProbeResult("t", 2, (100.0, 100.0)), down=True) == []


def test_unset_recovery_limit_falls_back_to_the_failure_limit() -> None:
    q = Quality(failure_loss=0.5)
    half = ProbeResult("t", 4, rtts(2))
    assert [b.threshold for b in breaches(q, 4, half, down=True)] == ["failure_loss"]
    assert breaches(q, 4, ProbeResult("t", 4, rtts(3)), down=True) == []
    nothing_answered = ProbeResult("t", 4)
    assert [b.threshold for b in breaches(Quality(failure_latency=0.1), 4, nothing_answered,
                                          down=False)] == []    # no RTT: loss decides


def test_loss_over_the_window_fails_over_although_every_round_answers() -> None:
    lab = QualityLab()
    lab.clock.advance(0)
    lab.answer(2, 4)                       # 50 % per round, but every round answers
    with log_lines() as lines:
        lab.run(3)                         # window 0+2+2+2 of 16 lost: 37.5 %, still good
        assert lab.netlink.routes == [Route(GW1, 2)] and lab.uplink().reason is None
        lab.run(1)                         # 8 of 16: 50 % >= 40 %, first bad round
        assert lab.netlink.routes == [Route(GW1, 2)]
        lab.run(1)                         # down_after 2
    assert lab.netlink.routes == [Route(GW2, 3)]
    assert lab.names()[-1] == ("failover-standby", "snet:Standby:eth2:")
    assert lab.events[-1].notes == ("primary pnet offline: loss 50% >= 40% over 4 rounds",
                                    "standby snet online: loss 0%, latency 1 ms over 4 rounds")
    assert "failover wan: primary pnet is now offline: loss 50% >= 40% over 4 rounds" in lines
    primary = lab.uplink()
    assert primary.state == "offline"
    assert primary.reason == "loss 50% >= 40% over 4 rounds"
    assert to_json(primary.quality) == {
        "rounds": 4, "limits": "recovery", "ipv4": {"loss": 0.5, "latency": 0.001},
        "breaches": [{"family": 4, "threshold": "failure_loss", "value": 0.5, "limit": 0.4}]}


def test_a_down_uplink_comes_back_only_at_or_below_the_recovery_limit() -> None:
    lab = QualityLab()
    lab.clock.advance(0)
    lab.answer(2, 4)
    lab.run(5)
    assert lab.monitor.active == "standby"
    lab.answer(3, 4)                       # 25 %: under failure (40 %), above recovery (10 %)
    lab.run(10)
    assert lab.monitor.active == "standby"
    assert lab.uplink().reason == "loss 25% > recovery 10% over 4 rounds"
    quality = lab.uplink().quality
    assert quality is not None and quality.breaches[0].threshold == "recovery_loss"
    lab.answer(4, 4)                       # the lost packets leave the window one round a time
    lab.run(2)                             # 3, then 2 of 16 lost: above 10 %
    assert lab.uplink().reason == "loss 12.5% > recovery 10% over 4 rounds"
    with log_lines() as lines:
        lab.run(2)                         # 1 of 16 (6.25 %), 0: two good rounds
        assert lab.monitor.active == "standby"
        lab.run(1)                         # up_after 3
    assert lab.monitor.active == "primary"
    assert "failover wan: primary pnet is now online: loss 0%, latency 1 ms over 4 rounds" in lines


def test_latency_fails_over_and_recovers_below_the_recovery_latency() -> None:
    lab = QualityLab()
    lab.clock.advance(0)
    lab.answer(4, 4, ms1=300.0)
    lab.run(5)                             # (1 + 3 × 300) / 4 = 225 ms: good; then 300 twice
    assert lab.monitor.active == "standby"
    assert lab.uplink().reason == "latency 300 ms >= 250 ms over 4 rounds"
    lab.answer(4, 4, ms1=150.0)            # under 250 ms but above the 100 ms recovery
    lab.run(8)
    assert lab.monitor.active == "standby"
    assert lab.uplink().reason == "latency 150 ms > recovery 100 ms over 4 rounds"
    lab.answer(4, 4, ms1=20.0)
    lab.run(6)
    assert lab.monitor.active == "primary" and lab.uplink().reason is None


def test_an_uplink_may_have_its_own_limits() -> None:
    """An LTE standby is slower than the DSL primary: it keeps its own latency limit."""
    lab = QualityLab(Quality(window=4, failure_latency=0.1),
                     quality2=Quality(window=4, failure_latency=0.4))
    lab.clock.advance(0)
    lab.answer(4, 4, ms1=200.0, ms2=200.0)
    lab.run(6)
    assert lab.monitor.active == "standby"
    assert lab.uplink().reason == "latency 200 ms >= 100 ms over 4 rounds"
    assert lab.uplink("standby").reason is None


def test_without_instance_limits_only_the_uplink_with_its_own_is_judged() -> None:
    lab = QualityLab(None, quality1=Quality(window=4, failure_loss=0.5))
    lab.clock.advance(0)
    lab.answer(4, 1)                        # the standby loses 3 of 4: not judged on quality
    lab.run(6)
    assert lab.monitor.active == "primary"
    assert lab.uplink("standby").quality is None and lab.uplink().quality is not None


def test_a_bad_round_counts_until_it_slides_out_of_the_window() -> None:
    lab = QualityLab(Quality(window=3, failure_loss=0.25), down_after=100)
    lab.clock.advance(0)
    bad = []
    for answered in (1, 4, 4, 4, 4):       # one round loses 3 of 4, the others none
        lab.answer(answered, 4)
        lab.run(1)
        bad.append(lab.uplink().reason)
    assert bad == ["loss 37.5% >= 25% over 2 rounds", "loss 25% >= 25% over 3 rounds",
                   "loss 25% >= 25% over 3 rounds", None, None]
    assert lab.monitor.active == "primary"          # down_after 100: never judged down


def test_silence_is_still_bad_and_named_with_the_quality_reason() -> None:
    lab = QualityLab()
    lab.clock.advance(0)
    lab.answer(0, 4)
    lab.run(1)
    assert lab.uplink().reason == f"no reply from {GW1}; loss 50% >= 40% over 2 rounds"
    lab.run(1)
    assert lab.uplink().reason == f"no reply from {GW1}; loss 66.7% >= 40% over 3 rounds"
    assert lab.monitor.active == "standby"


def test_an_uplink_bad_at_start_is_offline_at_once_with_the_reason_in_the_notes() -> None:
    lab = QualityLab()
    lab.answer(1, 4)
    lab.clock.advance(0)
    initial = [e for e in lab.events if e.name == "failover-initial"]
    assert [(e.args[1], e.notes) for e in initial] == [
        ("offline", ("loss 75% >= 40% over 1 round",)),
        ("online", ("loss 0%, latency 1 ms over 1 round",))]
    assert lab.monitor.active == "standby"


class DualQualityLab(DualLab):
    def __init__(self, **kw: Any) -> None:
        super().__init__(probe=Probe(4, 0.5), quality=LIMITS, **kw)


def test_dual_stack_a_bad_ipv6_window_fails_the_whole_uplink() -> None:
    lab = DualQualityLab()
    lab.clock.advance(0)
    lab.engine.replies[f"{GW1_6}%eth1"] = rtts(2)      # IPv6 loses half, IPv4 is perfect
    lab.run(5)
    assert lab.netlink.routes == [Route(GW2, 3)] and lab.netlink.routes6 == [Route(GW2_6, 3)]
    primary = lab.monitor.status().uplinks["primary"]
    assert primary.reason == "IPv6 loss 50% >= 40% over 4 rounds"
    assert primary.quality is not None and primary.quality.ipv6 is not None
    assert primary.quality.ipv4 == WindowFigures(loss=0.0, latency=0.001)
    assert primary.quality.ipv6.loss == 0.5
    m = samples(render(lab.monitor.metrics()))
    assert m['netsentinel_failover_uplink_loss_ratio{name="wan",uplink="primary",family="6"}'] \
        == 0.5
    assert m['netsentinel_failover_uplink_loss_ratio{name="wan",uplink="primary",family="4"}'] \
        == 0
    assert m['netsentinel_failover_uplink_rtt_seconds{name="wan",uplink="standby",family="6"}'] \
        == 0.001
    lab.engine.replies[f"{GW1_6}%eth1"] = rtts(4)
    lab.engine.replies[f"{GW2_6}%eth2"] = rtts(0)      # standby IPv6 silent, IPv4 fine
    lab.run(8)
    assert lab.monitor.active == "primary"
    assert (lab.monitor.status().uplinks["standby"].reason or "").startswith(
        f"no reply from {GW2_6}; IPv6 loss 100% > recovery 10%")


def test_without_quality_half_lost_rounds_never_fail_over_and_nothing_is_added() -> None:
    lab = Lab(probe=Probe(4, 0.5))
    lab.engine.replies[f"{GW1}%eth1"] = rtts(2)
    lab.run(10)
    assert lab.monitor.active == "primary"
    assert lab.monitor.status().uplinks["primary"].quality is None
    assert not [k for k in samples(render(lab.monitor.metrics())) if "_uplink_loss" in k]
