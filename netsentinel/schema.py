"""Typed reading of a YAML document that remembers where every value came from.

Each feature parses its own section with a :class:`Section`; every problem is
recorded as one :class:`Problem` naming file, line, key path and reason, and the
whole file is refused if any was found.  Nothing is raised half-way, so the
user sees every mistake at once.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import yaml

from netsentinel import yamltext

T = TypeVar("T")
_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")
_MISSING: Any = object()
REQUIRED: Any = object()


@attrs.frozen
class Problem:
    file: str
    line: int
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key or '<top>'}: {self.reason}"


class ConfigError(Exception):
    """The configuration was refused; ``problems`` holds one entry per mistake."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


class _Invalid(Exception):
    """Raised by a value converter; the message becomes the problem's reason."""


def invalid(reason: str) -> _Invalid:
    return _Invalid(reason)


_constructor = yaml.SafeLoader("")


def compose(text: str, file: str) -> yaml.Node | None:
    """Nodes of ``text``, checked so that nothing a parser reads later can raise."""
    try:
        return yamltext.compose(text)
    except yamltext.YamlFault as e:
        raise ConfigError([Problem(file, e.line, "", e.reason)]) from None


class Section:
    """A YAML mapping being read by a parser; records problems and unknown keys."""

    def __init__(self, node: yaml.Node | None, path: str, file: str,
                 problems: list[Problem]) -> None:
        self.file = file
        self.path = path
        self.problems = problems
        self.line = node.start_mark.line + 1 if node is not None else 0
        self._values: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        self._used: set[str] = set()
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return
        if not isinstance(node, yaml.MappingNode):
            self.problem("expected a mapping of keys", self.line)
            return
        for key_node, value_node in node.value:
            key = str(_constructor.construct_object(key_node, deep=True))
            if key in self._values:
                self.problem(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            self._values[key] = (key_node, value_node)

    @classmethod
    def from_text(cls, text: str, file: str) -> Section:
        return cls(compose(text, file), "", file, [])

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, reason: str, line: int | None = None, key: str = "") -> None:
        self.problems.append(
            Problem(self.file, self.line if line is None else line,
                    self.key_path(key) if key else self.path, reason))

    def has(self, key: str) -> bool:
        return key in self._values

    def keys(self) -> list[str]:
        return list(self._values)

    def line_of(self, key: str) -> int:
        return self._values[key][1].start_mark.line + 1 if key in self._values else self.line

    def line_at(self, keys: Sequence[str]) -> int:
        """The line of the value at the path ``keys`` below here (of the deepest one present)."""
        line, values = self.line, self._values
        for key in keys:
            if key not in values:
                break
            node = values[key][1]
            line = node.start_mark.line + 1
            values = Section(node, "", self.file, [])._values
        return line

    def raw(self, key: str) -> Any:
        self._used.add(key)
        return _constructor.construct_object(self._values[key][1], deep=True)

    def get(self, key: str, convert: Callable[[Any], T], default: Any = REQUIRED) -> T:
        """Read ``key`` through ``convert``; a problem yields ``default`` (or None)."""
        self._used.add(key)
        if key not in self._values:
            if default is REQUIRED:
                self.problem("required key is missing", key=key)
                return None  # type: ignore[return-value]
            return default  # type: ignore[no-any-return]
        value = _constructor.construct_object(self._values[key][1], deep=True)
        try:
            return convert(value)
        except _Invalid as e:
            self.problem(str(e), self.line_of(key), key)
        return None if default is REQUIRED else default  # type: ignore[return-value]

    def section(self, key: str, required: bool = False) -> Section:
        self._used.add(key)
        if key not in self._values:
            if required:
                self.problem("required section is missing", key=key)
            return Section(None, self.key_path(key), self.file, self.problems)
        return Section(self._values[key][1], self.key_path(key), self.file, self.problems)

    def sections(self) -> Iterator[tuple[str, Section]]:
        """Each key of a mapping of named instances (``forward: {ssh: {...}}``)."""
        for key in list(self._values):
            yield key, self.section(key)

    def items(self, key: str) -> list[Section | Any]:
        """A list value: mapping items come back as Sections, scalars as values."""
        self._used.add(key)
        if key not in self._values:
            return []
        node = self._values[key][1]
        if not isinstance(node, yaml.SequenceNode):
            self.problem("expected a list", self.line_of(key), key)
            return []
        out: list[Section | Any] = []
        for i, item in enumerate(node.value):
            if isinstance(item, yaml.MappingNode):
                out.append(Section(item, f"{self.key_path(key)}[{i}]", self.file, self.problems))
            else:
                out.append(_constructor.construct_object(item, deep=True))
        return out

    def unused(self) -> list[tuple[str, int]]:
        """Keys nobody asked for, with their lines (an importer notes them instead)."""
        return [(key, key_node.start_mark.line + 1)
                for key, (key_node, _) in self._values.items() if key not in self._used]

    def done(self) -> None:
        """Report every key nobody asked for: typos never pass silently."""
        for key, line in self.unused():
            self.problem("unknown key", line, key)


# -- converters: each takes the YAML value and returns it typed, or raises invalid()

def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"expected a non-empty string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"expected true or false, got {value!r}")
    return value


def integer(low: int | None = None, high: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"expected an integer, got {value!r}")
        _check_range(value, low, high)
        return value
    return convert


def number(low: float | None = None, high: float | None = None) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(f"expected a number, got {value!r}")
        if not math.isfinite(value):   # .nan passes every range test; .inf never fires a timer
            raise invalid(f"expected a finite number, got {value}")
        _check_range(value, low, high)
        return float(value)
    return convert


def _check_range(value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise invalid(f"{value} is out of range (minimum {low})")
    if high is not None and value > high:
        raise invalid(f"{value} is out of range (maximum {high})")


def choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise invalid(f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)
    return convert


def ip_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise invalid(f"not an IP address: {value!r}") from None


def address(value: Any) -> str:
    """An IP address in its canonical text form."""
    return str(ip_address(value))


IFNAME = re.compile(r"^[^\s/:]{1,15}$")


def interface_name(value: Any) -> str:
    if not isinstance(value, str) or not IFNAME.match(value):
        raise invalid(f"not an interface name: {value!r}")
    return value


def hostname(value: Any) -> str:
    """A DNS name, without its trailing dot."""
    name = string(value).rstrip(".")
    if not re.match(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$", name):
        raise invalid(f"not a DNS name: {value!r}")
    return name


def http_url(value: Any) -> str:
    url = string(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"expected an http:// or https:// URL, got {value!r}")
    return url


def ip_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise invalid(f"not an IP address or CIDR network: {value!r}") from None


@attrs.frozen
class Endpoint:
    """``host:port``; an empty listen host means every address, IPv4 and IPv6."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def endpoint(value: Any, listen: bool = False) -> Endpoint:
    text = value if isinstance(value, str) else str(value)
    match = _ENDPOINT.match(text.strip())
    if match is None:
        raise invalid(f"expected host:port or [ipv6]:port, got {value!r}")
    host = match["v6"] if match["v6"] is not None else match["host"]
    port = int(match["port"])
    if not 0 < port < 65536:
        raise invalid(f"port {port} is out of range (1-65535)")
    if host == "" or host == "*":
        if not listen:
            raise invalid(f"a backend needs a host, got {value!r}")
        return Endpoint("::", port)     # like Go's ":22": dual stack
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if listen or match["v6"] is not None:
            raise invalid(f"not an IP address: {host!r}") from None
    return Endpoint(host, port)


def listen_endpoint(value: Any) -> Endpoint:
    return endpoint(value, listen=True)


def list_of(convert: Callable[[Any], T]) -> Callable[[Any], tuple[T, ...]]:
    def convert_list(value: Any) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise invalid(f"expected a list, got {value!r}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(convert(item))
            except _Invalid as e:
                raise invalid(f"item {i}: {e}") from None
        return tuple(out)
    return convert_list


def existing_file(value: Any) -> str:
    path = string(value)
    if not os.path.isfile(path):
        raise invalid(f"file not found: {path}")
    return path


def executable(value: Any) -> str:
    path = existing_file(value)
    if not os.access(path, os.X_OK):
        raise invalid(f"not executable: {path}")
    return path


def command(value: Any) -> tuple[str, ...]:
    """An argv list (or one path); its program must exist and be executable."""
    argv = (value,) if isinstance(value, str) else list_of(string)(value)
    if not argv:
        raise invalid("expected a command: a path or a list of arguments")
    program = argv[0]
    if os.sep not in program:
        found = _which(program)
        if found is None:
            raise invalid(f"program not found in PATH: {program}")
        program = found
    executable(program)
    return (program, *argv[1:])


def _which(name: str) -> str | None:
    for directory in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(os.pathsep):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def writable_path(value: Any) -> str:
    """A file we will write: its directory must exist."""
    path = string(value)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise invalid(f"directory does not exist: {directory}")
    return path
