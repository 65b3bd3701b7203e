"""One ddclient entry → its ddns instances (IPv4, IPv6): interval, sources, state file."""

from __future__ import annotations

from urllib.parse import urlsplit

from netsentinel.cli.importers.ddclient.conf import Entry
from netsentinel.cli.importers.ddclient.keys import (
    BUILTIN_WEB,
    DEFAULT_WEB,
    DONE,
    ENTRY_NOTES,
    FALLBACK_SOURCE,
    PROGRAM_NOTES,
    PROTOCOL_KEYS,
    PROTOCOLS,
    WEB_HOSTS,
    Method,
    Values,
    duration,
    flag,
)
from netsentinel.cli.importers.ddclient.update import UpdateWriter
from netsentinel.cli.importers.emit import scalar
from netsentinel.schema import _Invalid, hostname, interface_name


class Writer(UpdateWriter):
    """Turns the entries into ``checks: ddns:``."""

    def entry(self, entry: Entry, cache_users: int) -> None:
        protocol = entry.settings.get("protocol")
        for host, line in entry.hosts:      # only host names this writes need be DNS names
            try:
                if protocol is None or protocol.value in PROTOCOLS:
                    hostname(host)
            except _Invalid as e:
                self.problem("host", None, str(e), line)
        daemon, min_interval, max_interval, timeout = (
            self.value(entry, key, duration, "not a duration")
            for key in ("daemon", "min-interval", "max-interval", "timeout"))
        values = Values(daemon, min_interval, max_interval, timeout,
                        self.value(entry, "ssl", flag, "not yes or no"))
        methods = self.methods(entry) or [
            ("v4", Method("disabled", "", "use", entry.settings.get("use")))]
        for i, (family, method) in enumerate(methods):
            self.instance(entry, family, method, values, cache_users if i == 0 else -1)

    def methods(self, entry: Entry) -> list[tuple[str, Method]]:
        """``(family, method)`` for IPv4 (use or usev4) and IPv6 (usev6), unless disabled."""
        out = []
        for family, keys in (("v4", ("usev4", "use")), ("v6", ("usev6",))):
            key = next((k for k in keys if k in entry.settings), None)
            if key is None:
                if family == "v4" and "usev6" not in entry.settings:
                    out.append((family, Method("ip", "", "use", None)))    # ddclient's default
                continue
            setting = entry.settings[key]
            if setting.value == "disabled":
                continue
            suffix = setting.value[-2:] if setting.value[-2:] in ("v4", "v6") else ""
            out.append((family, Method(setting.value.removesuffix(suffix), suffix, key, setting)))
        return out

    def instance(self, entry: Entry, family: str, method: Method, values: Values,
                 cache_users: int) -> None:
        """One instance; the first of an entry (``cache_users`` >= 0) carries its notes."""
        doc, settings, depth = self.doc, entry.settings, 3
        first = cache_users >= 0
        hostnames = [host for host, _ in entry.hosts]
        name = entry.name if first else f"{entry.name}-v6"
        doc.key(name, 2, f"ddclient line {entry.line}: {','.join(hostnames)}")
        if first:
            for note in entry.notes:
                doc.comment(note, depth)
        if family == "v6":
            doc.value("family", "ipv6", depth, method.said() + ("" if first else ": myip=IPv6 "
                      "goes in a request of its own; check your provider keeps the A record"))
        if values.daemon:
            seconds = min(max(values.daemon, 60), 7 * 86400)
            doc.value("interval", seconds, depth, settings["daemon"].at("daemon") + (
                "" if seconds == values.daemon else ": kept within 60 s (ddclient) and 7 days"))
        elif first:
            doc.comment("no daemon=: ddclient ran once per call (cron, a dhclient hook);\n"
                        "netsentinel asks the sources every `interval` (300 s)", depth)
        self.sources(entry, method, depth)
        if values.timeout is not None:
            doc.value("timeout", min(max(values.timeout, 1), 300), depth,
                      settings["timeout"].at("timeout"))
        cache = settings.get("cache")
        if cache is not None and first:
            path = cache.value if cache_users == 1 else f"{cache.value}.{name}"
            doc.value("state_file", path, depth, cache.at("cache") + ": netsentinel writes "
                      "its own format there" + ("" if cache_users == 1 else ", one per instance"))
        else:
            doc.absent("state_file", f"/var/lib/netsentinel/ddns-{name}", depth, "a file "
                       "remembers the address across restarts (else each start updates once)")
        protocol = settings.get("protocol")
        if protocol is None or protocol.value in PROTOCOLS:
            self.update(entry, protocol, values, depth)
        else:
            doc.comment(f"{protocol.at('protocol')}: provider updates are not supported for "
                        "it (see docs/ddns.md for those that are):\nupdate the provider from "
                        "checks.action on "
                        f"ddns-ip-update NEW OLD (host names: {','.join(hostnames)};\n"
                        "its login and password are not copied)", depth)
        if not first:
            return
        kind = protocol.value if protocol else "dyndns2"
        handled = DONE | ({"zone", "ttl"} if kind == "cloudflare" else PROTOCOL_KEYS.get(kind, set()))
        for key in settings:
            if key in handled:
                continue
            if key in PROGRAM_NOTES:
                self.global_notes[(settings[key].line, key)] = (
                    f"{settings[key].at(key)}: {PROGRAM_NOTES[key]}")
            elif key in ENTRY_NOTES:
                self.note(entry, key, ENTRY_NOTES[key], depth)
            else:      # its value may be a secret (apikey=, token=)
                self.note(entry, key, "unknown to this importer, not imported", depth, False)

    def sources(self, entry: Entry, method: Method, depth: int) -> None:
        doc, kind, suffix = self.doc, method.kind, method.suffix
        doc.key("sources", depth, method.said())
        param = entry.settings.get(f"{kind}{suffix}")
        if kind == "if":
            name = param.value if param else "ppp0"
            try:
                doc.item({"interface": interface_name(name)}, depth + 1,
                         param.at(f"if{suffix}") if param else "if=ppp0 (ddclient's default)")
            except _Invalid as e:
                self.problem(f"if{suffix}", param, str(e))
            return
        if kind == "web" and self.web(entry, suffix, depth + 1):
            return
        if kind != "web":
            what = {"ip": "a fixed address (given here or by `ddclient -ip`)",
                    "cmd": "a command's output", "fw": "a firewall's status page",
                    "disabled": "no address lookup"}.get(kind, f"a {kind} router's status page")
            shown = f", {param.at(kind + suffix)}" if param else ""
            doc.comment(f"no equivalent for {what}{shown}:\nuse an interface source "
                        "({interface: eth0}) if the address is on one of this host's "
                        "interfaces,\nor the DNS source below", depth + 1)
        doc.item(FALLBACK_SOURCE, depth + 1, "CHECK: a stand-in so the instance loads (OpenDNS "
                 "answers with the asker's address)")

    def web(self, entry: Entry, suffix: str, depth: int) -> bool:
        """The ``web=`` source; False when it cannot be used (written commented out)."""
        param = entry.settings.get(f"web{suffix}")
        name = param.value if param else DEFAULT_WEB[suffix]
        said = param.at(f"web{suffix}") if param else f"web={name} (ddclient's default)"
        url, why = BUILTIN_WEB.get(name, (name, None))
        if name not in BUILTIN_WEB:
            url = name if "://" in name else f"http://{name}"
            why = WEB_HOSTS.get(urlsplit(url).hostname)
        if why is not None:
            self.doc.comment(f"{said}: {why}; not usable", depth)
            self.doc.comment(f"- {scalar(url)}", depth)
            return False
        note = f"{said}: the body must be the bare address"
        if url.startswith("http:"):
            note += "; plain http (anyone on the path can change it): prefer an https service"
        if f"web{suffix}-skip" in entry.settings:
            note += f"; web{suffix}-skip has no equivalent"
        self.doc.item(url, depth, note)
        return True

