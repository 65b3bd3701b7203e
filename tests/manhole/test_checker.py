"""The manhole's key checker: what it logs for a probe, a login and a stranger's key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.error import ValidPublicKey
from twisted.conch.ssh.keys import Key
from twisted.cred.credentials import SSHPrivateKey
from twisted.cred.error import UnauthorizedLogin
from twisted.logger import ILogObserver, Logger

from netsentinel.manhole import ssh

SIGNED_DATA = b"session id and userauth request"


def new_key() -> Key:
    return Key(ed25519.Ed25519PrivateKey.generate())


def credentials(key: Key, signed: bool) -> SSHPrivateKey:
    """What conch builds from a userauth request: with ``signed`` False, ssh's probe."""
    signature = key.sign(SIGNED_DATA) if signed else None
    return SSHPrivateKey(b"root", b"ssh-ed25519", key.public().blob(), SIGNED_DATA, signature)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(ssh, "log", Logger(observer=cast(ILogObserver, seen.append)))
    yield seen


def outcome(checker: ssh.KeyChecker, creds: SSHPrivateKey) -> Any:
    results: list[Any] = []
    checker.requestAvatarId(creds).addBoth(results.append)
    assert len(results) == 1            # the checker answers synchronously
    return results[0]


def warnings(events: list[dict[str, Any]]) -> list[str]:
    return [e["log_format"] for e in events if e["log_level"].name == "warn"]


def test_probe_of_an_authorized_key_is_answered_without_a_warning(
        events: list[dict[str, Any]]) -> None:
    admin = new_key()
    checker = ssh.KeyChecker(ssh.AuthorizedKeys((admin.public().toString("openssh"),)))
    result = outcome(checker, credentials(admin, signed=False))
    assert result.check(ValidPublicKey)
    assert warnings(events) == []


def test_login_after_the_probe_logs_the_login_and_no_refusal(
        events: list[dict[str, Any]]) -> None:
    admin = new_key()
    checker = ssh.KeyChecker(ssh.AuthorizedKeys((admin.public().toString("openssh"),)))
    outcome(checker, credentials(admin, signed=False))
    assert outcome(checker, credentials(admin, signed=True)) == b"root"
    assert warnings(events) == []
    assert [e["log_format"] for e in events] == [
        "manhole: SSH login as {user} with key {fingerprint}"]


def test_key_not_authorized_is_warned_about_once(events: list[dict[str, Any]]) -> None:
    """conch answers every probe alike; the refusal comes with the signed attempt."""
    admin, stranger = new_key(), new_key()
    checker = ssh.KeyChecker(ssh.AuthorizedKeys((admin.public().toString("openssh"),)))
    outcome(checker, credentials(stranger, signed=False))
    result = outcome(checker, credentials(stranger, signed=True))
    assert result.check(UnauthorizedLogin) and not result.check(ValidPublicKey)
    assert warnings(events) == ["manhole: SSH key {fingerprint} refused for {user}"]


def test_bad_signature_is_warned_about(events: list[dict[str, Any]]) -> None:
    admin, other = new_key(), new_key()
    checker = ssh.KeyChecker(ssh.AuthorizedKeys((admin.public().toString("openssh"),)))
    forged = SSHPrivateKey(b"root", b"ssh-ed25519", admin.public().blob(), SIGNED_DATA,
                           other.sign(SIGNED_DATA))
    assert outcome(checker, forged).check(UnauthorizedLogin)
    assert warnings(events) == ["manhole: SSH key {fingerprint} refused for {user}"]
