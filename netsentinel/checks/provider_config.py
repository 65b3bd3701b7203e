"""The ``update:`` key of a ddns instance: how it tells a DNS provider the address.

Which keys a protocol takes comes from its row in ``checks/providers`` (server,
secret, login, zone, extra keys). A secret comes inline, from a file
(``password_file``, mode checked) or from the daemon's environment
(``password_env``); it is never in a repr, a log line or the status.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import string as strings
from typing import Any
from urllib.parse import urlsplit

import attrs

from netsentinel.checks.providers import SPECS, Spec
from netsentinel.schema import (
    REQUIRED,
    Section,
    address,
    choice,
    existing_file,
    hostname,
    http_url,
    integer,
    invalid,
    list_of,
    number,
    string,
)


@attrs.frozen
class UpdateConfig:
    """How a ddns instance tells its DNS provider the address (ddclient's job)."""

    server: str                      # the endpoint URL (rfc2136: the primary's host name or address)
    login: str                       # "" when none
    password: str = attrs.field(repr=False)    # or token, or TSIG secret: never shown
    hostnames: tuple[str, ...]
    protocol: str = "dyndns2"
    ca: str | None = None
    min_interval: float = 300.0      # never two updates of one host closer than this
    max_interval: float = 25 * 86400.0    # re-send an unchanged address after this (0: never)
    zone: str | None = None          # the domain the host names are in
    ttl: int | None = None
    port: int = 53                   # rfc2136
    key_name: str | None = None      # rfc2136: the TSIG key's name
    algorithm: str = "hmac-sha256"   # rfc2136: the TSIG algorithm
    header: str | None = None        # custom: the header carrying the secret
    success: str | None = None       # custom: the reply word or HTTP status meaning success
    method: str = "GET"              # custom
    authoritative: tuple[str, ...] = ()   # servers asked what DNS really answers before sending


CLOUDFLARE_API = SPECS["cloudflare"].server
SECRETS = ("password", "token", "key")
COMMON = ("protocol", "server", "hostnames", "ca", "min_interval", "max_interval",
          "authoritative")
EXTRA = ("ttl", "port", "key_name", "algorithm", "header", "success", "method")
ALL_KEYS = (*COMMON, "login", "zone", *EXTRA,
            *(f"{s}{suffix}" for s in SECRETS for suffix in ("", "_file", "_env")))
ALGORITHMS = ("hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1",
              "hmac-md5")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDERS = {"host", "ip", "password"}
BIND_KEY = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{[^}]*?algorithm\s+"?([\w-]+)"?\s*;'
                      r'[^}]*?secret\s+"([^"]+)"', re.S)
KNOT_KEY = re.compile(r"id:\s*(\S+)\s+algorithm:\s*([\w-]+)\s+secret:\s*(\S+)")


def parse_update(s: Section) -> UpdateConfig | None:
    protocol = s.get("protocol", choice(*SPECS), "dyndns2")
    spec = SPECS[protocol]
    taken = _taken(spec)
    for key in ALL_KEYS:
        if s.has(key) and key not in taken:
            s.raw(key)
            s.problem(f"not a {protocol} key" + _hint(spec, key), s.line_of(key), key)
    secret = _secret(s, spec, needed=_needs_secret(s, spec))
    server = s.get("server", _server(spec), spec.server or REQUIRED)
    login = s.get("login", credential, "") if "login" in taken else ""
    if spec.login == "required" and not s.has("login"):
        s.problem(f"{protocol} needs a login" + (" (the API key)" if protocol == "porkbun"
                                                 else ""), key="login")
    zone = s.get("zone", hostname, REQUIRED) if spec.zone else None
    hostnames = s.get("hostnames", _hostnames, ())
    _check_hosts(s, spec, zone, hostnames)
    config = UpdateConfig(
        server or "", login, secret or "", hostnames, protocol, s.get("ca", existing_file, None),
        s.get("min_interval", number(0, 86400), 300.0),
        s.get("max_interval", number(0, 366 * 86400), 25 * 86400.0), zone,
        s.get("ttl", integer(1, 86400), None), s.get("port", integer(1, 65535), 53),
        s.get("key_name", hostname, REQUIRED if protocol == "rfc2136" and not (
            secret and key_clause(secret)) else None),
        s.get("algorithm", choice(*ALGORITHMS), "hmac-sha256"),
        s.get("header", _header_name, None), s.get("success", _success, None),
        s.get("method", choice("GET", "POST", "PUT"), "GET"),
        s.get("authoritative", list_of(address), ()))
    if protocol == "rfc2136" and secret:
        config = _with_bind_key(config)
    s.done()
    return config


def _taken(spec: Spec) -> set[str]:
    keys = {*COMMON, *spec.keys, *(f"{spec.secret}{x}" for x in ("", "_file", "_env"))}
    if spec.login != "no":
        keys.add("login")
    if spec.zone:
        keys.add("zone")
    return keys


def _hint(spec: Spec, key: str) -> str:
    if key == "login" and spec.secret == "token":
        return f" ({spec.title.split()[0]} takes an API token, not a login)"
    return ""


def _needs_secret(s: Section, spec: Spec) -> bool:
    """dyndns2 without a login sends no credentials (a provider whose URL carries its own
    token), so it takes no secret either; a custom template needs one where it uses it."""
    if spec.name == "custom":
        return s.has("header") or s.has("login") or "{password}" in str(
            s.raw("server") if s.has("server") else "")
    return spec.login != "optional" or s.has("login")


def _check_hosts(s: Section, spec: Spec, zone: str | None, hostnames: tuple[str, ...]) -> None:
    outside = [h for h in hostnames if zone and h != zone and not h.endswith(f".{zone}")]
    for host in outside:
        s.problem(f"{host} is not in zone {zone}", s.line_of("hostnames"), "hostnames")
    if spec.one_host and len(hostnames) > 1:
        s.problem(f"{spec.title}: the secret belongs to one host name; one instance per host",
                  s.line_of("hostnames"), "hostnames")


def _server(spec: Spec) -> Any:
    if spec.name == "rfc2136":
        return _dns_server
    if spec.name == "custom":
        return template_url
    return update_url


def _dns_server(value: Any) -> str:
    try:
        return address(value)
    except Exception:  # noqa: BLE001 - not an address: then a host name
        return hostname(value)


def template_url(value: Any) -> str:
    """A URL with ``{host}``, ``{ip}``, ``{password}``: checked as filled in."""
    text = string(value)
    try:
        names = {name for _, name, _, _ in strings.Formatter().parse(text) if name is not None}
    except ValueError as e:
        raise invalid(f"not a URL template: {e}") from None
    unknown = names - PLACEHOLDERS
    if unknown:
        raise invalid(f"unknown placeholder(s) {', '.join(sorted(unknown))}: use "
                      "{host}, {ip}, {password}")
    if "host" not in names or "ip" not in names:
        raise invalid("the template needs {host} and {ip}")
    update_url(text.format(host="h", ip="1", password="p"))
    return text


def _header_name(value: Any) -> str:
    name = string(value)
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        raise invalid(f"not an HTTP header name: {name!r}")
    return name


def _success(value: Any) -> str:
    word = str(value) if isinstance(value, int) else string(value)
    if not word.strip():
        raise invalid("empty")
    return word


def _secret(s: Section, spec: Spec, needed: bool) -> str | None:
    keys = tuple(f"{spec.secret}{x}" for x in ("", "_file", "_env"))
    given = [key for key in keys if s.has(key)]
    if needed and len(given) != 1:
        s.problem("set one of " + ", ".join(keys[1:] + keys[:1]))
    elif not needed and given:
        s.raw(given[0])
        s.problem("a password needs a login (without login no credentials are sent)",
                  s.line_of(given[0]), given[0])
        return None
    if not given:
        return None
    reader = _key_file if spec.name == "rfc2136" else _password_file
    convert = {keys[0]: string, keys[1]: reader, keys[2]: _environment}[given[0]]
    value: str | None = s.get(given[0], convert, None)
    for key in given[1:]:
        s.raw(key)
    if value is not None and spec.name == "rfc2136" and not key_clause(value):
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            s.problem("not a base64 TSIG secret", s.line_of(given[0]), given[0])
            return None
    return value


def key_clause(text: str) -> re.Match[str] | None:
    """A TSIG key as BIND (``tsig-keygen``) or Knot (``keymgr -t``) writes it."""
    return BIND_KEY.search(text) or KNOT_KEY.search(text)


def _with_bind_key(config: UpdateConfig) -> UpdateConfig:
    """A key file in BIND's or Knot's syntax names the key and algorithm."""
    found = key_clause(config.password)
    if found is None:
        return config
    return attrs.evolve(config, key_name=config.key_name or found[1],
                        algorithm=found[2].lower(),
                        password=found[3])


def _environment(value: Any) -> str:
    """A secret from the daemon's environment (systemd's ``Environment=``/``EnvironmentFile=``,
    ``docker run -e``); the value is never shown, the variable is named."""
    name = string(value)
    if not ENV_NAME.match(name):
        raise invalid(f"not an environment variable name: {name!r}")
    secret = os.environ.get(name)
    if secret is None:
        raise invalid(f"environment variable {name} is not set (the daemon reads the secret "
                      "from its environment; check-config from the one it runs with)")
    if not secret:
        raise invalid(f"environment variable {name} is empty")
    return secret


def _hostnames(value: Any) -> tuple[str, ...]:
    names = list_of(hostname)(value)
    if not names:
        raise invalid("at least one host name is needed")
    return names


def update_url(value: Any) -> str:
    url = http_url(value)
    if "@" in (urlsplit(url).netloc or ""):
        raise invalid("credentials go in login and password_file, not in the URL")
    return url


def credential(value: Any) -> str:
    """A login goes into a basic-auth header: ':' would split it there."""
    login = string(value)
    if ":" in login or any(ord(c) < 32 for c in login):
        raise invalid("a login must not contain ':' or control characters")
    return login


def _checked_file(value: Any) -> str:
    """Like sshd with a loose key file: a file others may read or write is refused."""
    path = existing_file(value)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o007:
        raise invalid(f"{path} is accessible to others (mode {mode:04o}): chmod 600 it")
    return path


def _password_file(value: Any) -> str:
    """The password (or API token) on the file's first line."""
    path = _checked_file(value)
    try:
        with open(path, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        raise invalid(f"cannot read {path}: {e}") from None
    if not password:
        raise invalid(f"{path}: the first line (the secret) is empty")
    return password


def _key_file(value: Any) -> str:
    """A TSIG key: BIND's ``key "name" { algorithm ...; secret "..."; };``, Knot's
    ``keymgr -t`` output, or the base64 secret on the first line."""
    path = _checked_file(value)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(65536)
    except (OSError, UnicodeDecodeError) as e:
        raise invalid(f"cannot read {path}: {e}") from None
    if key_clause(text):
        return text
    first = text.splitlines()[0].strip() if text.strip() else ""
    if not first:
        raise invalid(f"{path}: the first line (the secret) is empty")
    return first
