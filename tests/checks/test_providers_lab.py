"""Each provider module against a stand-in of the provider's documented API, over HTTPS
with a test CA, in a namespace (the real providers are on the internet, which tests
never reach). The stand-in (provider_standin.py) answers in the provider's dialect and
decides by host name, so one run replays every documented outcome; the driver
(provider_driver.py) parses the ``update:`` as a user's config and sends from the
router namespace with the real reactor."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentinel.checks.providers import SPECS
from tests.checks.labkit import make_certificates, netns_hosts, peer
from tests.lab import Lab, require, wait_for

HERE = Path(__file__).parent
P, T, OK = "permanent", "temporary", "ok"
V4, V4B, V6 = "10.0.8.10", "10.0.8.11", "fd00:8::10"
BASE = "https://dyn.test"
SECRET = "s3cret"
SCENARIOS = ("first", "repeat", "both", "gone", "abuse", "busy", "slow", "dual", "badauth")


def dyndns2_like(protocol: str, path: str, query: str = "") -> dict[str, Any]:
    return {"protocol": protocol, "server": f"{BASE}{path}{query}", "password": SECRET}


# per protocol: its update: keys (the secret inline; files are config tests' business)
# and, per scenario, the (code, kind) it must give (None: the scenario does not apply)
DYNDNS2 = {"gone": ("nohost", P), "abuse": ("abuse", P), "busy": ("911", T),
           "slow": ("http 429", T), "badauth": ("badauth", P), "repeat": ("nochg", OK)}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "dyndns2": ({**dyndns2_like("dyndns2", "/nic/update"), "login": "me"}, DYNDNS2),
    "he": (dyndns2_like("he", "/nic/update", "?as=he"), {**DYNDNS2, "both": None}),
    "desec": (dyndns2_like("desec", "/nic/update", "?as=desec"), DYNDNS2),
    "duckdns": ({"protocol": "duckdns", "server": f"{BASE}/duckdns/update", "token": SECRET},
                {"gone": ("badauth", P), "abuse": ("badauth", P), "busy": ("http 502", T),
                 "slow": ("http 429", T), "badauth": ("badauth", P), "repeat": ("nochg", OK)}),
    "freedns": ({"protocol": "freedns", "server": f"{BASE}/u/", "token": "tok-home"},
                {"both": None, "gone": None, "abuse": None, "busy": None, "slow": None,
                 "badauth": ("badauth", P), "repeat": ("nochg", OK)}),
    "namecheap": ({"protocol": "namecheap", "server": f"{BASE}/namecheap/update",
                   "zone": "example.org", "password": SECRET},
                  {"gone": ("nohost", P), "abuse": ("nohost", P), "busy": ("http 500", T),
                   "slow": ("http 429", T), "badauth": ("badauth", P), "dual": None,
                   "repeat": ("good", OK)}),
    "porkbun": ({"protocol": "porkbun", "server": f"{BASE}/api/json/v3", "zone": "example.org",
                 "login": "pk1_me", "password": SECRET},
                {"gone": ("nohost", P), "abuse": ("nohost", P), "busy": ("http 503", T),
                 "slow": ("http 429", T), "badauth": ("badauth", P), "repeat": ("nochg", OK)}),
    "gandi": ({"protocol": "gandi", "server": f"{BASE}/v5/livedns", "zone": "example.org",
               "token": SECRET},
              {"gone": ("nohost", P), "abuse": ("nohost", P), "busy": ("http 503", T),
               "slow": ("http 429", T), "badauth": ("badauth", P), "repeat": ("nochg", OK)}),
    "custom": ({"protocol": "custom", "server": f"{BASE}/custom?host={{host}}&ip={{ip}}",
                "header": "X-Api-Key", "password": SECRET, "success": "OK"},
               {"gone": ("unexpected", P), "abuse": ("unexpected", P),
                "busy": ("http 503", T), "slow": ("http 429", T), "badauth": ("badauth", P),
                "repeat": ("good", OK)}),
}


def scenario(name: str, update: dict[str, Any]) -> dict[str, Any]:
    hosts = {"both": ["home.example.org", "vpn.example.org"], "gone": ["gone.example.org"],
             "abuse": ["abuse.example.org"], "busy": ["busy.example.org"],
             "slow": ["slow.example.org"]}.get(name, ["home.example.org"])
    address = {"both": V4B, "dual": f"{V4B},{V6}"}.get(name, V4)
    if name == "badauth":
        secret = next(k for k in ("password", "token") if k in update)
        update = {**update, secret: "wrong"}
    return {"update": {**update, "hostnames": hosts}, "hosts": hosts, "address": address}


class Standin:
    def __init__(self, lab: Lab, ns: str, directory: Path) -> None:
        self.directory = directory
        self.ca = make_certificates(directory, ["dyn.test"])
        lab.popen(ns, [sys.executable, str(HERE / "provider_standin.py"), "10.0.8.3",
                       str(directory / "dyn.test.crt"), str(directory / "dyn.test.key"),
                       str(directory)])
        wait_for((directory / "ready").exists, what="stand-in listening")

    def requests(self) -> list[dict[str, Any]]:
        log = self.directory / "requests.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def standin(lab: Lab, tmp_path: Path) -> Iterator[tuple[str, Standin]]:
    require("openssl")
    router = lab.netns("r")
    web, _ = peer(lab, router, "w", f"{V4}/24", "10.0.8.3/24")
    with netns_hosts(router, "10.0.8.3 dyn.test\n"):
        yield router, Standin(lab, web, tmp_path)


def drive(lab: Lab, router: str, standin: Standin, cases: list[dict[str, Any]]) -> list[Any]:
    for case in cases:
        case["update"]["ca"] = str(standin.ca)
        case["update"]["min_interval"] = 0
    path = standin.directory / "cases.json"
    path.write_text(json.dumps(cases))
    out = lab.run(router, sys.executable, str(HERE / "provider_driver.py"), str(path)).stdout
    return json.loads(out.decode().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", sorted(CASES))
def test_provider_gives_each_documented_outcome(lab: Lab, standin: tuple[str, Standin],
                                                protocol: str) -> None:
    router, server = standin
    update, expected = CASES[protocol]
    names = [n for n in SCENARIOS if expected.get(n, ()) is not None]
    results = drive(lab, router, server, [scenario(n, update) for n in names])
    got = {n: {(code, kind) for _, code, kind in r} for n, r in zip(names, results, strict=True)}
    assert got["first"] == {("good", OK)}
    for name in names[1:]:
        want = expected.get(name, ("good", OK))
        assert got[name] == {want}, f"{protocol} {name}: {results[names.index(name)]}"
    assert all(SECRET not in json.dumps(r) for r in results)


def test_requests_have_each_providers_documented_shape(lab: Lab,
                                                       standin: tuple[str, Standin]) -> None:
    router, server = standin
    protocols = ["dyndns2", "duckdns", "namecheap", "porkbun", "gandi", "custom", "he"]
    cases = [scenario("dual" if p == "duckdns" else "first", CASES[p][0]) for p in protocols]
    for n, case in enumerate(cases):      # a new address each: the stand-in shares records
        case["address"] = case["address"].replace(V4, f"10.0.8.{20 + n}")
    drive(lab, router, server, cases)
    sent = server.requests()
    dyndns2, duck, namecheap, pork_get, pork_edit, gandi_get, gandi_put, custom, he = sent
    assert dyndns2["basic"] == f"me:{SECRET}" and dyndns2["query"] == {
        "hostname": "home.example.org", "myip": "10.0.8.20"}
    assert duck["query"] == {"domains": "home.example.org", "token": SECRET, "ip": V4B,
                             "ipv6": V6, "verbose": "true"}       # both families at once
    assert namecheap["query"] == {"host": "home", "domain": "example.org",
                                  "password": SECRET, "ip": "10.0.8.22"}
    assert (pork_get["method"], pork_get["path"]) == (
        "POST", "/api/json/v3/dns/retrieveByNameType/example.org/A/home")
    assert pork_edit["body"] == {"apikey": "pk1_me", "secretapikey": SECRET,
                                 "content": "10.0.8.23"}
    assert (gandi_get["method"], gandi_put["method"]) == ("GET", "PUT")
    assert gandi_put["path"] == "/v5/livedns/domains/example.org/records/home/A"
    assert gandi_put["body"] == {"rrset_values": ["10.0.8.24"], "rrset_ttl": 300}
    assert gandi_put["authorization"] == f"Bearer {SECRET}"
    assert custom["api_key"] == SECRET and custom["query"] == {"host": "home.example.org",
                                                                "ip": "10.0.8.25"}
    assert he["basic"] == f"home.example.org:{SECRET}"
    assert all(r["user_agent"].startswith("netsentinel/") for r in sent)


def test_every_preset_posts_to_its_providers_path(lab: Lab,
                                                  standin: tuple[str, Standin]) -> None:
    """Each dyndns2 preset's default URL, moved to the stand-in's host, is a dyndns2
    endpoint that takes the update (the path and query are the preset's own)."""
    router, server = standin
    presets = [s for s in SPECS.values() if s.module.endswith("presets")]
    cases = []
    for spec in presets:
        assert spec.server is not None
        path = spec.server.split("/", 3)[3]
        query = "&as=" if "?" in path else "?as="
        update = {"protocol": spec.name, "server": f"{BASE}/{path}{query}{spec.name}",
                  "password": SECRET}
        if spec.login == "required":
            update["login"] = "me"
        cases.append(scenario("first", update))
    results = drive(lab, router, server, cases)
    assert [r[0][1:] for r in results] == [["good", OK]] + [["nochg", OK]] * (len(presets) - 1)
    assert [r["path"] for r in server.requests()] == [
        "/" + (s.server or "").split("/", 3)[3].split("?")[0] for s in presets]
