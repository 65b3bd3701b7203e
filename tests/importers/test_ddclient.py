"""``import ddclient`` reads what ddclient reads: continuations, a host named twice, entries
without a login, ``*_env`` secrets, a file without entries.  Every input here was checked
against ddclient 4.0's own ``_read_config``; the blocks are in the shape of ddclient.conf.in's
provider blocks (a ``\\`` followed by a comment, a blank line after the last one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netsentinel.checks.config import DdnsConfig
from netsentinel.cli.importers import convert, read_file
from netsentinel.cli.importers.ddclient import read_config
from netsentinel.config import parse_config


def imported(scratch: Path, text: str) -> str:
    path = scratch / "ddclient.conf"
    path.write_text(text)
    return convert("ddclient", [str(path), "--", "--secret-dir", str(scratch)], read_file)


def loaded(text: str) -> dict[str, DdnsConfig]:
    """As the daemon loads it, once the user wrote each secret file named."""
    for path in re.findall(r"(?:password|token)_file: (\S+)", text):
        Path(path).write_text("pw\n")
        Path(path).chmod(0o600)
    checks = parse_config(text, "imported.yaml").features.get("checks")
    return {d.name: d for d in checks.ddns} if checks is not None else {}


def test_a_blank_or_comment_line_ends_a_continuation() -> None:
    """ddclient 3.10 and 4.0: the line before the blank one is complete; the next line is
    an entry of its own (the old reader carried the continuation over it)."""
    conf = read_config("protocol=dyndns2, login=u \\\n"
                       "\n"
                       "server=one.example.net a.example.org\n"
                       "login=v \\\n"
                       "# a comment line\n"
                       "b.example.org\n", "t.conf")
    assert [[h for h, _ in e.hosts] for e in conf.entries] == [["a.example.org"], ["b.example.org"]]
    assert conf.globals["protocol"].value == "dyndns2" and conf.globals["login"].value == "v"
    assert conf.entries[0].settings["login"].value == "u"


def test_a_backslash_then_a_comment_continues(scratch: Path) -> None:
    """ddclient.conf.in's blocks: ``zone=domain.tld,   \\ # comment``."""
    text = imported(scratch, "protocol=cloudflare,          \\\n"
                          "zone=example.net,             \\ # the zone\n"
                          "ttl=300,                      \\ # optional\n"
                          "password='cf-token',          \\ # API token\n"
                          "example.net,www.example.net\n"
                          "\n")
    [ddns] = loaded(text).values()
    assert ddns.update is not None and ddns.update.hostnames == ("example.net", "www.example.net")
    assert ddns.update.zone == "example.net" and "cf-token" not in text


def test_a_host_named_twice_keeps_its_first_entry(scratch: Path) -> None:
    text = imported(scratch, "protocol=dyndns2, server=first.example.net, login=alice, password=one "
                          "home.example.org\n"
                          "protocol=dyndns2, server=second.example.net, login=bob, password=two, "
                          "wildcard=yes home.example.org,other.example.org\n")
    ddns = loaded(text)
    home, other = ddns["home.example.org"].update, ddns["other.example.org"].update
    assert home is not None and other is not None
    assert (home.server, home.login, home.hostnames) == (
        "https://first.example.net/nic/update", "alice", ("home.example.org",))
    assert (other.login, other.hostnames) == ("bob", ("other.example.org",))
    assert ("home.example.org: named again on line 2; ddclient keeps this entry's settings for "
            "it (the first wins); ddclient adds wildcard from line 2 to it (not imported)") in text
    assert "# line 2: home.example.org: already named on line 1" in text


def test_an_entry_without_login_imports_without_credentials(scratch: Path) -> None:
    """ddclient.conf.in's dyndns.org block has no login=: ddclient sends no credentials."""
    text = imported(scratch, "daemon=300\n"
                          "#\n"
                          "server=members.dyndns.org,            \\\n"
                          "protocol=dyndns2                      \\\n"
                          "your-dynamic-host.dyndns.org\n")
    [ddns] = loaded(text).values()
    assert ddns.update is not None and (ddns.update.login, ddns.update.password) == ("", "")
    assert "# no login=: ddclient sends the update without credentials" in text
    assert "password_file:" not in text


def test_env_secrets_map_to_the_daemons_environment(scratch: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``password_env=VAR``: ddclient read the secret from its environment; the instance
    reads it from the daemon's (password_env / token_env); a ``login_env`` is read here."""
    monkeypatch.setenv("NS_DDNS_LOGIN", "envuser")
    monkeypatch.delenv("NS_UNSET", raising=False)
    text = imported(scratch, "login_env=NS_DDNS_LOGIN, password_env=NS_DDNS_PW a.example.org\n"
                          "protocol=cloudflare, zone=example.net, password_env=NS_CF_TOKEN "
                          "b.example.net\n"
                          "login=u, server_env=NS_UNSET, password=p c.example.org\n")
    assert "password_env: NS_DDNS_PW" in text and "token_env: NS_CF_TOKEN" in text
    assert "server_env=NS_UNSET: NS_UNSET is not set here, and ddclient ignores the setting" in text
    monkeypatch.setenv("NS_DDNS_PW", "from-env")
    monkeypatch.setenv("NS_CF_TOKEN", "cf-from-env")
    ddns = loaded(text)
    a, b = ddns["a.example.org"].update, ddns["b.example.net"].update
    assert a is not None and (a.login, a.password) == ("envuser", "from-env")
    assert b is not None and b.password == "cf-from-env"
    assert "from-env" not in text


def test_a_file_without_entries_imports_empty(scratch: Path) -> None:
    """ddclient.conf as shipped (every entry commented out): ddclient starts and warns."""
    text = imported(scratch, "daemon=300\n# protocol=dyndns2 \\\n# host.example.org\n")
    assert loaded(text) == {}
    assert "# no entry: ddclient updates the host names at the end of a line" in text
    assert "# daemon=300 (line 1): after the last entry, applies to none" in text


def test_what_ddclient_ignores_is_a_note_not_a_refusal(scratch: Path) -> None:
    text = imported(scratch, "login=u password=p if-skip=x a.example.org u2 p2 extra words\n"
                          "protocol=dnsmadeeasy, login=l, password=p id-1,id-2,...\n")
    assert "if-skip: deprecated in ddclient, does nothing (dropped)" in text
    assert "extra words: words after HOSTS LOGIN PASSWORD, ignored by ddclient" in text
    assert set(loaded(text)) == {"a.example.org", "id-1"}
