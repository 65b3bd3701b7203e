"""Faults never hide: the real daemon, with a bug injected into a sync, a check and a forward
service's sweep, shows each in ``status``, ``/metrics`` and the status page, and the next
attempt still runs.

The bug is put in by a ``sitecustomize`` on the daemon's PYTHONPATH, which wraps one
function so that it raises while a flag file exists; nothing else of the daemon changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import ROOT, Lab, samples, wait_for
from tests.test_metrics_daemon import Router

SITECUSTOMIZE = '''
import importlib, os

FLAGS = os.environ["NETSENTINEL_TEST_FLAGS"]


def _raising_while_flagged(module, owner, name, flag):
    target = importlib.import_module(module)
    if owner:
        target = getattr(target, owner)
    original = getattr(target, name)

    def patched(*args, **kwargs):
        if os.path.exists(os.path.join(FLAGS, flag)):
            raise RuntimeError("injected fault")
        return original(*args, **kwargs)
    setattr(target, name, patched)


_raising_while_flagged("netsentinel.addresses.zones", None, "desired_sets", "addresses")
_raising_while_flagged("netsentinel.checks.ping", "PingMonitor", "check", "checks")
_raising_while_flagged("netsentinel.forward.listener", "Forwarder", "sweep", "forward")
'''


class Faulty:
    """The metrics daemon's router, its daemon started with the injecting sitecustomize."""

    def __init__(self, lab: Lab, tmp_path: Path) -> None:
        inject = tmp_path / "inject"
        inject.mkdir()
        (inject / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.flags = tmp_path / "flags"
        self.flags.mkdir()
        self.router = Router(lab, tmp_path)
        self.daemon = self.router.daemon
        self.daemon.write_config(self.router.config("127.0.0.1:9380", status_page=True))
        self.daemon.env = {"PYTHONPATH": f"{inject}:{ROOT}",
                           "NETSENTINEL_TEST_FLAGS": str(self.flags)}
        self.daemon.start()

    def inject(self, feature: str) -> None:
        (self.flags / feature).touch()

    def cure(self, feature: str) -> None:
        (self.flags / feature).unlink()

    def fault(self, feature: str) -> dict[str, Any] | None:
        return self.daemon.status()["faults"]["features"].get(feature)  # type: ignore[no-any-return]

    def faults_metric(self) -> dict[str, float]:
        return {k: v for k, v in self.router.scrape().items()
                if k.startswith("netsentinel_faults_total")}

    def problems(self) -> list[str]:
        status, _, body = self.router.http("/")
        assert status == 200, body
        return [line for line in body.split("<li>")[1:]]


@pytest.fixture
def faulty(lab: Lab, tmp_path: Path) -> Iterator[Faulty]:
    yield Faulty(lab, tmp_path)


def test_a_sync_that_raises_is_shown_and_the_next_sync_runs(faulty: Faulty) -> None:
    router = faulty.router
    wait_for(lambda: router.lab.nft_set(router.ns, "inet", "filter", "wan_ips")
             == {"10.1.0.1", "10.1.0.2"}, what="first sync")
    assert faulty.daemon.status()["faults"] == {"total": 0, "features": {}}
    assert faulty.faults_metric()['netsentinel_faults_total{feature="addresses"}'] == 0
    syncs = faulty.daemon.status()["addresses"]["syncs"]
    faulty.inject("addresses")
    faulty.daemon.ctl("addresses sync")
    fault = wait_for(lambda: faulty.fault("addresses"), what="the sync's fault in status")
    assert fault["count"] == 1
    assert fault["last"] == "sync nftables: RuntimeError: injected fault"
    assert faulty.daemon.status()["faults"]["total"] == 1
    assert faulty.daemon.status()["ready"] is True
    assert faulty.faults_metric()['netsentinel_faults_total{feature="addresses"}'] == 1
    assert samples(faulty.daemon.ctl("metrics"))[
        'netsentinel_faults_total{feature="addresses"}'] == 1
    assert any("addresses: 1 unexpected error(s), last: sync nftables: RuntimeError: injected fault"
               in p for p in faulty.problems())
    faulty.cure("addresses")
    router.lab.run(router.ns, "ip", "addr", "add", "10.1.0.3/24", "dev", router.wan)
    wait_for(lambda: router.lab.nft_set(router.ns, "inet", "filter", "wan_ips")
             == {"10.1.0.1", "10.1.0.2", "10.1.0.3"}, what="the next sync applied")
    assert faulty.daemon.status()["addresses"]["syncs"] >= syncs + 2
    assert faulty.fault("addresses")["count"] == 1   # type: ignore[index]
    assert "Traceback" in faulty.daemon.output() and "injected fault" in faulty.daemon.output()


def test_a_check_that_raises_is_shown_and_the_checks_go_on(faulty: Faulty) -> None:
    def sent() -> int:
        window = faulty.daemon.status()["checks"]["ping"]["self"]["window"]
        return int(window["sent"]) if window else 0
    wait_for(sent, what="first ping")
    faulty.inject("checks")
    wait_for(lambda: (faulty.fault("checks") or {}).get("count", 0) >= 2,
             what="the check faulted twice: the next check ran after the first fault")
    fault = faulty.fault("checks")
    assert fault is not None and fault["last"] == "ping self: RuntimeError: injected fault"
    assert faulty.faults_metric()['netsentinel_faults_total{feature="checks"}'] >= 2
    assert any(p.startswith("checks: ") and "ping self: RuntimeError" in p
               for p in faulty.problems())
    faulty.cure("checks")
    before = sent()
    wait_for(lambda: sent() > before, what="a ping after the fault")


def test_a_forward_sweep_that_raises_keeps_sweeping(faulty: Faulty) -> None:
    faulty.inject("forward")
    wait_for(lambda: (faulty.fault("forward") or {}).get("count", 0) >= 2,
             what="the sweep faulted twice: the loop went on")
    fault = faulty.fault("forward")
    assert fault is not None and fault["last"] == "echo sweep: RuntimeError: injected fault"
    assert faulty.daemon.status()["forward"]["echo"]["state"] == "running"
    assert faulty.faults_metric()['netsentinel_faults_total{feature="forward"}'] >= 2
    # the traceback once, then one line per repeat
    assert faulty.daemon.output().count("echo sweep (fault 1)") == 1
    assert "fault in echo sweep again (fault 2)" in faulty.daemon.output()


if __name__ == "__main__":   # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
