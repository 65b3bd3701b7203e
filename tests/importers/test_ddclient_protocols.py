"""``import ddclient`` maps each provider protocol netsentinel has a module for, and the
result loads: the secrets named as files (never copied), nsupdate's key file as rfc2136's."""

from __future__ import annotations

import re
from pathlib import Path

from netsentinel.cli.importers import convert, read_file
from netsentinel.config import parse_config

FIXTURE = Path(__file__).parent / "fixtures" / "ddclient" / "providers.conf"
KEY = "ZGRucy1sYWItc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY="
SECRETS = ("noip-password", "duck-token", "namecheap-password", "pk1_secretish", "sk1_secret",
           "gandi-pat", "cp", "ep", "op", "wp")



def test_every_provider_protocol_is_imported_and_loads(scratch: Path) -> None:
    key = scratch / "ddns.key"
    key.write_text(f'key "ddns-key" {{\n\talgorithm hmac-sha256;\n\tsecret "{KEY}";\n}};\n')
    key.chmod(0o600)
    conf = scratch / "ddclient.conf"
    conf.write_text(FIXTURE.read_text().replace("@KEYFILE@", str(key)))
    text = convert("ddclient", [str(conf), "--", "--secret-dir", str(scratch)], read_file)
    for secret in SECRETS:
        assert f" {secret}" not in text and f"={secret}" not in text
    for path in re.findall(r"(?:password|token)_file: (\S+)", text):
        Path(path).write_text("pw\n")
        Path(path).chmod(0o600)
    checks = parse_config(text, "imported.yaml").features["checks"]
    updates = {d.name: d.update for d in checks.ddns}
    assert {n: u.protocol for n, u in updates.items() if u} == {
        "home.ddns.net": "noip", "a.changeip.test": "changeip", "b.easydns.test": "easydns",
        "c.infomaniak.test": "infomaniak", "d.ovh.test": "ovh", "e.inwx.test": "inwx",
        "myhost": "duckdns", "f.mooo.com": "freedns", "sub.example.com": "namecheap",
        "host.example.net": "porkbun", "myhost.example.io": "gandi",
        "home.example.org": "rfc2136"}
    noip = updates["home.ddns.net"]
    assert noip is not None and noip.server == "https://dynupdate.no-ip.com/nic/update"
    assert noip.login == "noip-user"
    namecheap = updates["sub.example.com"]
    assert namecheap is not None and namecheap.zone == "example.com"
    gandi = updates["myhost.example.io"]
    assert gandi is not None and (gandi.zone, gandi.ttl) == ("example.io", 600)
    porkbun = updates["host.example.net"]
    assert porkbun is not None and porkbun.zone == "example.net"
    rfc2136 = updates["home.example.org"]
    assert rfc2136 is not None and (rfc2136.server, rfc2136.zone, rfc2136.ttl) == (
        "ns1.example.org", "example.org", 60)
    assert (rfc2136.key_name, rfc2136.algorithm, rfc2136.password) == (
        "ddns-key", "hmac-sha256", KEY)
    assert "v2 sync token" in text and "unknown to this importer" not in text
