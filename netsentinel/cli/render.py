"""Replies as readable text: nested mappings become indented key/value tables."""

from __future__ import annotations

import datetime
from typing import Any


def render(value: Any, indent: int = 0) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(_lines(value, indent))


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return "-"
    timed = key == "at" or key.endswith(("_at", "last_sync", "accessed", "boot"))
    if timed and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and value > 1e9:
        return datetime.datetime.fromtimestamp(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_scalar(key, v) for v in value) or "-"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict) and not (
        isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))


def _lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, list):
        out = []
        for item in value:
            out += _lines(item, indent) if not _is_scalar(item) else [pad + _scalar("", item)]
            out.append("")
        return out[:-1]
    if not isinstance(value, dict):
        return [pad + _scalar("", value)]
    width = max((len(k) for k, v in value.items() if _is_scalar(v)), default=0)
    out = [f"{pad}{k.ljust(width)}  {_scalar(k, v)}" for k, v in value.items() if _is_scalar(v)]
    for k, v in value.items():
        if not _is_scalar(v):
            out.append(f"{pad}{k}:")
            out += _lines(v, indent + 1)
    return out
