"""What every check kind shares: instance names, how a check pings, addresses."""

from __future__ import annotations

import re
from typing import Any

import attrs

from netsentinel.schema import Section, address, integer, number

INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@attrs.frozen
class Probe:
    """How one check pings: ``count`` packets, each waited for ``wait`` seconds."""

    count: int = 2
    wait: float = 1.0


def probe(section: Section) -> Probe:
    return Probe(section.get("count", integer(1, 100), 2), section.get("wait", number(0.01, 60), 1.0))


def instances(section: Section, key: str) -> list[tuple[str, Section]]:
    out = []
    for name, entry in section.section(key).sections():
        if not INSTANCE.match(name):
            entry.problem(f"instance name must be letters, digits, '_', '.', '-': {name!r}")
        out.append((name, entry))
    return out


def optional_address(value: Any) -> str | None:
    return None if value is None or value == "" else address(value)
