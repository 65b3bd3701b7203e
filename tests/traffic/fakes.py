"""Test doubles for the traffic unit tests: a runner whose calls we finish by hand."""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet import defer

from netsentinel.actions import ActionResult, ScriptCall, script_argv


class RecordingRunner:
    """Stands for ActionRunner: records argv and lets the test decide each exit code."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.pending: list[defer.Deferred[ActionResult]] = []

    def run(self, argv: Sequence[str], env: object = None,
            timeout: float | None = None) -> defer.Deferred[ActionResult]:
        self.calls.append(tuple(argv))
        d: defer.Deferred[ActionResult] = defer.Deferred()
        self.pending.append(d)
        return d

    def call(self, script: Sequence[str], call: ScriptCall, env: object = None,
             timeout: float | None = None) -> defer.Deferred[ActionResult]:
        return self.run(script_argv(script, call), env, timeout)

    def finish(self, code: int = 0) -> None:
        """End the oldest running command with ``code``."""
        d = self.pending.pop(0)
        argv = self.calls[-len(self.pending) - 1]
        d.callback(ActionResult(argv, code, "exit", "" if code == 0 else "boom", 0.1))

    def verbs(self) -> list[str]:
        return [argv[-1] for argv in self.calls]
