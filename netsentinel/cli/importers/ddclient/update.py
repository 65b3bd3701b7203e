"""The ``update:`` of an imported ddns instance: dyndns2, cloudflare and (providers.py)
ddclient's other protocols; secrets never copied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netsentinel.checks.provider_config import credential, update_url
from netsentinel.cli.importers.ddclient.conf import Entry, Setting
from netsentinel.cli.importers.ddclient.keys import CLOUDFLARE_HOST, MAPPED, Values
from netsentinel.cli.importers.ddclient.providers import write
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import Problem, _Invalid, hostname


class UpdateWriter:
    """Writes ``update:`` keys, collecting problems and the notes said once at the end."""

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

    def update(self, entry: Entry, protocol: Setting | None, values: Values, depth: int) -> None:
        doc = self.doc
        kind = protocol.value if protocol else "dyndns2"
        doc.key("update", depth)
        doc.value("protocol", MAPPED.get(kind, kind), depth + 1, protocol.at("protocol")
                  if protocol else "ddclient's default protocol")
        if kind == "cloudflare":
            self.cloudflare(entry, depth + 1)
        elif kind in MAPPED:
            write(self, entry, kind, depth + 1)
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
            update_url(url)
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
        login, password = settings.get("login"), settings.get("password")
        if login is None:
            doc.comment("no login=: ddclient sends the update without credentials, and so "
                        "does this\n(a provider that wants them answers badauth)", depth)
            if password is not None:
                self.note(entry, "password", "ddclient sends no password without a login: "
                          "not imported", depth)
            return
        self.required(entry, "login", credential, depth, "")
        where = (f"the password from line {password.line} of {self.file}" if password
                 else "the account's password (ddclient.conf has none for this entry)")
        self.secret(entry, password, "password", "secret", where, depth)

    def secret(self, entry: Entry, setting: Setting | None, key: str, suffix: str, where: str,
               depth: int) -> None:
        """``KEY_env`` when ddclient read the secret from its environment, else a file."""
        if setting is not None and setting.env is not None:
            self.doc.value(f"{key}_env", setting.env, depth, f"{setting.at('password')}: the "
                           f"daemon reads it from its environment: set {setting.env} there "
                           "(systemd Environment= or EnvironmentFile=)")
        else:
            self.secret_file(entry, f"{key}_file", suffix, where, depth)

    def cloudflare(self, entry: Entry, depth: int) -> None:
        """Zone and token; the API base only when ddclient.conf names another one."""
        doc, settings = self.doc, entry.settings
        server = settings.get("server")
        if server is not None and server.value.split("://")[-1].rstrip("/") != CLOUDFLARE_HOST:
            url = server.value if "://" in server.value else f"https://{server.value}"
            try:
                doc.value("server", update_url(url), depth, server.at("server"))
            except _Invalid as e:
                self.problem("server", server, str(e))
        self.required(entry, "zone", hostname, depth,
                      "cloudflare needs zone= (the zone the host names are in)")
        login, password = settings.get("login"), settings.get("password")
        if login is not None and login.value != "token":
            doc.comment(f"{login.at('login')}: an e-mail is for Cloudflare's old global API "
                        "key, which netsentinel\ndoes not use: create an API token with "
                        "Zone.DNS Edit permission for this zone", depth)
        where = (f"the API token (password= on line {password.line} of {self.file}"
                 f"{'' if login is None or login.value == 'token' else ', if it is one'})"
                 if password else "an API token (ddclient.conf has none for this entry)")
        self.secret(entry, password, "token", "token", where, depth)
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

