"""A lab namespace where the real daemon watches a private container engine (dockerd or
podman's service), with an action script that records its calls, read through nft."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from tests.lab import Daemon, Lab, wait_for

ACTION = """#!/bin/sh
echo "$@" >> {dir}/action.log
"""


class EngineHost:
    def __init__(self, lab: Lab, ns: str, tmp_path: Path, config: str) -> None:
        self.lab = lab
        self.ns = ns
        self.dir = tmp_path
        action = tmp_path / "action.sh"
        action.write_text(ACTION.format(dir=tmp_path))
        action.chmod(0o755)
        self.daemon = Daemon(lab, ns, tmp_path, config)

    def set(self, name: str) -> builtins.set[str] | None:
        return self.lab.nft_set(self.ns, "inet", "filter", name)

    def wait_set(self, name: str, expected: builtins.set[str]) -> None:
        wait_for(lambda: self.set(name) == expected, what=f"{name} == {expected}")

    def docker(self) -> dict[str, Any]:
        return self.daemon.status()["docker"]  # type: ignore[no-any-return]

    def actions(self) -> list[str]:
        log = self.dir / "action.log"
        return log.read_text().splitlines() if log.exists() else []
