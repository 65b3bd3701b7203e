"""What is wrong with the manhole, in one line, from its ``status`` section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(manhole: Mapping[str, Any] | None) -> list[str]:
    return [f"manhole: {manhole['error']}"] if manhole and manhole["error"] else []
