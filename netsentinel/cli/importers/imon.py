"""imon's instance file (``/etc/default/imon-INSTANCE``, JSON) → ``checks:``.

Each enabled monitor becomes an instance named after the imon instance, so the
action script keeps receiving the same INSTANCE argument.  imon read numbers
with ``int()``/``float()``, so ``"2"`` and ``2.0`` are accepted here as well.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, Callable

from netsentinel.checks.config import INSTANCE, _hostname, _interface
from netsentinel.cli.importers import (
    Reader,
    argv_problem,
    parse_options,
    refuse_problems,
    split_args,
    unknown_keys,
)
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import Section, boolean, invalid, string

USAGE = "import imon [FILE] [-- [--instance NAME] [--nosyslog]]"
PROBE_KEYS = ("interval", "pingcount", "pingwait")
# imon's ddns providers, asked in this order over plain http; the same services over HTTPS
PROVIDERS = ("https://ifconfig.co/ip", "https://icanhazip.com/", "https://ident.me/",
             "https://ifconfig.me/ip", "https://ipinfo.io/ip", "https://ipecho.net/plain")
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


def _count(value: Any) -> int:
    number = _number(1)(value)
    if number != int(number):
        raise invalid(f"expected a whole number of pings, got {value!r}")
    return int(number)


def _address(value: Any) -> str:
    text = string(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise invalid(f"{text!r} is not an IP address: netsentinel probes addresses only "
                      "(no resolver in a check); write the address") from None


def _optional_address(value: Any) -> str | None:
    return None if value in (None, "") else _address(value)


def _address_list(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    words = value.split(",") if isinstance(value, str) else value
    if not isinstance(words, list):
        raise invalid(f"expected a comma-separated list, got {value!r}")
    return tuple(_address(w) for w in words if str(w).strip())


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value in (None, "") else convert(value)


def convert_text(text: str, file: str, instance: str | None = None, syslog: bool = True) -> str:
    root = Section.from_text(text, file)
    glob = root.section("global")
    action = glob.get("action", _optional(string), None)
    named = glob.get("instance", _optional(string), None)
    note = glob.get("note", _optional(string), None)
    made = [glob.get(k, _optional(str), None) for k in ("imon-configure-version",
                                                         "imon-configure-created")]
    glob_notes = [f"global.{k}: {GLOBAL_NOTES[k]}" for k in GLOBAL_NOTES if glob.has(k)
                  and glob.raw(k) is not None]
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
        enabled = section.get("enable", boolean, False)
        if enabled:
            monitors.append((kind, read_monitor(section)))
        else:
            monitors.append((kind, None))
            for key in section.keys():
                section.raw(key)
    leftovers = unknown_keys(glob) + unknown_keys(root)
    refuse_problems(root)

    doc = Document()
    doc.comment(f"netsentinel `checks:` imported from imon instance {name!r} ({file})\n"
                "by `netsentinel-ctl import imon`; check it with "
                "`netsentinel-ctl check-config FILE`.")
    if any(made):
        doc.comment(f"Written by imon-configure {made[0] or '?'} on {made[1] or '?'}.")
    if note:
        doc.comment(f"global.note: {note}")
    doc.key("checks", 0)
    if action:
        doc.value("action", action, 1, "global.action, called as imon did: "
                  "SCRIPT INSTANCE SYSLOGFLAG EVENT ARGS...")
        doc.comment("SYSLOGFLAG: imon passed " + ("0 (it logged to syslog)" if syslog else
                    "1 (--nosyslog)") + "; netsentinel passes 0 when it logs to syslog or journald\n"
                    "(--syslog, the packaged unit) and 1 otherwise, as imon's unit did.", 1)
    else:
        doc.comment("no global.action: events are only logged, as imon did", 1)
    for kind, values in monitors:
        if values is None:
            doc.comment(f"{kind}: disabled in imon ({kind}.enable: false), not imported", 1)
            continue
        doc.key(kind, 1)
        doc.key(name, 2, "the imon instance: INSTANCE for the action script")
        values(doc, 3)
    for line in glob_notes + leftovers:
        doc.comment(line)
    return doc.text()


Writer = Callable[[Document, int], None]


def _probe(s: Section) -> tuple[float, int, float]:
    return (s.get("interval", _number(0.1), 10.0), s.get("pingcount", _count, 2),
            s.get("pingwait", _number(0.01), 1.0))


def _write_probe(doc: Document, depth: int, kind: str, probe: tuple[float, int, float]) -> None:
    doc.value("interval", probe[0], depth, f"{kind}.interval")
    doc.value("count", probe[1], depth, f"{kind}.pingcount")
    doc.value("wait", probe[2], depth, f"{kind}.pingwait")


def _updown(s: Section) -> Writer:
    probe = _probe(s)
    target = s.get("monitorip", _address)
    addping_text = s.get("addping", _optional(str), None)
    addping = s.get("addping", _address_list, ())
    server = s.get("dnsserver", _optional_address, None)
    lookup = s.get("dnslookup", _optional(_hostname), None)
    if (server is None) != (lookup is None):
        s.problem("dnsserver and dnslookup go together (imon ignores one without the other)")
    unknown = unknown_keys(s)

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
        for line in unknown:
            doc.comment(line, depth)
    return write


def _ddns(s: Section) -> Writer:
    interval = s.get("interval", _number(1), 10.0)
    for key in ("pingcount", "pingwait"):
        if s.has(key):
            s.raw(key)
    unknown = unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        doc.value("interval", interval, depth, "ddns.interval (each check asks a provider; "
                  "300 is kinder)")
        doc.key("sources", depth, "imon's built-in providers, asked in turn over http; here "
                "over verified HTTPS")
        for url in PROVIDERS:
            doc.item(url, depth + 1)
        doc.comment("ddns.pingcount/pingwait: no equivalent (imon pinged a provider before "
                    "asking it)", depth)
        for line in unknown:
            doc.comment(line, depth)
    return write


def _ping(s: Section) -> Writer:
    probe = _probe(s)
    target = s.get("monitorip", _address)
    unknown = unknown_keys(s)

    def write(doc: Document, depth: int) -> None:
        doc.value("target", target, depth, "ping.monitorip")
        _write_probe(doc, depth, "ping", probe)
        for line in unknown:
            doc.comment(line, depth)
    return write


def _uplink(s: Section, role: str) -> dict[str, Any]:
    uplink = {"interface": s.get(f"{role}-if", _interface),
              "name": s.get(f"{role}-name", _optional(string), None),
              "gateway": s.get(f"{role}-gw", _address),
              "ping": s.get(f"{role}-ping", _optional_address, None),
              "postping": s.get(f"{role}-postping", _optional_address, None)}
    gateway = uplink["gateway"]
    if gateway is not None and ipaddress.ip_address(gateway).version != 4:
        s.problem("failover manages IPv4 default routes: the gateway must be IPv4",
                  s.line_of(f"{role}-gw"), f"{role}-gw")
    return uplink


def _failover(s: Section) -> Writer:
    probe = _probe(s)
    prefer = s.get("prefer-primary", boolean, True)
    metric = s.get("metric", _count, 201)
    uplinks = {role: _uplink(s, role) for role in ("primary", "standby")}
    unknown = unknown_keys(s)

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
                    doc.value(key, value, depth + 1, f"failover.{role}-{_SOURCE[key]}")
                elif key == "ping":
                    doc.comment(f"{role}-ping empty: the gateway is probed", depth + 1)
        for line in unknown:
            doc.comment(line, depth)
    return write


_SOURCE = {"interface": "if", "name": "name", "gateway": "gw", "ping": "ping",
           "postping": "postping"}
