"""Annotated YAML written line by line, so every value can say where it came from.

Values and keys are dumped by PyYAML, never formatted by hand: a filter such as
``! host 1.2.3.4`` or an address such as ``:22`` is quoted whenever YAML needs it.
"""

from __future__ import annotations

from typing import Any

import yaml

NOTE_COLUMN = 36
MAX_WIDTH = 100


def scalar(value: Any) -> str:
    """One value in flow style (lists and mappings too), as YAML reads it back."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 20,
                               allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


class Document:
    """Lines of YAML and comments; ``depth`` counts two-space indents."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, depth: int = 0) -> None:
        for line in text.splitlines() or [""]:
            self.lines.append(f"{'  ' * depth}# {line}".rstrip())

    def key(self, key: str, depth: int, note: str | None = None) -> None:
        """A key whose value is the mapping (or list) that follows."""
        self._add(f"{'  ' * depth}{scalar(key)}:", note)

    def value(self, key: str, value: Any, depth: int, note: str | None = None) -> None:
        self._add(f"{'  ' * depth}{scalar(key)}: {scalar(value)}", note)

    def item(self, value: Any, depth: int, note: str | None = None) -> None:
        self._add(f"{'  ' * depth}- {scalar(value)}", note)

    def absent(self, key: str, value: Any, depth: int, note: str | None = None,
               hash_depth: int | None = None) -> None:
        """A key left commented out, to uncomment once it applies; the ``#`` goes at
        ``hash_depth`` when the key's parent is commented out too."""
        at = depth if hash_depth is None else hash_depth
        self._add(f"{'  ' * at}# {'  ' * (depth - at)}{scalar(key)}: {scalar(value)}", note)

    def blank(self) -> None:
        self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _add(self, line: str, note: str | None) -> None:
        if note:
            beside = f"{line.ljust(NOTE_COLUMN - 1)} # {note}"
            if len(beside) <= MAX_WIDTH:
                line = beside
            else:       # too long beside the value: the note goes on the line above
                self.comment(note, (len(line) - len(line.lstrip())) // 2)
        self.lines.append(line)
