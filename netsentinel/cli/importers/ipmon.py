"""IPMon's configuration → ``addresses:``.

IPMon has no config file of its own: what it does comes from its options
(``-n[FILE] -f -p -d DELAY -m -s``, usually on the ``ExecStart=`` line of its
systemd unit), and the interfaces it covers are those named in the ``.vars`` /
``.sets`` files it wrote.  Both are read here: FILEs may be the unit and those
files (and the JSON ``-p`` wrote for its proxy); options may also follow ``--``.
"""

from __future__ import annotations

import os
import re
import shlex

from netsentinel.cli.importers import ARGV, Reader, argv_problem, split_args
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import ConfigError, Problem

USAGE = "import ipmon [UNIT|VARS|SETS ...] [-- IPMON-OPTIONS]"
# compiled into IPMon (its README says /etc/ipmon, its code and package use /etc/impon)
DEFAULT_BASE = "/etc/impon/ifacesAddrs"
PROXY_FILE = "/etc/ipmon/ifacesAddrs.json"
IPMON_SOCKET = "/run/ipmon.sock"      # its _socket_server_path, a SOCK_DGRAM socket
PROXY_RELOAD = ["systemctl", "reload", "proxy"]
RULESETS = ("/etc/impon/nftablesNoSuricata.conf", "/etc/impon/nftablesWithSuricata.conf")
LONG = {"help": "h", "nftables": "n", "flush": "f", "proxy": "p", "delay": "d", "monitor": "m",
        "start": "s"}
OPTIONAL_VALUE, VALUE = "np", "d"
DEFINE = re.compile(r"^\s*(?:re)?define\s+([^\s=]+)\s*=\s*\{[^}]*\}\s*$")
SET = re.compile(r"^\s*set\s+(\S+)\s*\{.*\}\s*$")
SUFFIX = re.compile(r"_ipv[46]_(?:address|network)$")
MAX_DELAY = 60.0


class Options(dict[str, tuple[str, int, str | None]]):
    """Option letter → (where it was read, position or line, its value)."""


def parse_options(words: list[str], where: str, line: int | None, first: int = 1) -> Options:
    """IPMon's getopt_long: ``hn::fp::d:ms``; an optional value must be attached.  A problem
    names ``line`` (in a unit) or the word's position, ``first`` being that of ``words[0]``."""
    found = Options()
    i = 0
    while i < len(words):
        word = words[i]
        at = line if line is not None else first + i
        i += 1
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            matches = [k for k in LONG if k.startswith(name)]
            if len(matches) != 1 and name not in LONG:
                raise _problem(where, at, word, "not an IPMon option (-n -f -p -d -m -s)")
            letter = LONG[name if name in LONG else matches[0]]
            if letter in VALUE and not eq:
                if i >= len(words):
                    raise _problem(where, at, word, "needs a value")
                value, eq, i = words[i], "=", i + 1
            found[letter] = (where, at, value if eq else None)
            continue
        if not word.startswith("-") or word == "-":
            raise _problem(where, at, word, "IPMon takes no operands")
        letters = word[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter not in LONG.values():
                raise _problem(where, at, f"-{letter}", "not an IPMon option (-n -f -p -d -m -s)")
            if letter in OPTIONAL_VALUE:
                found[letter] = (where, at, letters or None)
                break
            if letter in VALUE:
                if not letters:
                    if i >= len(words):
                        raise _problem(where, at, "-d", "needs a value")
                    letters, i = words[i], i + 1
                found[letter] = (where, at, letters)
                break
            found[letter] = (where, at, None)
    return found


def _problem(where: str, at: int, key: str, reason: str) -> ConfigError:
    return ConfigError([Problem(where, at, key, reason)])


def read_unit(text: str, file: str) -> Options:
    for number, line in enumerate(text.splitlines(), 1):
        key, eq, value = line.strip().partition("=")
        if key.strip() == "ExecStart" and eq:
            try:
                words = shlex.split(value.strip().lstrip("-@+!:"))
            except ValueError as e:
                raise _problem(file, number, "ExecStart", f"cannot split: {e}") from None
            if not words or "ipmon" not in os.path.basename(words[0]):
                raise _problem(file, number, "ExecStart", "does not run ipmon")
            return parse_options(words[1:], file, number)
    raise _problem(file, 0, "ExecStart", "no ExecStart= line: not IPMon's systemd unit")


def read_names(text: str, file: str) -> tuple[str, list[str]]:
    """``("vars" | "sets", interfaces in file order)`` from a file IPMon wrote."""
    kinds, interfaces = set(), []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = DEFINE.match(line) or SET.match(line)
        if match is None:
            raise _problem(file, number, "", f"not a line IPMon writes: {line.strip()[:60]!r}")
        kinds.add("vars" if match.re is DEFINE else "sets")
        interface = SUFFIX.sub("", match[1])
        if interface not in interfaces:
            interfaces.append(interface)
    if len(kinds) != 1:
        raise _problem(file, 0, "", "expected IPMon's .vars (define lines) or .sets (set lines)"
                       if not kinds else "mixes define and set lines")
    return kinds.pop(), interfaces


def convert(args: list[str], read: Reader) -> str:
    """Every file is read before anything is refused: one line per file that is not
    IPMon's (and for a bad -d), as the other importers report."""
    files, words = split_args(args, USAGE)
    options = parse_options(words, ARGV, None, len(files) + 2) if words else Options()
    written: dict[str, str] = {}
    interfaces: list[str] = []
    sources, problems = [], []
    for path in files:
        try:
            kind, names, unit = _read_one(read(path), path)
        except ConfigError as e:
            problems += e.problems
            continue
        if unit is not None:
            options.update({k: v for k, v in unit.items() if k not in options})
            sources.append(f"options from {path}")
            continue
        written[kind] = path
        if kind == "proxy":        # the JSON program -p wrote for IPMon's proxy
            options.setdefault("p", (path, 0, None))
            sources.append(f"proxy output {path}")
            continue
        interfaces += [n for n in names if n not in interfaces]
        sources.append(f"interfaces from {path}")
    if problems:
        raise ConfigError(problems)
    if not options and not written:
        raise argv_problem(1, "FILE", f"give IPMon's unit, its files or its options; {USAGE}")
    if {"vars", "sets"} & set(written) and "n" not in options:
        options["n"] = ("", 0, None)      # the files exist: IPMon ran with -n
    return render(options, written, interfaces, sources)


def _read_one(text: str, path: str) -> tuple[str, list[str], Options | None]:
    """(kind, interfaces, options): a unit, the proxy's JSON, a .vars or .sets file."""
    if "ExecStart" in text:
        return "unit", [], read_unit(text, path)
    if text.lstrip().startswith("{") and '"!seq"' in text:
        return "proxy", [], None
    kind, names = read_names(text, path)
    return kind, names, None


def _delay(options: Options) -> tuple[float, str]:
    if "d" not in options:
        return 0.2, "IPMon's default -d 200000 (µs)"
    where, at, text = options["d"]
    match = re.match(r"\s*[-+]?\d+", text or "")
    if match is None or not 0 < int(match[0]) <= 999999:
        raise _problem(where, at, "-d", f"1-99 seconds or 100-999999 µs, got {text!r}")
    value = int(match[0])
    seconds = float(value) if value < 100 else value / 1e6
    note = f"-d {value} ({'seconds' if value < 100 else 'µs'})"
    if seconds > MAX_DELAY:
        return MAX_DELAY, f"{note}; netsentinel's longest delay is 60 s"
    return max(seconds, 0.001), note if seconds >= 0.001 else f"{note}; shortest is 1 ms"


def _paths(options: Options, written: dict[str, str]) -> tuple[str, str, str]:
    """(vars, sets, why): -n FILE, else the files given, else IPMon's default."""
    base = options["n"][2]
    if base:
        return f"{base}.vars", f"{base}.sets", f"-n{base}"
    if "vars" in written or "sets" in written:
        known = written.get("vars") or written["sets"]
        stem = re.sub(r"\.(vars|sets)$", "", known)
        return (written.get("vars", f"{stem}.vars"), written.get("sets", f"{stem}.sets"),
                "where IPMon wrote it")
    return f"{DEFAULT_BASE}.vars", f"{DEFAULT_BASE}.sets", "IPMon's default path (-n)"


def render(options: Options, written: dict[str, str], interfaces: list[str],
           sources: list[str]) -> str:
    delay, delay_note = _delay(options)
    doc = Document()
    used = " ".join(f"-{k}{v or ''}" for k, (_, _, v) in options.items())
    doc.comment(f"netsentinel `addresses:` imported from IPMon ({used})"
                + "".join(f"\n  {s}" for s in sources) + "\nby `netsentinel-ctl import ipmon`; "
                "check it with `netsentinel-ctl check-config FILE`.")
    doc.key("control", 0)
    doc.comment("IPMon's datagram socket: its scripts keep working\n"
                "  printf update | socat - UNIX-SENDTO:/run/ipmon.sock\n"
                "any command; a reply needs a bound client (`,bind=/tmp/c.sock` after "
                "the path);\nthe stream socket is /run/netsentinel.sock (socat - "
                "UNIX-CONNECT:...)", 1)
    doc.value("datagram_socket", IPMON_SOCKET, 1, "update, reload: as IPMon")
    doc.key("addresses", 0)
    doc.value("delay", delay, 1, delay_note)
    if interfaces:
        doc.key("interfaces", 1, "as in IPMon's files; IPMon wrote every interface, "
                "netsentinel these")
        for name in interfaces:
            doc.value(name, {}, 2)
    else:
        doc.comment("no interfaces listed: files cover every interface but lo (IPMon: all)", 1)
    if "n" in options:
        vars_path, sets_path, why = _paths(options, written)
        doc.key("files", 1, "-n: same names and layout (redefine eth0_ipv4_address = ...)")
        doc.value("vars", vars_path, 2, why)
        doc.value("sets", sets_path, 2, "network sets now carry flags interval, so nft loads it")
        if "f" in options:
            doc.absent("reload_ruleset", RULESETS[0], 2, "-f")
            doc.comment(f"-f: IPMon reloaded {RULESETS[0]} (or {os.path.basename(RULESETS[1])} "
                        "while suricata ran);\nnetsentinel re-applies one ruleset in one "
                        "transaction: uncomment with the one that includes the files.", 2)
        else:
            doc.comment("-n also refilled live sets <iface>_ipv4_address in `ip nat` and "
                        "`inet filter`: name a ruleset\nthat includes the .sets file in "
                        "files.reload_ruleset, or use zones (`eth0: {zone: wan}` and\n"
                        "`nftables:`) for sets wan_ips / wan_ipv6.", 2)
    if "p" in options:
        doc.comment("-p: IPMon wrote a JSON program for its proxy and ran `systemctl reload "
                    "proxy`; netsentinel\nfills a string.Template you write (${eth0_ipv4}, "
                    "${eth0_ipv4_all}, ${eth0_ipv6} ...):", 1)
        doc.comment("proxy:", 1)
        doc.absent("template", "/etc/netsentinel/proxy.tmpl", 2, "write this first", 1)
        doc.absent("output", written.get("proxy", PROXY_FILE), 2, "where IPMon wrote it", 1)
        doc.absent("reload", PROXY_RELOAD, 2, "IPMon's reload command", 1)
    if "m" in options:
        doc.comment("-m: `netsentinel-ctl watch` shows address changes and syncs", 1)
    if "s" in options:
        doc.comment("-s: always; the daemon is ready only after its first sync", 1)
    if "h" in options:
        doc.comment("-h: ignored (IPMon printed its help)", 1)
    if not {"n", "p"} & set(options):
        doc.comment("neither -n nor -p: IPMon only printed changes (see -m)", 1)
    return doc.text()
