"""The ``manhole:`` section.

The manhole runs any Python inside the daemon, as root, so the section refuses
everything that would widen who can reach it: SSH listens on loopback only and
logs in with public keys only; the unix socket is 0600.  The authorized keys
are read here, so a bad line is a config error and a reload that changed the
file (or its path) is a changed section, applied in place.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Endpoint,
    Section,
    invalid,
    listen_endpoint,
    string,
    writable_path,
)

DEFAULT_HOST_KEY = "/var/lib/netsentinel/manhole_host_key"


@attrs.frozen
class AuthorizedKeys:
    """An authorized_keys file as read at parse time: its path and the key blobs in it."""

    path: str
    blobs: tuple[bytes, ...]


@attrs.frozen
class ManholeConfig:
    listen: Endpoint | None = None          # SSH, loopback only
    socket: str | None = None               # plain manhole protocol, 0600
    authorized_keys: AuthorizedKeys | None = None
    host_key: str = DEFAULT_HOST_KEY        # generated (0600) on first start if missing


def loopback_endpoint(value: Any) -> Endpoint:
    where = listen_endpoint(value)
    if not ipaddress.ip_address(where.host).is_loopback:
        raise invalid(f"the manhole listens on loopback only (127.0.0.1:PORT or [::1]:PORT), "
                      f"got {value!r}")
    return where


def authorized_keys(value: Any) -> AuthorizedKeys:
    """OpenSSH authorized_keys lines (``TYPE BASE64 [COMMENT]``); options are refused."""
    from twisted.conch.ssh.keys import (  # only when a manhole is configured
        BadKeyError,
        Key,
    )

    path = string(value)
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise invalid(f"cannot read {path}: {e.strerror}") from None
    blobs = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        try:
            key = Key.fromString(line)
        except (BadKeyError, ValueError, IndexError, struct.error):
            raise invalid(f"{path}:{number}: not a public key (TYPE BASE64 [COMMENT]; "
                          "key options are not supported)") from None
        blobs.append(key.blob())
    if not blobs:
        raise invalid(f"no public key in {path}: nobody could log in")
    return AuthorizedKeys(path, tuple(blobs))


def parse(section: Section, options: Mapping[str, Any]) -> ManholeConfig | None:
    if not section.keys():
        return None
    config = ManholeConfig(
        listen=section.get("listen", loopback_endpoint, None),
        socket=section.get("socket", writable_path, None),
        authorized_keys=section.get("authorized_keys", authorized_keys, None),
        host_key=section.get("host_key", string, DEFAULT_HOST_KEY),
    )
    if not section.has("listen") and not section.has("socket"):
        section.problem("set listen (SSH on loopback), socket (unix), or both")
    if section.has("listen") and not section.has("authorized_keys"):
        section.problem("SSH logs in with public keys only: authorized_keys is required",
                        section.line_of("listen"), "authorized_keys")
    section.done()
    return config
