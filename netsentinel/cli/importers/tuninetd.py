"""tuninetd's command line → one ``traffic:`` trigger.

tuninetd is configured only by its options (``-i -n -f -c -t -a -w -m -d``), parsed
here as its getopt does (options may be clustered and may follow operands).
It ran ``CMD start > /dev/null 2>&1`` through a shell; netsentinel runs an argv
without one, so a ``-c`` that needs a shell is wrapped in ``/bin/sh -c``.
"""

from __future__ import annotations

import os
import re
import shlex

import attrs

from netsentinel.cli.importers import ARGV, Reader, argv_problem
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import ConfigError, Problem
from netsentinel.traffic.config import IFNAMSIZ

OPTIONS_WITH_VALUE = "itcfmnw"
FLAGS = "adhv"
SHELL = re.compile(r"[|&;<>()$`\\\"'*?\[\]#~=%{}]")
MAX_IDLE = 30 * 86400


def convert(args: list[str], read: Reader) -> str:
    """``read`` is unused: tuninetd has no file, only its command line."""
    skip = 1 if args[:1] == ["--"] else 0
    return convert_argv(args[skip:], skip)


def _parse(argv: list[str], skip: int) -> dict[str, tuple[int, str]]:
    """Option letter → (position, value) as glibc getopt reads ``i:t:c:f:m:n:w:adhv``;
    positions count the words after the tool's name, ``skip`` of them not in ``argv``."""
    found: dict[str, tuple[int, str]] = {}
    i = 0
    while i < len(argv):
        word, position = argv[i], skip + i + 1
        i += 1
        if word == "--":
            if i < len(argv):
                raise argv_problem(skip + i + 1, argv[i], "tuninetd takes no operands")
            break
        if not word.startswith("-") or word == "-":
            raise argv_problem(position, word, "tuninetd takes no operands")
        letters = word[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter in FLAGS:
                found[letter] = (position, "")
            elif letter in OPTIONS_WITH_VALUE:
                if not letters:
                    if i >= len(argv):
                        raise argv_problem(position, f"-{letter}", "needs a value")
                    letters, i = argv[i], i + 1
                found[letter] = (position, letters)
                letters = ""
            else:
                raise argv_problem(position, f"-{letter}", "not a tuninetd option "
                                   "(-i -n -c -f -t -a -w -m -d)")
    return found


def _command(text: str) -> tuple[object, str]:
    """The YAML value for ``command`` and how it was made from ``-c``."""
    if not SHELL.search(text):
        words = shlex.split(text)
        if len(words) == 1:
            return words[0], "-c; run as CMD start / CMD stop, without a shell"
        if words:
            return words, "-c split into words; start/stop appended, no shell"
    return (["/bin/sh", "-c", f'{text} "$@"', "sh"],
            "-c needs a shell (tuninetd used one): start/stop arrive as \"$@\"")


def _trigger_name(command: str) -> str:
    """The program's name without its extension: ``/test/runtunnel.sh`` → ``runtunnel``."""
    program = os.path.basename(command.split()[0]) if command.split() else ""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", os.path.splitext(program)[0]) or "trigger"


@attrs.frozen
class Trigger:
    """What the options say, checked: every problem is found before any is reported."""

    interface: str
    group: int | None
    idle: int
    command: str


def _number(found: dict[str, tuple[int, str]], letter: str, low: int, high: int,
            what: str, problems: list[Problem]) -> int | None:
    if letter not in found:
        return None
    position, text = found[letter]
    if not text.isdigit() or not low <= int(text) <= high:
        problems.append(Problem(ARGV, position, f"-{letter}", f"{what} {low}-{high}, got "
                                f"{text!r}"))
        return None
    return int(text)


def _check(found: dict[str, tuple[int, str]]) -> Trigger:
    problems: list[Problem] = []
    if not found.get("c", (0, ""))[1].strip():
        problems.append(Problem(ARGV, 0, "-c", "tuninetd needs -c <path>, the command to run"))
    if "i" not in found and "n" not in found:
        problems.append(Problem(ARGV, 0, "-i", "tuninetd needs -i <ifname> or -n "
                                "<nflog-group>"))
    position, interface = found.get("i", (0, ""))
    if interface and (len(interface) >= IFNAMSIZ or "/" in interface):
        problems.append(Problem(ARGV, position, "-i", f"not an interface name: {interface!r}"))
    group = _number(found, "n", 0, 65535, "an NFLOG group is", problems)
    idle = _number(found, "t", 1, MAX_IDLE, "idle seconds are", problems)
    if problems:
        raise ConfigError(problems)
    return Trigger(interface, group, 600 if idle is None else idle, found["c"][1])


def convert_argv(argv: list[str], skip: int = 0) -> str:
    found = _parse(argv, skip)
    trigger = _check(found)
    command, command_note = _command(trigger.command)
    name = _trigger_name(trigger.command)
    return _render(argv, found, trigger, name, command, command_note)


def _render(argv: list[str], found: dict[str, tuple[int, str]], trigger: Trigger, name: str,
            command: object, command_note: str) -> str:
    interface, group, idle = trigger.interface, trigger.group, trigger.idle
    doc = Document()
    doc.comment("netsentinel `traffic:` imported from the tuninetd command line\n"
                f"  tuninetd {shlex.join(argv)}\n"
                "by `netsentinel-ctl import tuninetd`; check it with "
                "`netsentinel-ctl check-config FILE`.")
    doc.key("traffic", 0)
    doc.key(name, 1, f"trigger name (from -c): `netsentinel-ctl trigger standby {name}`")
    if group is not None:
        doc.value("nflog", group, 2, "-n; the nft `log group` rule is the filter")
    if interface:
        doc.value("interface", interface, 2, "-i; a missing interface is waited for")
        if "f" in found:
            doc.value("filter", found["f"][1], 2, "-f; compiled when the file is loaded")
        if group is not None:
            doc.comment("tuninetd before 1.4 ignored -i and -f when -n was given; since 1.4 both "
                        "sources count,\nas here (delete interface and filter for the old "
                        "behaviour).", 2)
    elif "f" in found:
        doc.comment(f"-f {found['f'][1]!r}: ignored by tuninetd with -n only; filter in the nft "
                    "rule that logs to the group", 2)
    doc.value("command", command, 2, command_note)
    doc.value("idle", idle, 2, "-t" if "t" in found else "tuninetd's default -t 600")
    if "a" in found:
        doc.value("ack_only", True, 2, "-a: only TCP packets with ACK keep it up")
    if "w" in found:
        doc.value("capture", found["w"][1], 2, "-w: the packet that fired is appended (pcap)")
    if "m" in found:
        doc.comment(f"-m {found['m'][1]}: not needed, the link type is read from the interface", 2)
    for letter in (k for k in "hv" if k in found):
        doc.comment(f"-{letter}: ignored (tuninetd printed its help or version and exited)", 2)
    if "d" in found:
        doc.comment("-d: not needed, systemd runs the daemon (etc/netsentinel.service)", 2)
    doc.comment("The command's output is logged (tuninetd sent it to /dev/null); a hung "
                "command is killed\nafter actions.timeout. SIGHUP now reloads the config: to "
                f"force standby use\n`netsentinel-ctl trigger standby {name}`; SIGUSR1's report "
                "is `netsentinel-ctl trigger list`.", 2)
    return doc.text()
