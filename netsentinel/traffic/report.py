"""What is wrong with the traffic triggers, in one line each, from their ``status``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(traffic: Mapping[str, Any] | None) -> list[str]:
    found: list[str] = []
    for name, trigger in (traffic or {}).get("triggers", {}).items():
        if trigger["failures"]:
            found.append(f"trigger {name}: {trigger['failures']} command failure(s)")
        for source in trigger["sources"]:
            if source["error"]:
                found.append(f"trigger {name}: {source['device']}: {source['error']}")
    return found
