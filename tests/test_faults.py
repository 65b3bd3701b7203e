"""The fault recorder: counted per feature, logged once with its traceback, the caller goes on."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger, LogPublisher, capturedLogs
from twisted.python.failure import Failure

from netsentinel.actions import ActionsStatus
from netsentinel.control.clients import ControlStatus
from netsentinel.faults import DAEMON, FaultRecorder, FaultsStatus, feature_of, summary
from netsentinel.metrics import render
from netsentinel.snapshot import to_json
from netsentinel.status import DaemonStatus


def daemon_status(faults: FaultsStatus) -> DaemonStatus:
    """A ready daemon with no failed script and these faults."""
    return DaemonStatus("0", True, 0.0, 1.0, None, {"ok": 0, "refused": 0}, 0,
                        ActionsStatus(0, 0, 0, 0, 0, 0), ControlStatus({}), faults)


def _raise(error: Exception) -> None:
    raise error


def _failure(error: Exception) -> Failure:
    try:
        _raise(error)
    except Exception:
        return Failure()
    raise AssertionError("not raised")


def test_a_fault_is_counted_with_a_one_line_summary_and_its_time() -> None:
    clock = task.Clock()
    clock.advance(100)
    faults = FaultRecorder(clock)
    faults.record("addresses", "sync", _failure(TypeError("bad operand\nsecond line")))
    clock.advance(5)
    faults.record("addresses", "sync", _failure(KeyError("x")))
    assert to_json(faults.status()) == {"total": 2, "features": {"addresses": {
        "count": 2, "last": "sync: KeyError: 'x'", "at": 105.0}}}


def test_the_traceback_is_logged_once_per_distinct_error() -> None:
    faults = FaultRecorder(task.Clock())
    with capturedLogs() as events:
        for _ in range(3):
            faults.record("checks", "ping gw", _failure(ZeroDivisionError("division by zero")))
        faults.record("checks", "ping gw", _failure(ValueError("other")))
    with_traceback = [e for e in events if "log_failure" in e]
    assert len(with_traceback) == 2
    assert "_raise" in with_traceback[0]["log_failure"].getTraceback()
    assert len(events) == 4   # the two repeats are one line each, without the traceback
    assert events[2]["count"] == 3 and "again" in events[2]["log_format"]


def test_an_errback_records_and_the_chain_goes_on() -> None:
    faults = FaultRecorder(task.Clock())
    after: list[object] = []
    d: defer.Deferred[None] = defer.fail(_failure(RuntimeError("boom")))
    d.addErrback(faults.errback("docker", "sync")).addCallback(after.append)
    assert after == [None]
    assert faults.faults["docker"].last == "sync: RuntimeError: boom"


def test_a_guarded_looping_call_keeps_running_after_a_fault() -> None:
    clock = task.Clock()
    faults = FaultRecorder(clock)
    calls: list[int] = []

    def sweep() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise OSError("transient")
    loop = task.LoopingCall(faults.guarded("forward", "ssh sweep", sweep))
    loop.clock = clock
    loop.start(1.0, now=False)
    clock.pump([1.0] * 4)
    assert calls == [0, 1, 2, 3] and loop.running
    assert faults.faults["forward"].count == 1


def test_failures_logged_elsewhere_count_under_the_feature_whose_code_raised() -> None:
    publisher = LogPublisher()
    faults = FaultRecorder(task.Clock(), features=("addresses", "checks", "forward"))
    faults.watch(publisher)
    logger = Logger(namespace="twisted.internet.defer", observer=publisher)
    from netsentinel.checks import periodic  # a frame inside netsentinel/checks/
    failure = _failure_in(periodic.__file__)
    logger.failure("Unhandled error in Deferred:", failure)
    logger.info("not a failure")
    Logger(namespace="netsentinel.faults", observer=publisher).failure(
        "recorded already", failure, fault_recorded=True)
    faults.unwatch()
    logger.failure("after unwatch", failure)
    assert faults.status().total == 1
    assert faults.faults["checks"].last == "twisted.internet.defer: ZeroDivisionError: division by zero"


def _failure_in(filename: str) -> Failure:
    code = compile("def f():\n    return 1 / 0\n", filename, "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    try:
        namespace["f"]()
    except ZeroDivisionError:
        return Failure()
    raise AssertionError("not raised")


def test_a_failure_outside_any_feature_is_the_daemons() -> None:
    failure = _failure(ValueError("x"))
    assert feature_of(failure, "netsentinel.control.server", ("addresses",)) == DAEMON
    assert feature_of(failure, "netsentinel.addresses.service", ("addresses",)) == "addresses"


def test_summary_is_type_and_first_line() -> None:
    assert summary(ValueError("a\nb")) == "ValueError: a"
    assert summary(ValueError()) == "ValueError"


def test_metrics_show_every_configured_feature_from_zero() -> None:
    faults = FaultRecorder(task.Clock())
    faults.record("checks", "updown net", _failure(ValueError("x")))
    text = render(faults.metrics(["addresses", "checks"]))
    assert 'netsentinel_faults_total{feature="addresses"} 0\n' in text
    assert 'netsentinel_faults_total{feature="checks"} 1\n' in text
    assert "# TYPE netsentinel_faults_total counter" in text


def test_each_feature_with_faults_is_a_problem_on_the_status_page() -> None:
    faults = FaultRecorder(task.Clock())
    faults.record("traffic", "trigger vpn", _failure(AttributeError("no x")))
    assert faults.status().problems() == [
        "traffic: 1 unexpected error(s), last: trigger vpn: AttributeError: no x"]
    status = daemon_status(faults.status())
    assert status.problems() == faults.status().problems()
    assert daemon_status(FaultsStatus()).problems() == []


def test_a_legacy_log_err_counts_too() -> None:
    """Twisted reports an exception in a reader's doRead or a timer through log.err."""
    from twisted.python import log as legacy
    faults = FaultRecorder(task.Clock(), features=("forward",))
    faults.watch()
    try:
        try:
            _raise(ValueError("in doRead"))
        except ValueError:
            legacy.err(None, "unhandled")
    finally:
        faults.unwatch()
    assert faults.status().features[DAEMON].last == "twisted: ValueError: in doRead"
