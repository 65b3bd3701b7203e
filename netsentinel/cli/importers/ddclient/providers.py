"""ddclient's other protocols → netsentinel's provider modules (dyndns2 and cloudflare
are update.py's). Secrets are never copied: each becomes a file to write (or the
variable ddclient read it from)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from netsentinel.cli.importers.ddclient.conf import Entry, Setting
from netsentinel.cli.importers.ddclient.keys import PRESETS
from netsentinel.cli.importers.emit import Document


class UpdateWriter(Protocol):
    """What of update.py's writer these use."""

    file: str
    doc: Document

    def problem(self, key: str, setting: Setting | None, reason: str, line: int = 0) -> None: ...
    def required(self, entry: Entry, key: str, convert: Callable[[str], Any], depth: int,
                 why: str) -> None: ...
    def secret(self, entry: Entry, setting: Setting | None, key: str, suffix: str, where: str,
               depth: int) -> None: ...
    def secret_file(self, entry: Entry, key: str, suffix: str, where: str,
                    depth: int) -> None: ...
    def note(self, entry: Entry, key: str, text: str, depth: int, show: bool = True) -> None: ...


def write(w: UpdateWriter, entry: Entry, kind: str, depth: int) -> None:
    """The ``update:`` keys of ``kind`` (a ddclient protocol in MAPPED) after ``protocol:``."""
    if kind in PRESETS:
        preset(w, entry, depth)
    else:
        {"duckdns": duckdns, "freedns": freedns, "namecheap": namecheap, "porkbun": porkbun,
         "gandi": gandi, "nsupdate": nsupdate}[kind](w, entry, depth)


def _where(w: UpdateWriter, entry: Entry, key: str, what: str) -> str:
    setting = entry.settings.get(key)
    return (f"{what} ({key}= on line {setting.line} of {w.file})" if setting
            else f"{what} (ddclient.conf has none for this entry)")


def preset(w: UpdateWriter, entry: Entry, depth: int) -> None:
    """The provider's own server unless ddclient.conf names another."""
    server = entry.settings.get("server")
    if server is not None:
        w.note(entry, "server", "netsentinel knows the provider's update URL; set `server:` "
               "only if it differs", depth)
    w.required(entry, "login", str, depth, "the provider needs login=")
    w.secret(entry, entry.settings.get("password"), "password", "secret",
             _where(w, entry, "password", "the password"), depth)


def duckdns(w: UpdateWriter, entry: Entry, depth: int) -> None:
    w.secret(entry, entry.settings.get("password"), "token", "token",
             _where(w, entry, "password", "the DuckDNS token"), depth)


def freedns(w: UpdateWriter, entry: Entry, depth: int) -> None:
    w.doc.comment("ddclient logged in to FreeDNS's account API; netsentinel uses each host's\n"
                  "v2 sync token (Dynamic DNS page, 'Sync URL': the part after /u/)", depth)
    w.secret_file(entry, "token_file", "token", "the host's sync token", depth)


def namecheap(w: UpdateWriter, entry: Entry, depth: int) -> None:
    login = entry.settings.get("login")
    if login is None:
        w.problem("login", None, f"{entry.name}: namecheap needs login= (the domain)",
                  entry.line)
    else:
        w.doc.value("zone", login.value, depth, login.at("login") + ": Namecheap's login "
                    "is the domain")
    w.secret(entry, entry.settings.get("password"), "password", "secret",
             _where(w, entry, "password", "the domain's Dynamic DNS password"), depth)


def porkbun(w: UpdateWriter, entry: Entry, depth: int) -> None:
    zone = entry.settings.get("root-domain") or entry.settings.get("on-root-domain")
    if zone is not None and "." in zone.value:
        w.doc.value("zone", zone.value, depth, zone.at("root-domain"))
    else:
        hosts = [h for h, _ in entry.hosts]
        w.doc.value("zone", ".".join(hosts[0].split(".")[-2:]), depth, "the last two labels of "
                    "the first host: check it is the domain at Porkbun")
    w.doc.comment("the API key (pk1_...) is the login; the secret key goes in the file", depth)
    w.doc.value("login", "pk1_WRITE-YOUR-API-KEY", depth, "not copied: apikey= of "
                f"line {entry.settings['apikey'].line}" if "apikey" in entry.settings
                else "ddclient.conf has no apikey=")
    w.secret(entry, entry.settings.get("secretapikey"), "password", "secret",
             _where(w, entry, "secretapikey", "the secret API key"), depth)
    _ttl(w, entry, depth)


def gandi(w: UpdateWriter, entry: Entry, depth: int) -> None:
    w.required(entry, "zone", str, depth, "gandi needs zone=")
    pat = entry.settings.get("use-personal-access-token")
    if pat is None or pat.value.lower() not in ("yes", "y", "true", "1"):
        w.doc.comment("ddclient sent an API key; Gandi retired them: create a personal "
                      "access token\nwith LiveDNS rights", depth)
    w.secret(entry, entry.settings.get("password"), "token", "token",
             _where(w, entry, "password", "the personal access token"), depth)
    _ttl(w, entry, depth)


def nsupdate(w: UpdateWriter, entry: Entry, depth: int) -> None:
    """ddclient's password= is the path of nsupdate's key file: it is named, not read."""
    w.required(entry, "server", str, depth, "nsupdate needs server= (the primary)")
    w.required(entry, "zone", str, depth, "nsupdate needs zone=")
    key = entry.settings.get("password")
    if key is None:
        w.problem("password", None, f"{entry.name}: nsupdate needs password= (the key file)",
                  entry.line)
    else:
        w.doc.value("key_file", key.value, depth, f"password= (line {key.line}): nsupdate's "
                    "key file (BIND or Knot syntax; chmod 600)")
    _ttl(w, entry, depth)
    if "tcp" in entry.settings:
        w.note(entry, "tcp", "updates always go over TCP", depth)


def _ttl(w: UpdateWriter, entry: Entry, depth: int) -> None:
    ttl = entry.settings.get("ttl")
    if ttl is not None and ttl.value.isdigit() and 0 < int(ttl.value) <= 86400:
        w.doc.value("ttl", int(ttl.value), depth, ttl.at("ttl"))
