"""ddclient.conf read as ddclient reads it (its ``_read_config``, ``parse_assignments`` and
``parse_assignment``, as of ddclient 4.0; 3.10 reads files the same way, except that its
``\\`` must be a line's very last character).

Per physical line: a ``password=`` value is taken out first (so it may hold ``#``, and
blanks may surround its ``=``), then ``#`` starts a comment (there is no escape), and a
line ending in ``\\`` continues on the next one; a blank or comment line ends the
continuation.  The logical line's blank runs become one blank; ``key=value`` settings
come first, the words left are HOSTS [LOGIN [PASSWORD]].  A line without hosts sets
globals for the entries after it; a host named in two entries keeps the first entry's
settings (ddclient merges in only keys the first did not set).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from netsentinel.schema import ConfigError, Problem

ASSIGNMENT = re.compile(r"(?:[^\S\n]|,)*([a-z][0-9a-z_-]*)=", re.IGNORECASE)
SEPARATORS = re.compile(r"(?:[^\S\n]|,)+")
# ddclient's special case: KEY ending in "password", its value to the next blank or quoted
PASSWORD = re.compile(r"^([^#]*\s)?([^#]*?password)\s*=\s*('.*'|[^']\S*)(.*)")
CONTINUED = re.compile(r"\\\s*$")
DEPRECATED = ("fw-banlocal", "if-skip")     # ddclient warns and drops them
SECRET_KEYS = ("password", "fw-password", "apikey", "secretapikey")


@attrs.frozen
class Assignment:
    """One ``key=value``; a ``key_env=VAR`` is stored under ``key`` with ``env`` set and
    the value this environment has (None when VAR is unset: ddclient then ignores it)."""

    value: str | None
    start: int
    env: str | None = None


@attrs.frozen
class Remark:
    """What ddclient warns about while parsing; ``refused`` ones the importer refuses."""

    start: int
    key: str
    text: str
    refused: bool = False


def parse_assignment(text: str, env: Mapping[str, str]
                     ) -> tuple[str | None, Assignment, str, Remark | None]:
    """(name, assignment, rest, warning); name None when ``text`` starts with no
    assignment.  The character ending a value (blank, comma, newline) stays in ``rest``."""
    match = ASSIGNMENT.match(text)
    if match is None:
        return None, Assignment("", 0), text, None
    position, value, quote, escape = match.end(), [], "", False
    while position < len(text):
        c = text[position]
        if escape:
            value.append(c)
            escape = False
        elif c == "\\":
            escape = True
        elif quote and c == quote:
            quote = ""
        elif not quote and c in "'\"":
            quote = c
        elif not quote and (c.isspace() or c == ","):
            break
        else:
            value.append(c)
        position += 1
    name, found, warning = match[1], Assignment("".join(value), match.start(1)), None
    if quote:
        warning = Remark(found.start, name, f"the {quote} quote is not closed on this line "
                           "(a '#' starts a comment, even inside quotes)",
                           refused=True)
    elif escape:
        warning = Remark(found.start, name, "the value ends with the escape character (\\)")
    if not quote and name.endswith("_env"):
        variable = found.value or ""
        name = name.removesuffix("_env")
        found = Assignment(env.get(variable) if variable else None, found.start, variable)
    return name, found, text[position:], warning


@attrs.frozen
class Parsed:
    rest: str
    found: dict[str, Assignment]
    warnings: list[Remark]


def parse_assignments(text: str, env: Mapping[str, str]) -> Parsed:
    """The assignments, the text left and the warnings; parsing stops at the first word
    that is not ``key=value`` or at an unquoted newline, as ddclient's does."""
    found: dict[str, Assignment] = {}
    warnings: list[Remark] = []
    offset, rest = 0, text
    while True:
        name, assignment, after, warning = parse_assignment(rest, env)
        start = offset + assignment.start
        offset += len(rest) - len(after)
        skip = SEPARATORS.match(after)
        if skip:
            offset, after = offset + skip.end(), after[skip.end():]
        rest = after
        if name is None:
            return Parsed(rest, found, warnings)
        assignment = attrs.evolve(assignment, start=start)
        if warning is not None:
            warnings.append(attrs.evolve(warning, start=start))
        if name in DEPRECATED:
            warnings.append(Remark(start, name, "deprecated in ddclient, does nothing "
                                     "(dropped)"))
        elif assignment.value is not None or name not in found:
            found[name] = assignment


def ddclient_values(assignments: Mapping[str, Assignment]) -> dict[str, str]:
    """The variables ddclient ends up with: a ``*_env`` whose variable is unset is dropped."""
    return {k: a.value for k, a in assignments.items() if a.value is not None}


@attrs.frozen
class Setting:
    value: str
    line: int
    local: bool                  # on the entry's own line (else a global before it)
    env: str | None = None       # from ``key_env=VAR``: the variable (value: what it holds here)

    def at(self, key: str) -> str:
        """``key=value (line N)``, without the value for a secret, as ``key_env=VAR``
        for one from the environment."""
        shown = (f"{key}_env={self.env}" if self.env is not None
                 else key if key in SECRET_KEYS else f"{key}={self.value}")
        return f"{shown} (line {self.line})"


@attrs.define
class Entry:
    hosts: list[tuple[str, int]]
    settings: dict[str, Setting]
    line: int
    name: str = ""
    notes: list[str] = attrs.Factory(list)


@attrs.frozen
class Conf:
    """The entries in file order, the globals left at the end, and notes on lines."""

    entries: list[Entry]
    globals: dict[str, Setting]
    notes: list[tuple[int, str]]


class _Logical:
    """One logical line, canonified as ddclient does, each character's physical line known."""

    def __init__(self, parts: list[tuple[int, str]]) -> None:
        text: list[str] = []
        lines: list[int] = []
        for number, part in parts:
            for c in part:
                if c.isspace() and text and text[-1] == " ":
                    continue
                text.append(" " if c.isspace() else c)
                lines.append(number)
        while text and text[-1] == " ":
            text.pop()
            lines.pop()
        while text and text[0] == " ":
            text.pop(0)
            lines.pop(0)
        self.text, self.lines = "".join(text), lines
        self.first = parts[0][0]

    def line_at(self, position: int) -> int:
        return self.lines[min(position, len(self.lines) - 1)] if self.lines else self.first


class _Reader:
    """Collects entries, globals, notes and problems over the lines of one file."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file, self.env = file, env
        self.problems: list[Problem] = []
        self.glob: dict[str, Setting] = {}
        self.entries: list[Entry] = []
        self.notes: list[tuple[int, str]] = []
        self.owner: dict[str, Entry] = {}

    def read(self, text: str) -> Conf:
        parts: list[tuple[int, str]] = []
        passwords: dict[str, tuple[str, int]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw
            special = PASSWORD.match(line)
            if special:
                head, key, value, tail = special[1] or "", special[2], special[3], special[4]
                quoted = re.fullmatch(r"'(.*)'", value)
                passwords[key] = (quoted[1] if quoted else value, number)
                line = f"{head}{key}=dummy{tail}"
            line = line.split("#", 1)[0]
            if CONTINUED.search(line):
                parts.append((number, CONTINUED.sub("", line)))
                continue
            parts.append((number, line))
            logical, parts = _Logical(parts), []
            if logical.text:
                self.line(logical, passwords)
            passwords = {}
        if parts:
            self.notes.append((parts[0][0], "the last line ends with '\\': ddclient warns "
                               "that the file ends while expecting a continuation line"))
            logical = _Logical(parts)
            if logical.text:
                self.line(logical, passwords)
        if self.problems:
            raise ConfigError(self.problems)
        return Conf(self.entries, self.glob, self.notes)

    def line(self, logical: _Logical, passwords: dict[str, tuple[str, int]]) -> None:
        parsed = parse_assignments(logical.text, self.env)
        for warning in parsed.warnings:
            problem = Problem(self.file, logical.line_at(warning.start), warning.key,
                              warning.text)
            if warning.refused:
                self.problems.append(problem)
            else:
                self.notes.append((problem.line, f"{warning.key}: {warning.text}"))
        local: dict[str, Setting] = {}
        for key, a in parsed.found.items():
            line = logical.line_at(a.start)
            if a.value is None and key not in SECRET_KEYS:
                self.notes.append((line, f"{key}_env={a.env}: {a.env or 'the empty name'} is "
                                   "not set here, and ddclient ignores the setting then"))
            elif key in passwords and a.env is None:
                local[key] = Setting(passwords[key][0], passwords[key][1], True)
            else:
                local[key] = Setting(a.value or "", line, True, a.env)
        if self.empty_then_word(logical, parsed):
            return
        hosts = self.words(logical, parsed.rest, local)
        if hosts is None:
            return
        if not hosts:
            self.glob.update({k: attrs.evolve(v, local=False) for k, v in local.items()})
            return
        self.entry(Entry(hosts, {**self.glob, **local}, hosts[0][1]))

    def empty_then_word(self, logical: _Logical, parsed: Parsed) -> bool:
        """``login= me host``: ddclient takes ``me`` for a host name; refused as a typo
        (a password is taken with the blanks, as ddclient does)."""
        if not parsed.found or not parsed.rest:
            return False
        key, last = list(parsed.found.items())[-1]
        end = last.start + len(key) + 1
        if (last.env is None and key not in SECRET_KEYS and last.value == ""
                and logical.text[end:end + 1] == " "):
            self.problems.append(Problem(self.file, logical.line_at(last.start), key,
                                         "empty value, then a word ddclient reads as a host "
                                         "name: write key=value without blanks around '='"))
            return True
        return False

    def words(self, logical: _Logical, rest: str,
              local: dict[str, Setting]) -> list[tuple[str, int]] | None:
        """The host names (login and password, the old syntax, go into ``local``)."""
        line = logical.line_at(len(logical.text) - len(rest))
        words = re.sub(r"\s*,\s*", ",", rest).split()
        for i, word in enumerate(words):
            if "=" in word:
                key = word.partition("=")[0] or (words[i - 1] if i else "")
                self.problems.append(Problem(self.file, line, key, "not read as a setting: "
                                             "write key=value, without blanks around '=' "
                                             "(ddclient took these words for host names)"))
                return None
        if "host" in local:
            words[:1] = [",".join(w for w in (*words[:1], local.pop("host").value) if w)]
        if len(words) > 3:
            self.notes.append((line, f"{' '.join(words[3:])}: words after HOSTS LOGIN "
                               "PASSWORD, ignored by ddclient (host names are separated by "
                               "commas)"))
        if len(words) > 1:
            local["login"] = Setting(words[1], line, True)
        if len(words) > 2:
            local["password"] = Setting(words[2], line, True)
        return [(host, line) for host in re.split(r"\s*[, ]\s*", words[0]) if host] if words else []

    def entry(self, entry: Entry) -> None:
        """File order; a host already named keeps its first entry (ddclient's
        ``{%globals, %locals, %{$config{$h}}}``: the earlier values win)."""
        for host, line in list(entry.hosts):
            first = self.owner.get(host)
            if first is None:
                self.owner[host] = entry
                continue
            entry.hosts.remove((host, line))
            added = sorted(k for k in entry.settings if k not in first.settings)
            merged = (f"; ddclient adds {', '.join(added)} from line {line} to it (not "
                      "imported)" if added else "")
            first.notes.append(f"{host}: named again on line {line}; ddclient keeps this "
                               f"entry's settings for it (the first wins){merged}")
            self.notes.append((line, f"{host}: already named on line {first.line}, whose "
                               "entry ddclient updates it with: dropped here"))
        if entry.hosts:
            self.entries.append(entry)


def read_config(text: str, file: str, env: Mapping[str, str] | None = None) -> Conf:
    """The entries, globals and notes of ddclient.conf ``text``; ``env`` is the environment
    ``*_env`` settings are read from (none by default)."""
    return _Reader(file, env or {}).read(text)
