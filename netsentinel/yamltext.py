"""YAML text to nodes, with every fault that is not about a key found at once: syntax,
encoding, depth, alias bombs, values no tag can make."""

from __future__ import annotations

from typing import Any

import yaml

MAX_EXPANDED_NODES = 200_000   # far above any real config; a billion-laughs file is refused
MAX_DEPTH = 200                # nesting beyond this is refused before it costs a recursion


class YamlFault(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def compose(text: str) -> yaml.Node | None:
    """Parse ``text`` into nodes and construct it once, so that nothing a parser reads later
    can raise: any fault of the file is one YamlFault (line, reason) here."""
    try:
        node = yaml.compose(text, Loader=_FastLoader) if _FastLoader else yaml.compose(
            text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlFault(line, f"YAML syntax: {e.problem}") from None
    except yaml.reader.ReaderError as e:   # control characters, bad encoding
        line = text.count("\n", 0, e.position) + 1
        raise YamlFault(line, f"not YAML text: {e.reason} (character {e.character!r})") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise YamlFault(0, f"not readable YAML: {_one_line(e)}") from None
    if node is not None:
        _check_depth(node)
        _check_size(node)
        _check_values(node)
    return node


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH while composing."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                              mark)
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


# libyaml's C composer, five times faster on a big file; it stops flow nesting at 1,000
# levels itself and _check_depth applies our bound to what it built.  Without libyaml the
# pure-Python loader refuses deep nesting while composing, before it costs a recursion.
_FastLoader: type | None = getattr(yaml, "CSafeLoader", None)


def _check_depth(root: yaml.Node) -> None:
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise YamlFault(node.start_mark.line + 1, f"YAML syntax: nested deeper than "
                            f"{MAX_DEPTH} levels")
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack += [(n, depth + 1) for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(n, depth + 1) for n in node.value]


def _check_size(root: yaml.Node) -> None:
    """Count the nodes as constructing would see them, aliases expanded (memoized, cheap)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1          # a recursive alias counts once
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        sizes[id(node)] = total
        return total
    if size(root) > MAX_EXPANDED_NODES:
        raise YamlFault(root.start_mark.line + 1, f"aliases expand to more than "
                        f"{MAX_EXPANDED_NODES} values (refused: a YAML alias bomb)")


def _check_values(root: yaml.Node) -> None:
    """Construct the whole document once: bad tags and values are found here, with a line."""
    try:
        yaml.SafeLoader("").construct_document(root)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlFault(mark.line + 1 if mark else 0, f"bad value: {e.problem}") from None
    except Exception as e:   # a constructor's own fault (int('xyz'), a bad !!timestamp)
        line = _failing_line(root) or root.start_mark.line + 1
        raise YamlFault(line, f"bad value: {_one_line(e)}") from None


def _failing_line(root: yaml.Node) -> int | None:
    """The line of the first scalar whose construction fails."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(node)
            except Exception:
                return int(node.start_mark.line) + 1
        elif isinstance(node, yaml.MappingNode):
            stack += [n for pair in reversed(node.value) for n in reversed(pair)]
        elif isinstance(node, yaml.SequenceNode):
            stack += list(reversed(node.value))
    return None


def _one_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:200]
