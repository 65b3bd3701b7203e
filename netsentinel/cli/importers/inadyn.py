"""inadyn.conf (inadyn 2.x, libConfuse syntax) → ``checks: ddns:`` instances.

``provider NAME { username, password, hostname, ... }`` maps by NAME (``default@no-ip.com``,
``ipv6@cloudflare.com``, ...); ``custom NAME { ddns-server, ddns-path, ... }`` becomes a
URL template (``%h`` host, ``%i`` address, ``%p`` password). ``iface`` makes an interface
source, ``checkip-server``/``checkip-path`` an echo source. Secrets are never copied.
"""

from __future__ import annotations

import re
from typing import Any

from netsentinel.checks.providers import SPECS
from netsentinel.cli.importers import Reader, argv_problem, parse_options, split_args
from netsentinel.cli.importers.ddns_updater import SOURCES, DdnsDoc
from netsentinel.schema import ConfigError, Problem

USAGE = "import inadyn [FILE] [-- --secret-dir DIR]"
DEFAULT_FILE = "/etc/inadyn.conf"
# inadyn's provider name (after the @): netsentinel's protocol
PROVIDERS = {"dyndns.org": "dyndns", "no-ip.com": "noip", "dynu.com": "dynu",
             "changeip.com": "changeip", "ddnss.de": "ddnss", "easydns.com": "easydns",
             "ovh.com": "ovh", "dyn.dns.he.net": "he", "he.net": "he", "desec.io": "desec",
             "freedns.afraid.org": "freedns", "duckdns.org": "duckdns",
             "cloudflare.com": "cloudflare", "infomaniak.com": "infomaniak",
             "inwx.com": "inwx"}
TOKEN = re.compile(r'\s*(?:#[^\n]*|"((?:[^"\\]|\\.)*)"|([{}=,])|([^\s{}=,"#]+))', re.S)


def tokens(text: str, file: str) -> list[tuple[str, int, bool]]:
    """(word, line, quoted); comments dropped."""
    out, at = [], 0
    while at < len(text):
        match = TOKEN.match(text, at)
        if match is None or match.end() == at:
            if text[at:].strip():
                line = text.count("\n", 0, at) + 1
                raise ConfigError([Problem(file, line, "", "cannot read inadyn.conf here")])
            break
        line = text.count("\n", 0, match.start(match.lastindex or 0)) + 1
        if match[1] is not None:
            out.append((match[1], line, True))
        elif match[2] or match[3]:
            out.append((match[2] or match[3], line, False))
        at = match.end()
    return out


def parse(items: list[tuple[str, int, bool]], file: str, at: int = 0, depth: int = 0
          ) -> tuple[list[tuple[str, Any, int]], int]:
    """Settings ``key = value``, lists ``{ a, b }`` and sections ``kind NAME { ... }``."""
    found: list[tuple[str, Any, int]] = []
    while at < len(items):
        word, line, _ = items[at]
        if word == "}" and depth:
            return found, at + 1
        nxt = items[at + 1][0] if at + 1 < len(items) else ""
        if nxt == "=":
            value, at = _value(items, at + 2, file)
            found.append((word.lower(), value, line))
        elif at + 2 < len(items) and items[at + 2][0] == "{":
            body, at = parse(items, file, at + 3, depth + 1)
            found.append((f"{word.lower()} {nxt}", dict((k, v) for k, v, _ in body), line))
        else:
            raise ConfigError([Problem(file, line, word, "expected key = value or a section")])
    return found, at


def _value(items: list[tuple[str, int, bool]], at: int, file: str) -> tuple[Any, int]:
    if at < len(items) and items[at][0] == "{" and not items[at][2]:
        values, at = [], at + 1
        while at < len(items) and items[at][0] != "}":
            if items[at][0] != ",":
                values.append(items[at][0])
            at += 1
        return values, at + 1
    if at >= len(items):
        raise ConfigError([Problem(file, items[-1][1], "", "a value is missing")])
    return items[at][0], at + 1


def convert(args: list[str], read: Reader) -> str:
    files, options = split_args(args, USAGE)
    secret_dir = parse_options(files, options, USAGE, valued=("--secret-dir",)).get(
        "--secret-dir", "/etc/netsentinel").rstrip("/") or "/"
    if len(files) > 1:
        raise argv_problem(2, files[1], "inadyn reads one config file")
    path = files[0] if files else DEFAULT_FILE
    settings, _ = parse(tokens(read(path), path), path)
    top = {k: v for k, v, _ in settings if isinstance(v, (str, list))}
    out = DdnsDoc(path, "inadyn", secret_dir)
    period = str(top.get("period"))
    interval = float(min(max(int(period), 60), 7 * 86400)) if period.isdigit() else None
    for key, body, line in settings:
        kind, _, name = key.partition(" ")
        if kind in ("provider", "custom") and isinstance(body, dict):
            _section(out, kind, name, body, top, f"{path} line {line}: {key}", interval)
    return out.doc.text()


def _section(out: DdnsDoc, kind: str, name: str, body: dict[str, Any], top: dict[str, Any],
             where: str, interval: float | None) -> None:
    system, _, provider = name.strip('"').partition("@")
    hosts = body.get("hostname", [])
    hosts = [hosts] if isinstance(hosts, str) else hosts
    family = "ipv6" if system == "ipv6" else "ipv4"
    iface = body.get("iface", top.get("iface"))
    sources: list[Any] = [{"interface": iface}] if iface else list(SOURCES[family])
    server = body.get("checkip-server")
    if server:
        sources.insert(0, f"https://{server}{body.get('checkip-path', '/')}")
    notes: list[str] = []
    if kind == "custom":
        path = str(body.get("ddns-path", "/"))
        template = (f"https://{body.get('ddns-server', '')}" + path.replace("%h", "{host}")
                    .replace("%i", "{ip}").replace("%p", "{password}").replace(
                        "%u", str(body.get("username", ""))))
        update: dict[str, Any] = {"protocol": "custom", "server": template}
        if "%p" not in path and body.get("username"):
            update["login"] = body["username"]
        secret = "the password" if body.get("password") else None
    else:
        protocol = PROVIDERS.get(provider)
        if protocol is None:
            out.doc.comment(f"{where}: no netsentinel module for {provider}: a `custom` URL "
                            "template (docs/ddns.md) can update it", 2)
            return
        update = {"protocol": protocol}
        spec = SPECS[protocol]
        if spec.zone:           # cloudflare: inadyn's username is the zone
            update["zone"] = body.get("username", "")
        elif spec.login in ("required", "optional") and body.get("username"):
            update["login"] = body["username"]
        secret = f"the password of {where}" if spec.secret == "password" else (
            f"the token (password of {where})")
        if protocol == "duckdns":
            secret = f"the token (username of {where})"
    for host in hosts:
        out.instance(host, family, sources, update, secret, notes, where, interval)
