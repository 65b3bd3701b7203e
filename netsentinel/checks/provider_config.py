"""The ``update:`` key of a ddns instance: how it tells a DNS provider the address.

Split from checks/config.py: a provider's secrets come inline, from a file
(``password_file``) or from the daemon's environment (``password_env``), and
each protocol takes its own keys.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any
from urllib.parse import urlsplit

import attrs

from netsentinel.schema import (
    REQUIRED,
    Section,
    choice,
    existing_file,
    hostname,
    http_url,
    invalid,
    list_of,
    number,
    string,
)


@attrs.frozen
class UpdateConfig:
    """How a ddns instance tells its DNS provider the address (ddclient's job)."""

    server: str                      # full URL of the update endpoint (cloudflare: API base)
    login: str                       # dyndns2 only ("" for cloudflare)
    password: str = attrs.field(repr=False)    # or the API token; never in a repr, log, status
    hostnames: tuple[str, ...]
    protocol: str = "dyndns2"
    ca: str | None = None
    min_interval: float = 300.0      # never two updates of one host closer than this
    max_interval: float = 25 * 86400.0    # re-send an unchanged address after this (0: never)
    zone: str | None = None          # cloudflare: the zone the host names are in


CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"
# per protocol: the secret's keys (inline, file, environment) and the keys only the other takes
SECRET_KEYS = {"dyndns2": ("password", "password_file", "password_env"),
               "cloudflare": ("token", "token_file", "token_env")}
OTHER_KEYS = {"dyndns2": ("zone", "token", "token_file", "token_env"),
              "cloudflare": ("login", "password", "password_file", "password_env")}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_update(s: Section) -> UpdateConfig | None:
    protocol = s.get("protocol", choice(*SECRET_KEYS), "dyndns2")
    for key in OTHER_KEYS[protocol]:
        if s.has(key):
            s.raw(key)
            s.problem(f"not a {protocol} key"
                      + (" (Cloudflare takes an API token, not a login)"
                         if key == "login" else ""), s.line_of(key), key)
    cloudflare = protocol == "cloudflare"
    secret = _secret(s, protocol, needed=cloudflare or s.has("login"))
    server = s.get("server", update_url, CLOUDFLARE_API if cloudflare else REQUIRED)
    login = "" if cloudflare else s.get("login", credential, "")
    zone = s.get("zone", hostname) if cloudflare else None
    hostnames = s.get("hostnames", _hostnames, ())
    outside = [h for h in hostnames if zone and h != zone and not h.endswith(f".{zone}")]
    for host in outside:
        s.problem(f"{host} is not in zone {zone}", s.line_of("hostnames"), "hostnames")
    config = UpdateConfig(
        server, login, secret or "", hostnames, protocol, s.get("ca", existing_file, None),
        s.get("min_interval", number(0, 86400), 300.0),
        s.get("max_interval", number(0, 366 * 86400), 25 * 86400.0), zone)
    s.done()
    return config


def _secret(s: Section, protocol: str, needed: bool) -> str | None:
    """The one secret key given; dyndns2 without a login sends no credentials (a provider
    whose update URL carries its own token), so it takes no secret either."""
    keys = SECRET_KEYS[protocol]
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
    convert = {keys[0]: string, keys[1]: _password_file, keys[2]: _environment}[given[0]]
    value: str | None = s.get(given[0], convert, None)
    for key in given[1:]:
        s.raw(key)
    return value


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


def _password_file(value: Any) -> str:
    """The password (or API token) on the file's first line; like sshd with a loose key
    file, a file others may read or write is refused rather than used."""
    path = existing_file(value)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o007:
        raise invalid(f"{path} is accessible to others (mode {mode:04o}): chmod 600 it")
    try:
        with open(path, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        raise invalid(f"cannot read {path}: {e}") from None
    if not password:
        raise invalid(f"{path}: the first line (the secret) is empty")
    return password


