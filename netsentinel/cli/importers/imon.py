"""imon's instance file (``/etc/default/imon-INSTANCE``, JSON) → ``checks:``.

Each enabled monitor becomes an instance named after the imon instance, so the
action script keeps receiving the same INSTANCE argument.  imon read numbers
with ``int()``/``float()``, so ``"2"`` and ``2.0`` are accepted here as well.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any

from netsentinel.checks.config import INSTANCE
from netsentinel.cli.importers import (
    Reader,
    argv_problem,
    jsonnode,
    parse_options,
    refuse_problems,
    split_args,
    unknown_keys,
)
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import Section, hostname, interface_name, invalid, string

USAGE = "import imon [FILE] [-- [--instance NAME] [--nosyslog]]"
PROBE_KEYS = ("interval", "pingcount", "pingwait")
# imon's ddns providers (_ddnsMonitor._getextip), asked in this order over plain http
PROVIDERS = tuple(f"http://{host}" for host in (
    "whatismyip.akamai.com/", "ifconfig.co/ip", "dynupdate.no-ip.com/ip.php", "icanhazip.com/",
    "ident.me/", "l2.io/ip", "ifconfig.me/ip", "wgetip.com/", "ipinfo.io/ip", "ipecho.net/plain",
    "curlmyip.net", "ip.seeip.org"))
GLOBAL_NOTES = {
    "datefmt": "log time stamps come from the logger (journald, syslog or twistd)",
    "debug": "no equivalent (imon's debug fed the ddns monitor fake addresses)",
}


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    found = parse_options(files, options, USAGE, flags=("--nosyslog",), valued=("--instance",))
    instance, syslog = found.get("--instance"), "--nosyslog" not in found
    if files:
        path = files[0]
    elif instance is not None:
        path = f"/etc/default/imon-{instance}"
    else:
        raise argv_problem(1, "FILE", f"name the instance file or --instance; {USAGE}")
    return convert_text(read(path), path, instance, syslog)


def _number(low: float) -> Callable[[Any], float]:
    """What imon's float() accepts, above ``low``."""
    def convert(value: Any) -> float:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise invalid(f"expected a number, got {value!r}")
        if number < low:
            raise invalid(f"{value} is out of range (minimum {low})")
        return number
    return convert


def _as_int(value: Any) -> int:
    """What imon's ``int()`` makes of pingcount and pingwait (2.9 → 2, "3" → 3)."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise invalid(f"expected a whole number (imon reads it with int()), got {value!r}") from None


def _exact(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _count(value: Any) -> int:
    number = _as_int(value)
    if number < 1:
        raise invalid(f"{value!r} is {number} pings: imon needs at least 1")
    return number


def _address(value: Any) -> str:
    text = string(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise invalid(f"{text!r} is not an IP address: netsentinel probes addresses only "
                      "(no resolver in a check); write the address") from None


def _optional_address(value: Any) -> str | None:
    return None if value in (None, "") else _address(value)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value in (None, "") else convert(value)


def convert_text(text: str, file: str, instance: str | None = None, syslog: bool = True) -> str:
    node, duplicates = jsonnode.compose(text, file)
    root = Section(node, "", file, [])
    glob = root.section("global")
    action = glob.get("action", _optional(string), None)
    named = glob.get("instance", _optional(string), None)
    base = os.path.basename(file)
    name = instance or (base[len("imon-"):] if base.startswith("imon-") else None) or named or "main"
    if not INSTANCE.match(name):
        root.problem(f"instance name {name!r} is not a netsentinel instance name (letters, "
                     "digits, '_', '.', '-')", glob.line_of("instance"), "global.instance")
    monitors: list[tuple[str, Writer | None]] = []
    for kind, read_monitor in (("updown", _updown), ("ddns", _ddns), ("failover", _failover),
                               ("ping", _ping)):
        section = root.section(kind)
        if not section.keys():
            continue
        if section.get("enable", _truth, False):        # imon: ``if db[kind]['enable']:``
            monitors.append((kind, read_monitor(section)))
        else:
            monitors.append((kind, None))
            for key in section.keys():
                section.raw(key)
    doc = _header(glob, name, file, action, syslog)
    leftovers = unknown_keys(glob) + unknown_keys(root) + [
        f"{key!r} is given twice (lines {first} and {kept}): imon's json.load kept the last one, "
        "so does this file" for key, first, kept in duplicates]
    refuse_problems(root)
    for kind, values in monitors:
        if values is None:
            doc.comment(f"{kind}: disabled in imon ({kind}.enable: false), not imported", 1)
            continue
        doc.key(kind, 1)
        doc.key(name, 2, "the imon instance: INSTANCE for the action script")
        values(doc, 3)
    for line in leftovers:
        doc.comment(line)
    return doc.text()


def _truth(value: Any) -> bool:
    """imon tests ``enable`` and ``prefer-primary`` for Python truth ("false" is true)."""
    return bool(value)


def _header(glob: Section, name: str, file: str, action: str | None, syslog: bool) -> Document:
    note = glob.get("note", _optional(string), None)
    made = [glob.get(k, _optional(str), None) for k in ("imon-configure-version",
                                                         "imon-configure-created")]
    doc = Document()
    doc.comment(f"netsentinel `checks:` imported from imon instance {name!r} ({file})\n"
                "by `netsentinel-ctl import imon`; check it with "
                "`netsentinel-ctl check-config FILE`.")
    if any(made):
        doc.comment(f"Written by imon-configure {made[0] or '?'} on {made[1] or '?'}.")
    if note:
        doc.comment(f"global.note: {note}")
    for key, why in GLOBAL_NOTES.items():
        if glob.has(key) and glob.raw(key) is not None:
            doc.comment(f"global.{key}: {why}")
    doc.key("checks", 0)
    if action:
        doc.value("action", action, 1, "global.action, called as imon did: "
                  "SCRIPT INSTANCE SYSLOGFLAG EVENT ARGS...")
        doc.comment("SYSLOGFLAG: imon passed " + ("0 (it logged to syslog)" if syslog else
                    "1 (--nosyslog)") + "; netsentinel passes 0 when it logs to syslog or\n"
                    "journald, as imon did, and 1 otherwise.", 1)
    else:
        doc.comment("no global.action: events are only logged, as imon did", 1)
    return doc


Writer = Callable[[Document, int], None]


def _probe(s: Section, notes: list[str]) -> tuple[float, int, float]:
    """imon's interval (float()), and pingcount and pingwait through int() as imon reads
    them; a pingwait int() makes 0 (imon then never waits for a reply) keeps its value."""
    wait = s.get("pingwait", _number(0.01), 1.0)
    truncated = s.get("pingwait", _as_int, None) if s.has("pingwait") else int(wait)
    if truncated is not None and truncated != wait:
        if truncated >= 1:
            notes.append(f"{s.path}.pingwait {s.raw('pingwait')!r}: imon read int() of it, "
                         f"{truncated}; so does this file")
            wait = float(truncated)
        else:
            notes.append(f"{s.path}.pingwait {s.raw('pingwait')!r}: imon read int() of it, 0, "
                         "and never waited for a reply; kept as written here")
    count = s.get("pingcount", _count, 2)
    if s.has("pingcount") and count is not None and _exact(s.raw("pingcount")) != count:
        notes.append(f"{s.path}.pingcount {s.raw('pingcount')!r}: imon read int() of it, {count}")
    return s.get("interval", _number(0.1), 10.0), count, wait


def _write_probe(doc: Document, depth: int, kind: str, probe: tuple[float, int, float]) -> None:
    doc.value("interval", probe[0], depth, f"{kind}.interval")
    doc.value("count", probe[1], depth, f"{kind}.pingcount")
    doc.value("wait", probe[2], depth, f"{kind}.pingwait")


def _updown(s: Section) -> Writer:
    notes: list[str] = []
    probe = _probe(s, notes)
    target = s.get("monitorip", _address)
    addping_text = s.get("addping", _optional(str), None)
    addping, names = s.get("addping", _addping, ((), ()))
    if names:
        notes.append(f"updown.addping: {', '.join(names)} not imported: imon resolved names, "
                     "a check probes addresses (imon only logged these pings)")
    server = s.get("dnsserver", _optional_address, None)
    lookup = s.get("dnslookup", _optional(hostname), None)
    if (server is None) != (lookup is None):
        given = "dnsserver" if server is not None else "dnslookup"
        notes.append(f"updown.{given} without its partner: imon ignored it (it asks DNS only "
                     "with both dnsserver and dnslookup); not imported")
        server = lookup = None
    notes += unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        doc.value("target", target, depth, "updown.monitorip")
        _write_probe(doc, depth, "updown", probe)
        doc.value("fast_interval", min(1.0, probe[0]), depth,
                  "imon re-checked every second while down")
        doc.value("down_after", 3, depth, "new: imon went offline on 1 failed check; 1 = as imon")
        doc.value("up_after", 2, depth, "new: imon came back on 1 good check; 1 = as imon")
        if addping:
            doc.value("addping", list(addping), depth, f"updown.addping {addping_text!r}")
        if server is not None:
            doc.value("dns_server", server, depth, "updown.dnsserver")
            doc.value("dns_lookup", lookup, depth, "updown.dnslookup")
        for line in notes:
            doc.comment(line, depth)
    return write


def _addping(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """imon's ``addping.split(',')``: the addresses, and the host names imon resolved."""
    if not isinstance(value, str):
        raise invalid(f"expected a comma-separated string (imon splits it), got {value!r}")
    words = [w.strip() for w in value.split(",") if w.strip()]
    addresses = tuple(w for w in words if _is_address(w))
    return addresses, tuple(w for w in words if w not in addresses)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ddns(s: Section) -> Writer:
    interval = s.get("interval", _number(1), 10.0)
    for key in ("pingcount", "pingwait"):
        if s.has(key):
            s.raw(key)
    unknown = unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        doc.value("interval", interval, depth, "ddns.interval (each check asks a provider; "
                  "300 is kinder)")
        doc.key("sources", depth, "imon's 12 built-in providers, asked in turn over http as "
                "imon did")
        for url in PROVIDERS:
            doc.item(url, depth + 1)
        doc.comment("ddns.pingcount/pingwait: no equivalent (imon's ddns ignored them; it "
                    "pinged a provider twice before asking it)", depth)
        for line in unknown:
            doc.comment(line, depth)
    return write


def _ping(s: Section) -> Writer:
    notes: list[str] = []
    probe = _probe(s, notes)
    target = s.get("monitorip", _address)
    notes += unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        doc.value("target", target, depth, "ping.monitorip")
        _write_probe(doc, depth, "ping", probe)
        for line in notes:
            doc.comment(line, depth)
    return write


def _uplink(s: Section, role: str) -> dict[str, Any]:
    """One side of imon's failover; an empty or missing ``ROLE-name`` stays empty, so the
    action gets imon's ``:Primary:IF:IP``."""
    uplink = {"interface": s.get(f"{role}-if", interface_name),
              "name": s.get(f"{role}-name", _name, ""),
              "gateway": s.get(f"{role}-gw", _address),
              "ping": s.get(f"{role}-ping", _optional_address, None),
              "postping": s.get(f"{role}-postping", _optional_address, None)}
    gateway = uplink["gateway"]
    if gateway is not None and ipaddress.ip_address(gateway).version != 4:
        s.problem("failover manages IPv4 default routes: the gateway must be IPv4",
                  s.line_of(f"{role}-gw"), f"{role}-gw")
    return uplink


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected a string, got {value!r}")
    return value


def _metric(value: Any) -> int:
    metric = _as_int(value)
    if not 0 <= metric <= 0xFFFFFFFF:
        raise invalid(f"{value!r} is not a route metric (0 to 4294967295)")
    return metric


def _failover(s: Section) -> Writer:
    notes: list[str] = []
    probe = _probe(s, notes)
    prefer = s.get("prefer-primary", _truth, True)
    metric = s.get("metric", _metric, 201)
    uplinks = {role: _uplink(s, role) for role in ("primary", "standby")}
    notes += unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        _write_probe(doc, depth, "failover", probe)
        doc.value("prefer_primary", prefer, depth, "failover.prefer-primary")
        doc.value("metric", metric, depth, "failover.metric")
        doc.comment("new: down_after 3, up_after 5, min_switch_interval 30 (imon switched on "
                    "one check)", depth)
        for role, uplink in uplinks.items():
            doc.key(role, depth)
            for key, value in uplink.items():
                if value is not None:
                    doc.value(key, value, depth + 1, f"failover.{role}-{_SOURCE[key]}" + (
                        " empty: the action gets imon's :ROLE:IF:IP" if value == "" else ""))
                elif key == "ping":
                    doc.comment(f"{role}-ping empty: the gateway is probed", depth + 1)
        for line in notes:
            doc.comment(line, depth)
    return write


_SOURCE = {"interface": "if", "name": "name", "gateway": "gw", "ping": "ping",
           "postping": "postping"}
