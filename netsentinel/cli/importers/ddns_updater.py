"""qdm12/ddns-updater's config.json → ``checks: ddns:`` instances.

Each ``settings`` entry is one instance named after its host name. Secrets are never
copied: the output names a file per instance (chmod 600) to write them into. The
writer (``DdnsDoc``) is shared with the inadyn importer.
"""

from __future__ import annotations

import json
from typing import Any

from netsentinel.checks.config import INSTANCE
from netsentinel.checks.providers import SPECS
from netsentinel.cli.importers import Reader, argv_problem, parse_options, split_args
from netsentinel.cli.importers.emit import Document
from netsentinel.schema import ConfigError, Problem

USAGE = "import ddns-updater FILE [-- --secret-dir DIR]"
SECRET_DIR = "/etc/netsentinel"
SOURCES = {"ipv4": ["https://api.ipify.org/", {"dns": "opendns"}],
           "ipv6": ["https://api6.ipify.org/", {"dns": "opendns"}],
           "dual": ["https://api64.ipify.org/", {"dns": "opendns"}]}
# provider: (protocol, its secret's field(s) in config.json, login field)
PROVIDERS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "cloudflare": ("cloudflare", ("token",), None),
    "duckdns": ("duckdns", ("token",), None),
    "namecheap": ("namecheap", ("password",), None),
    "porkbun": ("porkbun", ("secret_api_key",), "api_key"),
    "gandi": ("gandi", ("personal_access_token", "key"), None),
    "noip": ("noip", ("password",), "username"),
    "dyn": ("dyndns", ("client_key", "password"), "username"),
    "dynu": ("dynu", ("password",), "username"),
    "changeip": ("changeip", ("password",), "username"),
    "ddnss": ("ddnss", ("password",), "username"),
    "easydns": ("easydns", ("token",), "username"),
    "infomaniak": ("infomaniak", ("password",), "username"),
    "inwx": ("inwx", ("password",), "username"),
    "ovh": ("ovh", ("password",), "username"),
    "he": ("he", ("password",), None),
    "desec": ("desec", ("token",), None),
    "freedns": ("freedns", ("token",), None),
}
KNOWN = {"provider", "domain", "host", "owner", "ip_version", "ipv6_suffix", "ttl", "proxied",
         "zone_identifier", "mode", "provider_ip"} | {
    f for _, secrets, login in PROVIDERS.values() for f in (*secrets, login) if f}


class DdnsDoc:
    """``checks: ddns:`` being written: one ``instance`` call per provider entry."""

    def __init__(self, file: str, tool: str, secret_dir: str) -> None:
        self.file, self.secret_dir = file, secret_dir
        self.doc = Document()
        self.names: set[str] = set()
        self.doc.comment(f"netsentinel `checks:` imported from {file}\nby `netsentinel-ctl "
                         f"import {tool}`; check it with `netsentinel-ctl check-config FILE`."
                         "\nSecrets are never copied: write each one into the file named "
                         "below (chmod 600).")
        self.doc.key("checks", 0)
        self.doc.key("ddns", 1)

    def name(self, host: str) -> str:
        base = host.replace("*", "wildcard") if INSTANCE.match(host.replace("*", "w")) else "ddns"
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}-{n}"
        self.names.add(name)
        return name

    def instance(self, host: str, family: str, sources: list[Any], update: dict[str, Any],
                 secret: str | None, notes: list[str], where: str, interval: float | None = None
                 ) -> None:
        doc, name = self.doc, self.name(host)
        doc.key(name, 2, where)
        for note in notes:
            doc.comment(note, 3)
        if family != "ipv4":
            doc.value("family", family, 3)
        if interval is not None:
            doc.value("interval", interval, 3)
        doc.value("sources", sources, 3)
        doc.absent("state_file", f"/var/lib/netsentinel/ddns-{name}", 3, "remembers the "
                   "address across restarts")
        doc.key("update", 3)
        for key, value in update.items():
            doc.value(key, value, 4)
        spec = SPECS[update["protocol"]]
        if secret is not None:
            doc.value(f"{spec.secret}_file", f"{self.secret_dir}/ddns-{name}.secret", 4,
                      f"not copied: write {secret} here")
        doc.value("hostnames", [host], 4)


def fqdn(entry: dict[str, Any]) -> tuple[str, str]:
    """(the host name, the zone) of an entry: ``domain`` plus the legacy ``host``."""
    domain, host = str(entry.get("domain", "")), entry.get("host")
    if host in (None, "", "@"):
        return domain, domain if host == "@" else ".".join(domain.split(".")[-2:])
    return f"{host}.{domain}", domain


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    secret_dir = parse_options(files, options, USAGE, valued=("--secret-dir",)).get(
        "--secret-dir", SECRET_DIR).rstrip("/") or "/"
    if len(files) != 1:
        raise argv_problem(2, files[1] if files else "", "one config.json: " + USAGE)
    path = files[0]
    try:
        settings = json.loads(read(path))["settings"]
        assert isinstance(settings, list) and all(isinstance(s, dict) for s in settings)
    except (ValueError, KeyError, TypeError, AssertionError) as e:
        raise ConfigError([Problem(path, 0, "settings", f"not a ddns-updater config.json: "
                                   f"{e}")]) from None
    out = DdnsDoc(path, "ddns-updater", secret_dir)
    for i, entry in enumerate(settings):
        _entry(out, entry, f"settings[{i}]")
    return out.doc.text()


def _entry(out: DdnsDoc, entry: dict[str, Any], where: str) -> None:
    provider = str(entry.get("provider", "")).lower()
    host, zone = fqdn(entry)
    if provider not in PROVIDERS:
        out.doc.comment(f"{where}: provider {provider!r} ({host}) has no netsentinel module: "
                        "a `custom` URL template\n(docs/ddns.md) or checks.action can update "
                        "it", 2)
        return
    protocol, secrets, login = PROVIDERS[provider]
    update: dict[str, Any] = {"protocol": protocol}
    notes = [f"{where}: unknown to this importer, not imported: {k}"
             for k in sorted(set(entry) - KNOWN)]
    if SPECS[protocol].zone:
        update["zone"] = zone
    if login and entry.get(login):
        update["login"] = "WRITE-YOUR-API-KEY" if login == "api_key" else entry[login]
        if login == "api_key":
            notes.append("not copied: the API key (pk1_...) goes in login")
    if isinstance(entry.get("ttl"), int) and "ttl" in SPECS[protocol].keys:
        update["ttl"] = entry["ttl"]
    if entry.get("proxied"):
        notes.append("proxied: not changed by netsentinel (the record keeps its setting)")
    version = str(entry.get("ip_version", "ipv4 or ipv6")).replace(" ", "")
    family = {"ipv4": "ipv4", "ipv6": "ipv6"}.get(version, "dual")
    if protocol == "namecheap":
        family = "ipv4"
    secret = next((f"{f} of {where}" for f in secrets if entry.get(f)), f"the {secrets[0]}")
    out.instance(host, family, SOURCES[family], update, secret, notes, where)
