"""ddclient.conf → ``checks: ddns:`` instances that update the provider.

The file is read as ddclient reads it (conf.py); keys map in keys.py, writer.py and
update.py.  Passwords are never written out: the output is pasted into bug reports,
so it names a password file (or the environment variable ddclient read) instead.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from netsentinel.checks.config import INSTANCE
from netsentinel.cli.importers import Reader, argv_problem, parse_options, split_args
from netsentinel.cli.importers.ddclient.conf import Entry, read_config
from netsentinel.cli.importers.ddclient.keys import duration
from netsentinel.cli.importers.ddclient.writer import Writer
from netsentinel.schema import ConfigError

__all__ = ["convert", "convert_text", "duration", "read_config"]

USAGE = "import ddclient [FILE] [-- --secret-dir DIR]"
DEFAULT_FILE = "/etc/ddclient.conf"
SECRET_DIR = "/etc/netsentinel"


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    secret_dir = parse_options(files, options, USAGE, valued=("--secret-dir",)).get(
        "--secret-dir", SECRET_DIR)
    if len(files) > 1:
        raise argv_problem(2, files[1], "ddclient reads one config file")
    path = files[0] if files else DEFAULT_FILE
    return convert_text(read(path), path, secret_dir.rstrip("/") or "/")


def _names(entries: list[Entry]) -> None:
    """Each entry's instance name: its first host (or server), unique, with room for -v6."""
    taken: set[str] = set()
    for entry in entries:
        server = entry.settings.get("server")
        candidates = [entry.hosts[0][0], urlsplit(f"//{server.value.split('://')[-1]}").hostname
                      if server else None, "ddclient"]
        base = next(c for c in candidates if c and INSTANCE.match(f"{c}-v6-99"))
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.update((name, f"{name}-v6"))
        entry.name = name


def convert_text(text: str, file: str, secret_dir: str = SECRET_DIR) -> str:
    conf = read_config(text, file, os.environ)
    _names(conf.entries)
    writer = Writer(file, secret_dir)
    doc = writer.doc
    doc.comment(f"netsentinel `checks:` imported from {file}\n"
                "by `netsentinel-ctl import ddclient`; check it with "
                "`netsentinel-ctl check-config FILE`.\n"
                "Passwords and tokens are never copied: write each one into the "
                "password_file\nor token_file named below (chmod 600).")
    for number, note in conf.notes:
        writer.global_notes[(number, note)] = f"line {number}: {note}"
    if not conf.entries:
        doc.comment("no entry: ddclient updates the host names at the end of a line, and no "
                    "line has any\n(ddclient itself starts and warns 'no hosts configured')")
        doc.value("checks", {}, 0)
    else:
        doc.key("checks", 0)
        doc.key("ddns", 1)
    caches: dict[str, int] = {}
    for entry in conf.entries:
        if "cache" in entry.settings:
            caches[entry.settings["cache"].value] = caches.get(entry.settings["cache"].value, 0) + 1
    for entry in conf.entries:
        cache = entry.settings.get("cache")
        writer.entry(entry, caches[cache.value] if cache else 0)
    for key, setting in conf.globals.items():
        if any(e.settings.get(key) == setting for e in conf.entries):
            continue
        writer.global_notes[(setting.line, key)] = (
            f"{setting.at(key)}: after the last entry, applies to none")
    for _, line in sorted(writer.global_notes.items()):
        doc.comment(line)
    if writer.problems:         # a global's problem is found once per entry: said once
        raise ConfigError(list(dict.fromkeys(writer.problems)))
    return doc.text()
