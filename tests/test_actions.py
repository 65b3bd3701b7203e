"""The shared script runner with real processes: argv, no shell, timeout, bounded queue."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from netsentinel.actions import ActionRunner
from netsentinel.events import ActionFinished, EventBus


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "s.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest_twisted.ensureDeferred
async def test_arguments_arrive_verbatim_without_a_shell(tmp_path: Path) -> None:
    runner = ActionRunner(reactor)
    result = await runner.run([script(tmp_path, 'printf "%s|" "$@"\n'), "a b", "$(id)", ";x"])
    assert result.ok and result.output == "a b|$(id)|;x|"


@pytest_twisted.ensureDeferred
async def test_exit_code_and_output_are_reported(tmp_path: Path) -> None:
    bus = EventBus()
    seen: list[ActionFinished] = []
    bus.subscribe(ActionFinished, seen.append)
    result = await ActionRunner(reactor, bus).run([script(tmp_path, "echo boom >&2; exit 3\n")])
    assert (result.code, result.reason, result.output) == (3, "exit", "boom")
    assert seen[0].code == 3


@pytest_twisted.ensureDeferred
async def test_hanging_script_is_killed_after_timeout(tmp_path: Path) -> None:
    runner = ActionRunner(reactor, timeout=0.3)
    result = await runner.run([script(tmp_path, "exec sleep 60\n")])
    assert result.reason == "timeout" and result.code is None
    assert runner.running == 0


@pytest_twisted.ensureDeferred
async def test_queue_is_bounded(tmp_path: Path) -> None:
    runner = ActionRunner(reactor, concurrency=1, queue_limit=2, timeout=5)
    slow = script(tmp_path, "exec sleep 0.3\n")
    calls = [runner.run([slow]) for _ in range(5)]
    assert runner.running == 1 and runner.status()["queued"] == 2
    results = [await d for d in calls]
    assert [r.reason for r in results].count("dropped") == 2
    assert runner.dropped == 2 and runner.running == 0


@pytest_twisted.ensureDeferred
async def test_missing_program_fails_cleanly(tmp_path: Path) -> None:
    result = await ActionRunner(reactor).run([str(tmp_path / "absent")])
    assert not result.ok
