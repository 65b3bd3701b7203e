"""The SSH host key: made once, kept, so clients can pin it in known_hosts."""

from __future__ import annotations

import os
import stat
from typing import cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.ssh.keys import FingerprintFormats, Key
from twisted.logger import Logger

from netsentinel.atomic import write_atomic

log = Logger()


class HostKeyError(Exception):
    """The host key file exists but cannot be used; it is never silently replaced."""


def load_or_create(path: str) -> Key:
    """Read the private host key at ``path``, or generate an Ed25519 one there (0600).

    A key readable by anyone but its owner is refused, as sshd refuses it.
    """
    key = load(path)
    return key if key is not None else _create(path)


def check(path: str) -> None:
    """Raise what ``load_or_create`` would raise, creating nothing (the tree is built at
    check-config and reload before anything starts)."""
    if load(path) is not None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HostKeyError(f"host key {path} cannot be created: {parent} is not writable")


def load(path: str) -> Key | None:
    """The private key at ``path``, or None when there is none yet."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HostKeyError(f"host key {path} is accessible by others "
                           f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it")
    try:
        key = Key.fromFile(path)
    except Exception as e:   # conch raises several types for a damaged file
        raise HostKeyError(f"host key {path} is not a private key: {e}") from None
    if key.isPublic():
        raise HostKeyError(f"host key {path} is a public key; a private key is needed")
    return cast(Key, key)


def _create(path: str) -> Key:
    private = ed25519.Ed25519PrivateKey.generate()
    data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    write_atomic(path, data, 0o600)
    key = Key(private)
    log.info("manhole: new SSH host key {path} ({fingerprint})", path=path,
             fingerprint=fingerprint(key))
    return key


def fingerprint(key: Key) -> str:
    """As ``ssh-keygen -l`` and the ssh client print it: ``SHA256:`` and unpadded base64."""
    return "SHA256:" + str(key.fingerprint(format=FingerprintFormats.SHA256_BASE64)).rstrip("=")
