"""ddclient.conf (ddclient 3.10) → ``checks: ddns:`` instances that update the provider.

The file is read as ddclient reads it: ``#`` starts a comment unless escaped,
a line ending in ``\\`` continues on the next, ``key=value`` settings are
separated by commas and/or blanks, values may be quoted or ``\\``-escaped, a
line without host names sets globals for the entries after it, and an entry's
last words are its host names (then, in the old syntax, a login and a
password).  A host named again in a later entry belongs to that entry, as in
ddclient.  Passwords are never written out: the output is pasted into bug
reports, so it names a password file for the user to fill.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, Callable
from urllib.parse import urlsplit

import attrs

from netsentinel.checks.config import (
    INSTANCE,
    _credential,
    _hostname,
    _interface,
    _update_url,
)
from netsentinel.cli.importers import Reader, argv_problem, parse_options, split_args
from netsentinel.cli.importers.emit import Document, scalar
from netsentinel.schema import ConfigError, Problem, _Invalid

USAGE = "import ddclient [FILE] [-- --secret-dir DIR]"
DEFAULT_FILE = "/etc/ddclient.conf"
SECRET_DIR = "/etc/netsentinel"
ASSIGNMENT = re.compile(r"\s*([A-Za-z][0-9A-Za-z_-]*)=")
COMMENT = re.compile(r"(?<!\\)#.*$")
SEPARATORS = re.compile(r"[,\s]+")
SECRET_KEYS = ("password", "fw-password")
# ddclient 3.10's built-in `web=` names: the URL, and why netsentinel cannot use it (None:
# it answers the bare address, as a netsentinel source must)
HTML = "answers an HTML page around the address (ddclient skipped to it)"
BUILTIN_WEB: dict[str, tuple[str, str | None]] = {
    "dyndns": ("http://checkip.dyndns.org/", HTML),
    "freedns": ("https://freedns.afraid.org/dynamic/check.php", HTML),
    "googledomains": ("https://domains.google.com/checkip", "Google Domains closed in 2023"),
    "he": ("https://checkip.dns.he.net/", HTML),
    "ip4only.me": ("http://ip4only.me/api/", "answers CSV (IPv4,ADDRESS,...), not the bare address"),
    "ip6only.me": ("http://ip6only.me/api/", "answers CSV (IPv6,ADDRESS,...), not the bare address"),
    "ipify-ipv4": ("https://api.ipify.org/", None),
    "ipify-ipv6": ("https://api6.ipify.org/", None),
    "loopia": ("https://dns.loopia.se/checkip/checkip.php", HTML),
    "myonlineportal": ("https://myonlineportal.net/checkip", HTML),
    "noip": ("http://ip1.dynupdate.no-ip.com/", None),
    "nsupdate.info": ("https://ipv4.nsupdate.info/myip", None),
    "nsupdate.info-ipv6": ("https://ipv6.nsupdate.info/myip", None),
    "zoneedit": ("https://dynamic.zoneedit.com/checkip.html", HTML),
}
# hosts of those services, so `web=checkip.dyndns.org/` is recognised as well
WEB_HOSTS = {urlsplit(url).hostname: why for url, why in BUILTIN_WEB.values()}
WEB_HOSTS["checkip.dyndns.com"] = HTML
DEFAULT_WEB = {"": "dyndns", "v4": "ipify-ipv4", "v6": "ipify-ipv6"}
FALLBACK_SOURCE = {"dns": {"name": "myip.opendns.com", "server": "208.67.222.222"}}
# what each family's `use` may say; anything else is one of ddclient's firewall/router models
METHODS = ("ip", "web", "if", "cmd", "fw")
# keys that are ddclient's own business: noted once, at the end
PROGRAM_NOTES = {
    "syslog": "logging goes through twistd (journald, or --syslog)",
    "facility": "logging goes through twistd (journald, or --syslog)",
    "priority": "logging goes through twistd (journald, or --syslog)",
    "verbose": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "debug": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "quiet": "every update and error is logged; `netsentinel-ctl watch` shows the events",
    "mail": "no mail: checks.action gets ddns-provider-updated / ddns-provider-error",
    "mail-failure": "no mail: checks.action gets ddns-provider-error and ddns-provider-retry",
    "pid": "the daemon's pid file is twistd's --pidfile",
    "foreground": "the daemon runs under systemd (twistd --nodaemon)",
    "exec": "updates are always sent",
    "postscript": "checks.action is called with ddns-provider-updated IP HOSTS instead",
    "retry": "temporary errors are retried after 5 min, doubling to 1 h",
    "max-warn": "each error is logged once per attempt",
}
# keys of one entry without an equivalent
ENTRY_NOTES = {
    "min-error-interval": "fixed: 5 min after a temporary error, doubling to 1 h",
    "ssl_ca_dir": "a CA directory: netsentinel takes one PEM file (`ca:`) or the system store",
    "web-ssl-validate": "HTTPS is always verified",
    "fw-ssl-validate": "HTTPS is always verified",
    "proxy": "no HTTP proxy: the daemon connects directly",
    "wildcard": "not sent; add it to the query of `server` if your provider needs it",
    "mx": "not sent; add it to the query of `server` if your provider needs it",
    "backupmx": "not sent; add it to the query of `server` if your provider needs it",
    "static": "not sent; add it to the query of `server` if your provider needs it",
    "custom": "not sent; add it to the query of `server` if your provider needs it",
    "if-skip": "deprecated in ddclient, does nothing",
    "fw-banlocal": "deprecated in ddclient, does nothing",
    "zone": "for protocols other than dyndns2 (cloudflare takes it)",
    "ttl": "for protocols other than dyndns2",
}


@attrs.frozen
class Setting:
    value: str
    line: int
    local: bool          # on the entry's own line (else a global before it)

    def at(self, key: str) -> str:
        """``key=value (line N)``, or without the value for a secret."""
        shown = key if key in SECRET_KEYS else f"{key}={self.value}"
        return f"{shown} (line {self.line})"


@attrs.define
class Entry:
    hosts: list[tuple[str, int]]
    settings: dict[str, Setting]
    line: int
    name: str = ""
    notes: list[str] = attrs.Factory(list)


class _Logical:
    """One logical line: physical lines joined by ``\\``, each character's line known."""

    def __init__(self, parts: list[tuple[int, str]]) -> None:
        self.text = "".join(part for _, part in parts)
        self.starts, self.lines, offset = [], [], 0
        for number, part in parts:
            self.starts.append(offset)
            self.lines.append(number)
            offset += len(part)

    def line_at(self, position: int) -> int:
        return self.lines[max(0, bisect.bisect_right(self.starts, position) - 1)]


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    secret_dir = parse_options(files, options, USAGE, valued=("--secret-dir",)).get(
        "--secret-dir", SECRET_DIR)
    if len(files) > 1:
        raise argv_problem(2, files[1], "ddclient reads one config file")
    path = files[0] if files else DEFAULT_FILE
    return convert_text(read(path), path, secret_dir.rstrip("/") or "/")


def read_config(text: str, file: str) -> tuple[list[Entry], dict[str, Setting]]:
    """The entries, in file order, and the globals left at the end of the file."""
    problems: list[Problem] = []
    glob: dict[str, Setting] = {}
    entries: list[Entry] = []
    owner: dict[str, Entry] = {}
    parts: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = COMMENT.sub("", raw).strip()
        if not line:
            continue
        if line.endswith("\\"):
            parts.append((number, line[:-1]))
            continue
        parts.append((number, line))
        logical, parts = _Logical(parts), []
        local, hosts = _assignments(logical, file, problems)
        if not hosts:
            glob.update({k: Setting(v.value, v.line, False) for k, v in local.items()})
            continue
        entry = Entry(hosts, {**glob, **local}, hosts[0][1])
        for host, _ in hosts:
            if host in owner and owner[host] is not entry:
                earlier = owner[host]
                earlier.hosts = [h for h in earlier.hosts if h[0] != host]
                earlier.notes.append(f"{host}: named again on line {entry.line}, where ddclient "
                                     "took its settings from")
            owner[host] = entry
        entries.append(entry)
    if parts:
        problems.append(Problem(file, parts[0][0], "", "the last line ends with '\\': the entry "
                                "continues past the end of the file"))
    if problems:
        raise ConfigError(problems)
    return entries, glob


def _assignments(logical: _Logical, file: str,
                 problems: list[Problem]) -> tuple[dict[str, Setting], list[tuple[str, int]]]:
    """ddclient's parse_assignments: ``key=value`` pairs, then the words left (host names)."""
    text, position, found = logical.text, 0, {}
    while match := ASSIGNMENT.match(text, position):
        key, line, position = match[1], logical.line_at(match.start(1)), match.end()
        value, quote, escape = [], "", False
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
        if quote:
            problems.append(Problem(file, line, key, f"the {quote} quote is not closed on this "
                                    "line (a '#' starts a comment even inside quotes: write \\#)"))
        found[key] = Setting("".join(value), line, True)
        empty = position == match.end()
        skip = SEPARATORS.match(text, position)
        position = skip.end() if skip else position
        if (empty and skip and "," not in skip[0] and position < len(text)
                and not ASSIGNMENT.match(text, position)):
            # `password= secret host`: ddclient takes the secret for a host name
            problems.append(Problem(file, line, key, "empty value, then a word ddclient reads "
                                    "as a host name: write key=value without blanks around '='"))
            return found, []
    line = logical.line_at(position)
    words = re.sub(r"\s*,\s*", ",", text[position:]).split()
    for i, word in enumerate(words):
        if "=" in word:
            key = word.partition("=")[0] or (words[i - 1] if i else "")
            problems.append(Problem(file, line, key, "not read as a setting: write key=value, "
                                    "without blanks around '=' (ddclient took these words for "
                                    "host names)"))
            return found, []
    if "host" in found:
        words[:1] = [",".join(w for w in (*words[:1], found.pop("host").value) if w)]
    if len(words) > 3:
        problems.append(Problem(file, line, "", "more words than HOSTS LOGIN PASSWORD after the "
                                "settings (host names are separated by commas)"))
        return found, []
    if len(words) > 1:
        found["login"] = Setting(words[1], line, True)
    if len(words) > 2:
        found["password"] = Setting(words[2], line, True)
    hosts = [(host, line) for host in words[0].split(",") if host] if words else []
    return found, hosts


def duration(text: str) -> int | None:
    """ddclient's interval(): ``300``, ``30s``, ``5m``, ``2h``, ``25d`` (and ``5min``, ``2days``)."""
    match = re.match(r"(\d+)([smhd])", text, re.IGNORECASE)
    if match:
        return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2].lower()]
    return int(text) if text.isdigit() else None


def flag(text: str) -> bool | None:
    """ddclient's booleans: y, yes, t, true, 1 / n, no, f, false, 0."""
    if re.fullmatch(r"y(es)?|t(rue)?|1", text, re.IGNORECASE):
        return True
    if re.fullmatch(r"no?|f(alse)?|0", text, re.IGNORECASE):
        return False
    return None


@attrs.frozen
class Method:
    """How ddclient found one family's address: ``use=web`` is ``("web", "", "use", ...)``,
    ``usev6=ifv6`` is ``("if", "v6", "usev6", ...)``."""

    kind: str
    suffix: str
    key: str
    setting: Setting | None

    def said(self) -> str:
        return self.setting.at(self.key) if self.setting else f"{self.key}={self.kind} (ddclient's default)"


@attrs.frozen
class Values:
    """An entry's values that both of its instances (IPv4, IPv6) use."""

    daemon: int | None
    min_interval: int | None
    max_interval: int | None
    timeout: int | None
    ssl: bool | None


PROTOCOLS = ("dyndns2", "cloudflare")
CLOUDFLARE_HOST = "api.cloudflare.com/client/v4"     # ddclient's default server for it
DONE = {"host", "login", "password", "protocol", "server", "script", "ssl", "ssl_ca_file",
        "daemon", "min-interval", "max-interval", "cache", "timeout", "use", "usev4", "usev6",
        "fw-login", "fw-password", "fw-skip", "cmd-skip",
        *(f"{m}{v}" for m in METHODS for v in ("", "v4", "v6")),
        *(f"web{v}-skip" for v in ("", "v4", "v6"))}


class _Writer:
    """Turns the entries into ``checks: ddns:``, collecting problems and notes."""

    def __init__(self, file: str, secret_dir: str) -> None:
        self.file, self.secret_dir = file, secret_dir
        self.problems: list[Problem] = []
        self.global_notes: dict[tuple[int, str], str] = {}
        self.doc = Document()

    def problem(self, key: str, setting: Setting | None, reason: str, line: int = 0) -> None:
        self.problems.append(Problem(self.file, setting.line if setting else line, key, reason))

    def value(self, entry: Entry, key: str, convert: Callable[[str], Any], why: str) -> Any:
        setting = entry.settings.get(key)
        if setting is None:
            return None
        result = convert(setting.value)
        if result is None:
            self.problem(key, setting, f"ddclient would ignore {setting.value!r}: {why}")
        return result

    def required(self, entry: Entry, key: str, convert: Callable[[str], Any], depth: int,
                 why: str) -> None:
        """A setting the protocol needs, written converted; missing or refused by
        ``convert`` it is a problem on its line (the entry's when it is missing)."""
        setting = entry.settings.get(key)
        if setting is None:
            self.problem(key, None, f"{entry.name}: {why}", entry.line)
            return
        try:
            self.doc.value(key, convert(setting.value), depth, setting.at(key))
        except _Invalid as e:
            self.problem(key, setting, str(e))

    def secret_file(self, entry: Entry, key: str, suffix: str, where: str, depth: int) -> None:
        """Secrets are never copied: name the file the user writes ``where`` into."""
        self.doc.comment(f"not copied: write {where}\non the first line of this file, then "
                         "chmod 600 it", depth)
        self.doc.value(key, f"{self.secret_dir}/ddns-{entry.name}.{suffix}", depth)

    def note(self, entry: Entry, key: str, text: str, depth: int, show: bool = True) -> None:
        """A note about a setting; one from a global line is written once, at the end."""
        setting = entry.settings[key]
        line = f"{setting.at(key) if show else f'{key} (line {setting.line})'}: {text}"
        if setting.local:
            self.doc.comment(line, depth)
        else:
            self.global_notes[(setting.line, key)] = line

    def entry(self, entry: Entry, cache_users: int) -> None:
        for host, line in entry.hosts:
            try:
                _hostname(host)
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
                        "it (only dyndns2 and cloudflare):\nupdate the provider from "
                        "checks.action on "
                        f"ddns-ip-update NEW OLD (host names: {','.join(hostnames)};\n"
                        "its login and password are not copied)", depth)
        if not first:
            return
        handled = DONE | ({"zone", "ttl"} if protocol and protocol.value == "cloudflare"
                          else set())
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
                doc.item({"interface": _interface(name)}, depth + 1,
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

    def update(self, entry: Entry, protocol: Setting | None, values: Values, depth: int) -> None:
        doc = self.doc
        kind = protocol.value if protocol else "dyndns2"
        doc.key("update", depth)
        doc.value("protocol", kind, depth + 1, protocol.at("protocol") if protocol
                  else "ddclient's default protocol")
        if kind == "cloudflare":
            self.cloudflare(entry, depth + 1)
        else:
            self.dyndns2(entry, values, depth + 1)
        self.update_common(entry, values, depth + 1)

    def dyndns2(self, entry: Entry, values: Values, depth: int) -> None:
        doc, settings = self.doc, entry.settings
        server, script = settings.get("server"), settings.get("script")
        host = server.value if server else "members.dyndns.org"
        path = script.value if script else "/nic/update"
        scheme, _, rest = host.rpartition("://")
        scheme = scheme or ("http" if values.ssl is False else "https")
        url = f"{scheme}://{rest}{'' if path.startswith('/') else '/'}{path}"
        try:
            _update_url(url)
        except _Invalid as e:
            self.problem("server", server, str(e))
        said = [s.at(k) for k, s in (("server", server), ("script", script)) if s]
        if scheme == "http":
            said.append("PLAIN HTTP: login and password cross the network readable; use "
                        "https if the provider has it")
        elif "://" in host:
            pass
        elif "ssl" not in settings:
            said.append("https (ddclient 3.10 used http unless ssl=yes)")
        else:
            said.append(settings["ssl"].at("ssl"))
        doc.value("server", url, depth, "; ".join(said))
        self.required(entry, "login", _credential, depth,
                      "dyndns2 needs login= (the provider answers badauth without one)")
        password = settings.get("password")
        where = (f"the password from line {password.line} of {self.file}" if password
                 else "the account's password (ddclient.conf has none for this entry)")
        self.secret_file(entry, "password_file", "secret", where, depth)

    def cloudflare(self, entry: Entry, depth: int) -> None:
        """Zone and token; the API base only when ddclient.conf names another one."""
        doc, settings = self.doc, entry.settings
        server = settings.get("server")
        if server is not None and server.value.split("://")[-1].rstrip("/") != CLOUDFLARE_HOST:
            url = server.value if "://" in server.value else f"https://{server.value}"
            try:
                doc.value("server", _update_url(url), depth, server.at("server"))
            except _Invalid as e:
                self.problem("server", server, str(e))
        self.required(entry, "zone", _hostname, depth,
                      "cloudflare needs zone= (the zone the host names are in)")
        login, password = settings.get("login"), settings.get("password")
        if login is not None and login.value != "token":
            doc.comment(f"{login.at('login')}: an e-mail is for Cloudflare's old global API "
                        "key, which netsentinel\ndoes not use: create an API token with "
                        "Zone.DNS Edit permission for this zone", depth)
        where = (f"the API token (password= on line {password.line} of {self.file}"
                 f"{'' if login is None or login.value == 'token' else ', if it is one'})"
                 if password else "an API token (ddclient.conf has none for this entry)")
        self.secret_file(entry, "token_file", "token", where, depth)
        if "ttl" in settings:
            self.note(entry, "ttl", "not sent: the record keeps its TTL", depth)

    def update_common(self, entry: Entry, values: Values, depth: int) -> None:
        doc, settings = self.doc, entry.settings
        doc.value("hostnames", [host for host, _ in entry.hosts], depth,
                  "the host names ending the entry")
        ca = settings.get("ssl_ca_file")
        if ca is not None:
            doc.value("ca", ca.value, depth, ca.at("ssl_ca_file") + " (the sources use "
                      "the system store)")
        if values.min_interval is not None:
            seconds = min(values.min_interval, 86400)
            doc.value("min_interval", seconds, depth, settings["min-interval"].at(
                "min-interval") + ("" if seconds == values.min_interval else
                                   ": netsentinel's limit is 1 day"))
        else:
            doc.comment("min_interval: 300 by default (ddclient's min-interval was 30 s)",
                        depth)
        if values.max_interval is not None:
            seconds = min(values.max_interval, 366 * 86400)
            doc.value("max_interval", seconds, depth, settings["max-interval"].at(
                "max-interval") + ("" if seconds == values.max_interval else
                                   ": netsentinel's limit is 366 days"))


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
    entries, glob = read_config(text, file)
    entries = [e for e in entries if e.hosts]
    if not entries:
        raise ConfigError([Problem(file, 0, "", "no entry: ddclient updates the host names at "
                                   "the end of a line, and no line has any")])
    _names(entries)
    writer = _Writer(file, secret_dir)
    doc = writer.doc
    doc.comment(f"netsentinel `checks:` imported from {file}\n"
                "by `netsentinel-ctl import ddclient`; check it with "
                "`netsentinel-ctl check-config FILE`.\n"
                "Passwords and tokens are never copied: write each one into the "
                "password_file\nor token_file named below (chmod 600).")
    doc.key("checks", 0)
    doc.key("ddns", 1)
    caches: dict[str, int] = {}
    for entry in entries:
        if "cache" in entry.settings:
            caches[entry.settings["cache"].value] = caches.get(entry.settings["cache"].value, 0) + 1
    for entry in entries:
        cache = entry.settings.get("cache")
        writer.entry(entry, caches[cache.value] if cache else 0)
    for key, setting in glob.items():
        if any(e.settings.get(key) == setting for e in entries):
            continue
        writer.global_notes[(setting.line, key)] = (
            f"{setting.at(key)}: after the last entry, applies to none")
    for _, line in sorted(writer.global_notes.items()):
        doc.comment(line)
    if writer.problems:         # a global's problem is found once per entry: said once
        raise ConfigError(list(dict.fromkeys(writer.problems)))
    return doc.text()
