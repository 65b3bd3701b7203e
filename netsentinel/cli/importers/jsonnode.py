"""A JSON file read as ``json.load`` reads it, as YAML nodes that know their lines.

imon reads its instance file with ``json.load``; YAML is not a superset of JSON (a
tab in the indentation, ``1e5``, ``\\/``), so the importer decodes the JSON itself and
only then gives :class:`~netsentinel.schema.Section` nodes with line numbers.  A key
given twice keeps its last value, as ``json.load`` does, and is reported so the
importer can say which one counted.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from netsentinel.schema import ConfigError, Problem

_SPACE = re.compile(r"[ \t\n\r]*")
_TAGS = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}


def compose(text: str, file: str) -> tuple[yaml.Node, list[tuple[str, int, int]]]:
    """The document's node, and each key given twice as (key, earlier line, kept line)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError([Problem(file, e.lineno, "", f"JSON syntax: {e.msg} "
                                   f"(column {e.colno})")]) from None
    except RecursionError:
        raise ConfigError([Problem(file, 0, "", "JSON nested too deeply")]) from None
    duplicates: list[tuple[str, int, int]] = []
    node, _ = _Reader(text, file, duplicates).value(_SPACE.match(text, 0).end())  # type: ignore[union-attr]
    return node, duplicates


class _Reader:
    def __init__(self, text: str, file: str, duplicates: list[tuple[str, int, int]]) -> None:
        self.text, self.file, self.duplicates = text, file, duplicates
        self.scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__

    def mark(self, at: int) -> yaml.Mark:
        line = self.text.count("\n", 0, at)
        return yaml.Mark(self.file, at, line, at - self.text.rfind("\n", 0, at) - 1, None, None)

    def skip(self, at: int) -> int:
        return _SPACE.match(self.text, at).end()  # type: ignore[union-attr]

    def value(self, at: int) -> tuple[yaml.Node, int]:
        mark = self.mark(at)
        if self.text[at] == "{":
            return self.mapping(at, mark)
        if self.text[at] == "[":
            items: list[yaml.Node] = []
            at = self.skip(at + 1)
            while self.text[at] != "]":
                item, at = self.value(at)
                items.append(item)
                at = self.skip(at)
                at = self.skip(at + 1) if self.text[at] == "," else at
            return yaml.SequenceNode("tag:yaml.org,2002:seq", items, mark, self.mark(at)), at + 1
        scalar, end = self.scan(self.text, at)
        return _scalar(scalar, mark, self.mark(end)), end

    def mapping(self, at: int, mark: yaml.Mark) -> tuple[yaml.Node, int]:
        pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        at = self.skip(at + 1)
        while self.text[at] != "}":
            key_mark = self.mark(at)
            key, at = self.scan(self.text, at)
            at = self.skip(self.skip(at) + 1)        # the ':'
            value, at = self.value(at)
            if key in pairs:
                self.duplicates.append((key, pairs[key][0].start_mark.line + 1,
                                        key_mark.line + 1))
                del pairs[key]
            pairs[key] = (_scalar(key, key_mark, key_mark), value)
            at = self.skip(at)
            at = self.skip(at + 1) if self.text[at] == "," else at
        return yaml.MappingNode("tag:yaml.org,2002:map", list(pairs.values()), mark,
                                self.mark(at)), at + 1


def _scalar(value: Any, start: yaml.Mark, end: yaml.Mark) -> yaml.Node:
    """A node the safe constructor turns back into exactly ``value``."""
    kind = _TAGS[type(value)]
    if kind == "float":
        text = repr(value) if math.isfinite(value) else (
            ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf"))
    elif kind == "bool":
        text = "true" if value else "false"
    elif kind == "null":
        text = "null"
    else:
        text = str(value)
    return yaml.ScalarNode(f"tag:yaml.org,2002:{kind}", text, start, end)
