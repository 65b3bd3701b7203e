"""``import inadyn`` and ``import ddns-updater``: every provider netsentinel has a module
for becomes an instance that loads; secrets are named as files, never copied; the rest
is said in a comment."""

from __future__ import annotations

import re
from pathlib import Path

from netsentinel.checks.config import DdnsConfig
from netsentinel.cli.importers import convert, read_file
from netsentinel.config import parse_config

FIXTURES = Path(__file__).parent / "fixtures"



def loaded(text: str) -> dict[str, DdnsConfig]:
    for path in re.findall(r"(?:password|token|key)_file: (\S+)", text):
        Path(path).write_text("pw\n")
        Path(path).chmod(0o600)
    checks = parse_config(text, "imported.yaml").features["checks"]
    return {d.name: d for d in checks.ddns}


def test_inadyn_providers_become_instances(scratch: Path) -> None:
    text = convert("inadyn", [str(FIXTURES / "inadyn" / "inadyn.conf"), "--", "--secret-dir",
                              str(scratch)], read_file)
    for secret in ("noip-secret", "cf-api-token", "duck-token", "custom-secret"):
        assert secret not in text
    ddns = loaded(text)
    assert sorted(ddns) == ["a.example.net", "home.ddns.net", "home.example.com",
                            "myhost.duckdns.org", "nas.ddns.net"]
    noip = ddns["home.ddns.net"]
    assert noip.update is not None and (noip.update.protocol, noip.update.login) == (
        "noip", "noip-user")
    assert noip.interval == 300
    cloudflare = ddns["home.example.com"]
    assert cloudflare.family == 6 and cloudflare.update is not None
    assert (cloudflare.update.protocol, cloudflare.update.zone) == ("cloudflare", "example.com")
    duck = ddns["myhost.duckdns.org"]
    assert [s.describe() for s in duck.sources] == ["interface eth0"]
    custom = ddns["a.example.net"].update
    assert custom is not None and custom.server == (
        "https://update.example.net/nic/update?host={host}&ip={ip}&key={password}")
    assert "no netsentinel module for example-unknown.com" in text


def test_ddns_updater_settings_become_instances(scratch: Path) -> None:
    text = convert("ddns-updater", [str(FIXTURES / "ddns-updater" / "config.json"), "--",
                                    "--secret-dir", str(scratch)], read_file)
    for secret in ("nc-secret", "duck-token", "cf-token", "pk1_key", "sk1_secret", "he-key",
                   "noip-pw", "aws-secret"):
        assert secret not in text
    ddns = loaded(text)
    assert {n: (d.update.protocol if d.update else None, d.family) for n, d in ddns.items()} == {
        "example.com": ("namecheap", 4), "myhost.duckdns.org": ("duckdns", 0),
        "home.example.org": ("cloudflare", 6), "www.example.net": ("porkbun", 4),
        "vpn.example.io": ("he", 0), "home.ddns.net": ("noip", 0)}
    porkbun = ddns["www.example.net"].update
    assert porkbun is not None and (porkbun.zone, porkbun.ttl) == ("example.net", 600)
    assert "provider 'route53' (aws.example.com) has no netsentinel module" in text
