"""What is wrong with the forward services, in one line each, from their ``status``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(forward: Mapping[str, Any] | None) -> list[str]:
    found: list[str] = []
    for name, svc in (forward or {}).items():
        # a service stopped on purpose (`forward stop`) is no problem: haproxy's MAINT
        if svc["backend_failures"]:
            found.append(f"forward {name}: {svc['backend_failures']} backend failure(s)")
        if svc["backend_address"]["error"]:
            found.append(f"forward {name}: backend {svc['backend']}: "
                         f"{svc['backend_address']['error']}")
        if (svc.get("blacklist_set") or {}).get("error"):
            found.append(f"forward {name}: blacklist set: {svc['blacklist_set']['error']}")
    return found
