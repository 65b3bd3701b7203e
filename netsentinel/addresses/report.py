"""What is wrong with the address monitor's files, in one line each, from its ``status``
(its sets are the set writer's: :func:`netsentinel.nft.writer.sets_problems`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(addresses: Mapping[str, Any] | None) -> list[str]:
    return [f"addresses: file {name}: {state['error']}"
            for name, state in (addresses or {}).get("files", {}).items() if state["error"]]
