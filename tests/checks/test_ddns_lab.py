"""ddns in namespaces: nginx as HTTP/HTTPS echo services, dnsmasq as a DNS source, and a
small dyndns2 and Cloudflare API server as the DNS provider the daemon updates."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentinel.atomic import write_atomic
from tests.checks.labkit import Recorder, make_certificates, netns_hosts, peer, start_nginx
from tests.lab import Daemon, Lab, require, wait_for

ECHOES = """
  server {{ listen 10.0.8.1:80; location / {{ return 200 "$remote_addr\\n"; }} }}
  server {{ listen 10.0.8.1:443 ssl; ssl_certificate {dir}/ip.test.crt;
           ssl_certificate_key {dir}/ip.test.key; location / {{ return 200 "$remote_addr\\n"; }} }}
  server {{ listen 10.0.8.2:443 ssl; ssl_certificate {dir}/wrong.test.crt;
           ssl_certificate_key {dir}/wrong.test.key; location / {{ return 200 "$remote_addr"; }} }}"""

CONFIG = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 1
      timeout: 1
      accept_private: true
      sources:
        - {{url: "https://other.test/", ca: {ca}}}
        - {{url: "https://ip.test/", ca: {ca}}}
        - dns: {{name: myip.test, server: 10.0.8.53}}
    plain:
      interval: 1
      timeout: 1
      accept_private: true
      sources: ["http://ip.test/"]
"""


@pytest.fixture
def hosts(lab: Lab) -> Iterator[str]:
    router = lab.netns("r")
    with netns_hosts(router, "10.0.8.1 ip.test\n10.0.8.2 other.test\n"):
        yield router


def test_external_address_follows_http_https_and_dns_sources(lab: Lab, tmp_path: Path,
                                                            hosts: str) -> None:
    require("nginx", "dnsmasq", "openssl")
    router = hosts
    web, wan = peer(lab, router, "w", "10.0.8.10/24", "10.0.8.1/24", "10.0.8.2/24",
                    "10.0.8.53/24")
    ca = make_certificates(tmp_path, ["ip.test", "wrong.test"])
    nginx = start_nginx(lab, web, tmp_path, ECHOES.format(dir=tmp_path))
    names = tmp_path / "names"
    names.write_text("10.0.7.7 myip.test\n")
    dnsmasq = lab.popen(web, ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                              "--no-hosts", f"--addn-hosts={names}", "--listen-address=10.0.8.53",
                              "--bind-interfaces"])
    recorder = Recorder(tmp_path)
    daemon = Daemon(lab, router, tmp_path, CONFIG.format(action=recorder.script, ca=ca)).start()

    def updates(instance: str) -> list[list[str]]:
        return [c[3:] for c in recorder.events("ddns-ip-update") if c[0] == instance]

    wait_for(lambda: updates("ext") == [["10.0.8.10", "unknown"]], what="first address")
    wait_for(lambda: updates("plain") == [["10.0.8.10", "unknown"]], what="plain HTTP address")
    failures = daemon.status()["checks"]["ddns"]["ext"]["failures"]
    assert [f["source"] for f in failures] == ["https://other.test/"]
    assert "DNSMismatch" in failures[0]["reason"]        # wrong hostname: refused

    lab.run(router, "ip", "addr", "del", "10.0.8.10/24", "dev", wan)
    lab.run(router, "ip", "addr", "add", "10.0.8.11/24", "dev", wan)
    wait_for(lambda: updates("ext")[1:] == [["10.0.8.11", "10.0.8.10"]], what="address change")

    os.killpg(nginx.pid, signal.SIGKILL)
    wait_for(lambda: updates("ext")[2:] == [["10.0.7.7", "10.0.8.11"]], what="DNS source")
    names.write_text("10.0.7.8 myip.test\n")
    os.kill(dnsmasq.pid, signal.SIGHUP)
    wait_for(lambda: updates("ext")[3:] == [["10.0.7.8", "10.0.7.7"]], what="DNS answer change")

    os.killpg(dnsmasq.pid, signal.SIGKILL)
    wait_for(lambda: [c for c in recorder.events("ddns-no-update") if c[0] == "ext"],
             what="ddns-no-update")
    assert ["ext", "1", "ddns-no-update"] in recorder.calls()


PROVIDER = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 1
      timeout: 2
      accept_private: true
      sources: [{{interface: {wan}}}]
      state_file: {dir}/external-ip
      update:
        server: "https://dyn.test/nic/update?system=dyndns"
        login: me
        password_file: {dir}/ddns.secret
        hostnames: [home.example.org, vpn.example.org]
        ca: {ca}
        min_interval: 0
"""
PASSWORD = "pw-4f1e9c"


CF_TOKEN = "cf-tok-8d02"


class Provider:
    """The dyndns2 and Cloudflare API stand-in (tests/checks/provider_server.py) in its own
    namespace: the real providers are on the internet, which tests never reach. Its
    Cloudflare zone has home.example.com at 10.0.8.99 and accepts CF_TOKEN."""

    def __init__(self, lab: Lab, ns: str, directory: Path) -> None:
        self.directory = directory / "provider"
        self.directory.mkdir()
        self.set_reply("auto")
        self.set_token(CF_TOKEN)
        (self.directory / "cloudflare_records.json").write_text(
            json.dumps({"home.example.com": ["rec-1", "10.0.8.99"]}))
        ca = make_certificates(self.directory, ["dyn.test"])
        self.ca = ca
        lab.popen(ns, [sys.executable, str(Path(__file__).with_name("provider_server.py")),
                       "10.0.8.3", str(self.directory / "dyn.test.crt"),
                       str(self.directory / "dyn.test.key"), str(self.directory)])
        wait_for((self.directory / "ready").exists, what="provider server listening")

    def set_reply(self, word: str) -> None:
        # replaced, not rewritten in place: a request at that moment must not read it empty
        write_atomic(str(self.directory / "reply"), word.encode())

    def set_token(self, token: str) -> None:
        """The API token the Cloudflare side accepts (another one: 403, error 9109)."""
        write_atomic(str(self.directory / "token"), f"{token}\n".encode())

    def requests(self) -> list[dict[str, Any]]:
        log = self.directory / "requests.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def provider_lab(lab: Lab, tmp_path: Path) -> Iterator[tuple[str, str, Provider, Recorder]]:
    """The router with its WAN address 10.0.8.10, the provider at dyn.test, a recorder,
    and the password file (mode 0600) the config names."""
    require("openssl")
    router = lab.netns("r")
    web, wan = peer(lab, router, "w", "10.0.8.10/24", "10.0.8.3/24")
    secret = tmp_path / "ddns.secret"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    with netns_hosts(router, "10.0.8.3 dyn.test\n"):
        yield router, wan, Provider(lab, web, tmp_path), Recorder(tmp_path)


def provider_config(tmp_path: Path, wan: str, provider: Provider, recorder: Recorder) -> str:
    return PROVIDER.format(action=recorder.script, wan=wan, dir=tmp_path, ca=provider.ca)


def renumber(lab: Lab, router: str, wan: str, old: str, new: str) -> None:
    """Deleted first: deleting a primary address takes its secondaries with it."""
    lab.run(router, "ip", "addr", "del", f"{old}/24", "dev", wan)
    lab.run(router, "ip", "addr", "add", f"{new}/24", "dev", wan)


def test_provider_is_updated_on_change_and_not_again_after_a_restart(
        lab: Lab, tmp_path: Path, provider_lab: tuple[str, str, Provider, Recorder]) -> None:
    """The provider is a stand-in (a dyndns2 server in a namespace): real ones are on the
    internet. It sees the daemon's real HTTPS request: credentials, host names, myip."""
    router, wan, provider, recorder = provider_lab
    daemon = Daemon(lab, router, tmp_path, provider_config(tmp_path, wan, provider, recorder))
    daemon.start()
    hosts = "home.example.org,vpn.example.org"
    wait_for(lambda: recorder.events("ddns-provider-updated") == [
        ["ext", "1", "ddns-provider-updated", "10.0.8.10", hosts]], what="first update")
    [first] = provider.requests()
    assert first["path"] == "/nic/update" and first["credentials"] == f"me:{PASSWORD}"
    assert first["query"] == {"system": "dyndns", "hostname": hosts, "myip": "10.0.8.10"}
    assert first["user_agent"].startswith("netsentinel/")
    state = daemon.status()["checks"]["ddns"]["ext"]["provider"]
    assert state["state"] == "ok" and state["address"] == "10.0.8.10"
    assert {h: s["result"] for h, s in state["hosts"].items()} == {
        "home.example.org": "good", "vpn.example.org": "good"}

    provider.set_reply("nochg")
    renumber(lab, router, wan, "10.0.8.10", "10.0.8.11")
    wait_for(lambda: recorder.events("ddns-provider-updated")[1:] == [
        ["ext", "1", "ddns-provider-updated", "10.0.8.11", hosts]], what="update on change")
    assert [r["query"]["myip"] for r in provider.requests()] == ["10.0.8.10", "10.0.8.11"]
    state = daemon.status()["checks"]["ddns"]["ext"]["provider"]
    assert state["hosts"]["home.example.org"]["result"] == "nochg"
    assert state["address"] == "10.0.8.11"
    daemon.stop()

    again = Daemon(lab, router, tmp_path, provider_config(tmp_path, wan, provider, recorder))
    again.start()
    wait_for(lambda: again.status()["checks"]["ddns"]["ext"]["checked_at"], what="a check")
    state = again.status()["checks"]["ddns"]["ext"]["provider"]
    assert state["state"] == "ok" and state["requests"] == 0   # the state file said so
    assert len(provider.requests()) == 2
    assert PASSWORD not in again.output() and PASSWORD not in json.dumps(again.status())


def test_badauth_stops_updates_until_the_address_or_the_config_changes(
        lab: Lab, tmp_path: Path, provider_lab: tuple[str, str, Provider, Recorder]) -> None:
    """The provider is a stand-in (a dyndns2 server in a namespace) that counts requests:
    after badauth, checks go on every second but no request reaches it until the address
    changes or a reload brings a new password; then 911 is retried later."""
    router, wan, provider, recorder = provider_lab
    provider.set_reply("badauth")
    daemon = Daemon(lab, router, tmp_path, provider_config(tmp_path, wan, provider, recorder))
    daemon.start()
    wait_for(lambda: recorder.events("ddns-provider-error") == [
        ["ext", "1", "ddns-provider-error", "badauth"]], what="badauth")

    def ext() -> dict[str, Any]:
        return daemon.status()["checks"]["ddns"]["ext"]  # type: ignore[no-any-return]

    refused = ext()
    assert refused["provider"]["state"] == "failed"
    assert refused["provider"]["next_attempt"] is None
    wait_for(lambda: ext()["checked_at"] >= refused["checked_at"] + 3, what="three more checks")
    assert len(provider.requests()) == 1
    assert "badauth" in daemon.output() and "the login or password is wrong" in daemon.output()

    renumber(lab, router, wan, "10.0.8.10", "10.0.8.12")      # a new address: one more try
    wait_for(lambda: len(recorder.events("ddns-provider-error")) == 2, what="second badauth")
    assert [r["query"]["myip"] for r in provider.requests()] == ["10.0.8.10", "10.0.8.12"]

    (tmp_path / "ddns.secret").write_text("n3w-7c2a\n")     # a reload with the new password
    provider.set_reply("911")
    assert daemon.ctl("reload") == "OK: reloaded (changed: checks)"
    wait_for(lambda: recorder.events("ddns-provider-retry"), what="911")
    assert recorder.events("ddns-provider-retry") == [
        ["ext", "1", "ddns-provider-retry", "911", "300"]]
    assert [r["credentials"] for r in provider.requests()] == ["me:" + PASSWORD] * 2 + [
        "me:n3w-7c2a"]
    retrying = ext()["provider"]
    assert retrying["state"] == "retrying"
    assert retrying["next_attempt"] == pytest.approx(retrying["last_attempt"] + 300, abs=1)
    assert PASSWORD not in daemon.output() and "n3w-7c2a" not in daemon.output()


CLOUDFLARE = """
checks:
  action: {action}
  ddns:
    ext:
      interval: 1
      timeout: 2
      accept_private: true
      sources: [{{interface: {wan}}}]
      update:
        protocol: cloudflare
        server: "https://dyn.test/client/v4"
        zone: example.com
        token_file: {dir}/cloudflare.token
        hostnames: [home.example.com]
        ca: {ca}
        min_interval: 0
"""


def test_cloudflare_record_is_patched_then_left_and_a_refused_token_stops_updates(
        lab: Lab, tmp_path: Path, provider_lab: tuple[str, str, Provider, Recorder]) -> None:
    """The API is a stand-in (Cloudflare's v4 API in tests/checks/provider_server.py, in a
    namespace): the real one is on the internet and needs an account. It sees the
    daemon's real HTTPS requests: the bearer token, the zone and record lookups, the
    PATCH body; after a 403 no request reaches it though checks go on."""
    router, wan, provider, recorder = provider_lab
    token = tmp_path / "cloudflare.token"
    token.write_text(CF_TOKEN + "\n")
    token.chmod(0o600)
    config = CLOUDFLARE.format(action=recorder.script, wan=wan, dir=tmp_path, ca=provider.ca)
    daemon = Daemon(lab, router, tmp_path, config).start()
    wait_for(lambda: recorder.events("ddns-provider-updated") == [
        ["ext", "1", "ddns-provider-updated", "10.0.8.10", "home.example.com"]],
        what="first update")
    records = "/client/v4/zones/zone-1/dns_records"
    lookup = ("GET", records, {"type": "A", "name": "home.example.com"}, None)
    assert [(r["method"], r["path"], r["query"], r["body"]) for r in provider.requests()] == [
        ("GET", "/client/v4/zones", {"name": "example.com"}, None), lookup,
        ("PATCH", f"{records}/rec-1", {}, {"content": "10.0.8.10"})]
    assert {r["token"] for r in provider.requests()} == {CF_TOKEN}

    def host(d: Daemon) -> dict[str, Any]:
        hosts = d.status()["checks"]["ddns"]["ext"]["provider"]["hosts"]
        return hosts["home.example.com"]  # type: ignore[no-any-return]

    assert host(daemon)["result"] == "good" and host(daemon)["address"] == "10.0.8.10"
    daemon.stop()

    again = Daemon(lab, router, tmp_path, config).start()  # no state file: it asks again
    wait_for(lambda: len(recorder.events("ddns-provider-updated")) == 2, what="a second update")
    assert host(again)["result"] == "nochg"
    assert [(r["method"], r["path"]) for r in provider.requests()[3:]] == [
        ("GET", "/client/v4/zones"), ("GET", records)]             # no PATCH

    provider.set_token("someone-else")                            # the token was revoked
    renumber(lab, router, wan, "10.0.8.10", "10.0.8.11")
    wait_for(lambda: recorder.events("ddns-provider-error") == [
        ["ext", "1", "ddns-provider-error", "badauth"]], what="badauth")
    sent = provider.requests()
    assert sent[5:] == [dict(sent[5], method="GET", path=records)]  # the zone id remembered
    checked = again.status()["checks"]["ddns"]["ext"]["checked_at"]
    wait_for(lambda: again.status()["checks"]["ddns"]["ext"]["checked_at"] >= checked + 3,
             what="three more checks")
    assert len(provider.requests()) == len(sent)
    assert again.status()["checks"]["ddns"]["ext"]["provider"]["state"] == "failed"
    assert "9109: Invalid access token" in again.output()
    assert CF_TOKEN not in again.output() and CF_TOKEN not in json.dumps(again.status())
