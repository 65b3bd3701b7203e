"""Fixtures for the traffic tests run against the real daemon in namespaces."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.lab import Lab

HELPER = str(Path(__file__).with_name("tunhelper.py"))


class Recorder:
    """A script that appends ``<args...> <epoch time>`` to a file for every call."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "record.sh"
        self.log = directory / "calls.log"
        self.path.write_text(f'#!/bin/sh\necho "$* $(date +%s.%N)" >> {self.log}\n')
        self.path.chmod(0o755)

    def calls(self) -> list[tuple[str, ...]]:
        """Each call's arguments, without its time."""
        return [tuple(line.split()[:-1]) for line in self._lines()]

    def times(self, *args: str) -> list[float]:
        return [float(line.split()[-1]) for line in self._lines()
                if tuple(line.split()[:-1]) == args]

    def _lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


class Tun:
    """A tun interface held open by a helper process in a namespace."""

    def __init__(self, lab: Lab, ns: str, name: str) -> None:
        self.name = name
        self.process = lab.popen(ns, [sys.executable, HELPER, name],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._expect("ready")
        lab.run(ns, "ip", "link", "set", name, "up")

    def write(self, packet: bytes) -> float:
        """Inject ``packet`` as if it came in on the tun; returns when it was written."""
        stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        stdin.write(packet.hex().encode() + b"\n")
        stdin.flush()
        self._expect("sent")
        return time.time()

    def _expect(self, word: str) -> None:
        line = self.process.stdout.readline().decode().strip()  # type: ignore[union-attr]
        assert line == word, f"tun helper said {line!r}, expected {word!r}"


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path)
