"""What is wrong with the container monitor's connection, from its ``status`` (its sets
are the set writer's: :func:`netsentinel.nft.writer.sets_problems`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(docker: Mapping[str, Any] | None) -> list[str]:
    if docker and not docker["connected"]:
        return [f"docker: not connected to {docker['socket']}: {docker['error']}"]
    return []
