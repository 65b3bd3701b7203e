"""``netsentinel-ctl import TOOL``: a netsentinel section from the config of a tool it replaces.

Each tool has one module with ``convert(args, read) -> str``: ``args`` are the
words after the tool's name, ``read`` returns a file's text (or raises
ConfigError).  The YAML returned loads as it is; comments say where each value
came from and what has no equivalent.  Input that cannot be read raises
ConfigError with one ``FILE:LINE: key: reason`` per problem.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from netsentinel.schema import ConfigError, Problem, Section

Reader = Callable[[str], str]

TOOLS = {
    "ipmon": "netsentinel.cli.importers.ipmon",
    "imon": "netsentinel.cli.importers.imon",
    "tuninetd": "netsentinel.cli.importers.tuninetd",
    "monconn": "netsentinel.cli.importers.monconn",
    "rust-network-mgr": "netsentinel.cli.importers.rustnetmgr",
    "ddclient": "netsentinel.cli.importers.ddclient",
    "inadyn": "netsentinel.cli.importers.inadyn",
    "ddns-updater": "netsentinel.cli.importers.ddns_updater",
}

ARGV = "argv"   # the "file" named by problems in a tool's command line; the line is the word's position


def convert(tool: str, args: Sequence[str], read: Reader) -> str:
    module = importlib.import_module(TOOLS[tool])
    text: str = module.convert(list(args), read)
    return text


def read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError([Problem(path, 0, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(path, 0, "", f"cannot read: {e}")]) from None


def split_args(args: list[str], usage: str) -> tuple[list[str], list[str]]:
    """``FILE... [-- TOOL-OPTIONS...]``: the tool's own options follow ``--``."""
    if "--" in args:
        cut = args.index("--")
        files, options = args[:cut], args[cut + 1:]
    else:
        files, options = args, []
    for i, word in enumerate(files):
        if word.startswith("-"):
            raise ConfigError([Problem(ARGV, i + 1, word, f"the tool's options go after --: {usage}")])
    return files, options


def parse_options(files: list[str], options: list[str], usage: str,
                  flags: tuple[str, ...] = (), valued: tuple[str, ...] = ()) -> dict[str, str]:
    """An importer's own options after ``--``: ``flags`` (value "") and ``valued`` ones
    (``--name VALUE`` or ``--name=VALUE``); anything else is refused with its position."""
    found: dict[str, str] = {}
    i = 0
    while i < len(options):
        word = options[i]
        name, equals, value = word.partition("=")
        if word in flags:
            found[word] = ""
        elif name in valued and equals:
            found[name] = value
        elif word in valued and i + 1 < len(options):
            i += 1
            found[word] = options[i]
        else:
            raise argv_problem(len(files) + 2 + i, word,
                               f"not an option of this importer; {usage}")
        i += 1
    return found


def argv_problem(position: int, option: str, reason: str) -> ConfigError:
    return ConfigError([Problem(ARGV, position, option, reason)])


def refuse_problems(root: Section) -> None:
    """Raise when reading the tool's file found anything it could not understand."""
    if root.problems:
        raise ConfigError(root.problems)


def unknown_keys(section: Section) -> list[str]:
    """Notes for keys this importer does not know, so nothing is dropped in silence."""
    return [f"{section.key_path(key)} (line {line}): unknown to this importer, not imported"
            for key, line in section.unused()]
