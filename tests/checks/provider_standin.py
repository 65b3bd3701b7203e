"""Stand-ins for the DNS providers' update APIs, over HTTPS, for the lab tests.

Run as ``python provider_standin.py ADDRESS CERT KEY DIRECTORY``. One zone,
``example.org``, and one account, answered in each provider's own dialect as its
documentation shows (paths, auth, reply bodies and statuses). What a request meets
depends on the host it names, so one run replays every documented outcome:

- ``home.example.org``, ``vpn.example.org``: exist; good on a new address, else nochg;
- ``gone.example.org``: no such host (nohost, KO, "record not Found", empty list, 404);
- ``abuse.example.org``: blocked for abuse; ``busy.example.org``: the provider fails
  (911 or a 5xx); ``slow.example.org``: rate limited (429);
- any secret but ``SECRET`` (``tok-home`` is FreeDNS's per-host token of home): badauth.

Every request is appended to DIRECTORY/requests.jsonl (with ``at``, when it arrived); DIRECTORY/ready appears
once the socket listens.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))    # run as a script

from tests.checks.https_standin import Request, StandinHandler, serve  # noqa: E402

SECRET, LOGIN, API_KEY, ZONE = "s3cret", "me", "pk1_me", "example.org"
EXISTING = {"home.example.org", "vpn.example.org", "home.duckdns.org"}
FREEDNS_TOKENS = {"tok-home": "home.example.org"}
records: dict[tuple[str, str], str] = {}       # (host, A/AAAA): address


def kind_of(address: str) -> str:
    return "AAAA" if ":" in address else "A"


def outcome(host: str) -> str:
    """What the account says about ``host``: ok, gone, abuse, busy or slow."""
    if host in EXISTING:
        return "ok"
    return {"gone": "gone", "abuse": "abuse", "busy": "busy", "slow": "slow"}.get(
        host.split(".")[0], "gone")


def set_record(host: str, address: str) -> bool:
    """True if it changed."""
    key = (host, kind_of(address))
    changed = records.get(key) != address
    records[key] = address
    return changed


class Handler(StandinHandler):
    do_GET = do_POST = do_PUT = StandinHandler.answer

    def log_fields(self, request: Request) -> dict[str, Any]:
        return {"method": request.method, "path": request.path, "query": request.query,
                "basic": request.basic, "authorization": request.authorization or None,
                "body": request.body, "api_key": self.headers.get("X-Api-Key"),
                "user_agent": self.headers.get("User-Agent"), "at": time.time()}

    def respond(self, request: Request) -> None:
        for prefix, handler in ROUTES:
            if request.path.startswith(prefix):
                return handler(self, request.path[len(prefix):], request.query, request.basic,
                               request.authorization, request.body)
        return self.reply(404, b"no such API\n")

    # -- dyndns2 and its presets: one line per host, in order
    def dyndns2(self, path: str, q: dict[str, str], basic: str | None, auth: str,
                body: Any) -> None:
        hosts, myip = q.get("hostname", "").split(","), q.get("myip", "")
        login, _, password = (basic or "").partition(":")
        # which preset is asking: the test adds ``as=`` to the server URL's query
        expected = hosts[0] if q.get("as") in ("he", "desec") else LOGIN
        if password != SECRET or login != expected:
            return self.reply(401, b"badauth\n")
        lines = []
        for host in hosts:
            found = outcome(host)
            if found == "slow":
                return self.reply(429, b"")
            word = {"gone": "nohost", "abuse": "abuse", "busy": "911"}.get(found)
            if word is None:
                changed = [set_record(host, a) for a in myip.split(",")]
                word = f"{'good' if any(changed) else 'nochg'} {myip}"
            lines.append(word)
        return self.reply(200, "".join(f"{line}\n" for line in lines).encode())

    # -- DuckDNS: OK/KO, verbose adds the addresses and UPDATED/NOCHANGE
    def duckdns(self, path: str, q: dict[str, str], basic: str | None, auth: str,
                body: Any) -> None:
        hosts = [d if "." in d else f"{d}.duckdns.org"
                 for d in q.get("domains", "").split(",")]
        if q.get("token") != SECRET or any(outcome(h) in ("gone", "abuse") for h in hosts):
            return self.reply(200, b"KO")
        if any(outcome(h) == "busy" for h in hosts):
            return self.reply(502, b"<html>Bad Gateway</html>")
        if any(outcome(h) == "slow" for h in hosts):
            return self.reply(429, b"")
        addresses = [a for a in (q.get("ip"), q.get("ipv6")) if a]
        changed = any([set_record(h, a) for h in hosts for a in addresses])
        text = f"OK\n{q.get('ip', '')}\n{q.get('ipv6', '')}\n{'UPDATED' if changed else 'NOCHANGE'}"
        return self.reply(200, text.encode())

    # -- FreeDNS v2: the token in the path names the host
    def freedns(self, path: str, q: dict[str, str], basic: str | None, auth: str,
                body: Any) -> None:
        host = FREEDNS_TOKENS.get(path.strip("/"))
        address = q.get("address", "")
        if host is None:
            return self.reply(200, b"ERROR: Unable to locate this record (changed password "
                              b"recently? deleted? not yours?)\n")
        if not set_record(host, address):
            return self.reply(200, f"No IP change detected for {host} with IP {address}, "
                              "skipping update\n".encode())
        return self.reply(200, f"Updated 1 host(s) {host} to {address} in 0.14 seconds\n"
                          .encode())

    # -- Namecheap: interface-response XML with ErrCount
    def namecheap(self, path: str, q: dict[str, str], basic: str | None, auth: str,
                  body: Any) -> None:
        host = q.get("host", "")
        host = q.get("domain", "") if host == "@" else f"{host}.{q.get('domain', '')}"
        found = outcome(host)
        if found == "busy":
            return self.reply(500, b"<html>Server Error</html>")
        if found == "slow":
            return self.reply(429, b"")
        error = ("Passwords do not match" if q.get("password") != SECRET else
                 "No Records updated. A record not Found;" if found != "ok" else None)
        if error is None:
            set_record(host, q.get("ip", ""))
        errors = f"<errors><Err1>{error}</Err1></errors>" if error else "<errors />"
        xml = ('<?xml version="1.0" encoding="utf-16"?>\r\n<interface-response>'
               f"<Command>SETDNSHOST</Command><Language>eng</Language><IP>{q.get('ip')}</IP>"
               f"<ErrCount>{1 if error else 0}</ErrCount>{errors}<ResponseCount>0"
               "</ResponseCount><responses /><Done>true</Done><debug><![CDATA[]]></debug>"
               "</interface-response>")
        return self.reply(200, xml.encode())

    # -- Porkbun JSON API v3
    def porkbun(self, path: str, q: dict[str, str], basic: str | None, auth: str,
                body: Any) -> None:
        match = re.fullmatch(r"/dns/(retrieveByNameType|editByNameType)/([^/]+)/(A|AAAA)/(.*)",
                             path)
        if not isinstance(body, dict) or match is None:
            return self.json(400, {"status": "ERROR", "message": "Invalid request."})
        if body.get("apikey") != API_KEY or body.get("secretapikey") != SECRET:
            return self.json(400, {"status": "ERROR", "message": "Invalid API key. (002)"})
        action, zone, kind, sub = match.groups()
        host = f"{sub}.{zone}" if sub else zone
        found = outcome(host)
        if found == "busy":
            return self.reply(503, b"<html>Service Unavailable</html>")
        if found == "slow":
            return self.json(429, {"status": "ERROR", "message": "Rate limit exceeded."})
        if action == "retrieveByNameType":
            have = records.get((host, kind), "192.0.2.1") if found == "ok" else None
            listed = [{"id": "1", "name": host, "type": kind, "content": have, "ttl": "600"}]
            return self.json(200, {"status": "SUCCESS", "records": listed if have else []})
        set_record(host, body.get("content", ""))
        return self.json(200, {"status": "SUCCESS"})

    # -- Gandi LiveDNS v5
    def gandi(self, path: str, q: dict[str, str], basic: str | None, auth: str,
              body: Any) -> None:
        match = re.fullmatch(r"/domains/([^/]+)/records/([^/]+)/(A|AAAA)", path)
        if auth != f"Bearer {SECRET}":
            return self.json(401, {"code": 401, "message": "The server could not verify "
                                   "that you are authorized to access the document requested.",
                                   "object": "HTTPUnauthorized", "cause": "Unauthorized"})
        if match is None:
            return self.json(404, {"code": 404, "message": "Not Found", "cause": "Not Found"})
        zone, name, kind = match.groups()
        host = zone if name == "@" else f"{name}.{zone}"
        found = outcome(host)
        if found in ("gone", "abuse"):
            return self.json(404, {"code": 404, "message": "Can't find the DNS record "
                                   f"{name}/{kind} in the zone", "object": "dns-record",
                                   "cause": "Not Found"})
        if found in ("busy", "slow"):
            return self.json(503 if found == "busy" else 429,
                             {"code": 503, "message": "Try again later"})
        if self.command == "GET":
            have = records.get((host, kind))
            if have is None:
                return self.json(404, {"code": 404, "message": "Not Found"})
            return self.json(200, {"rrset_name": name, "rrset_type": kind, "rrset_ttl": 300,
                                   "rrset_values": [have]})
        set_record(host, body["rrset_values"][0])
        return self.json(201, {"message": "DNS Record Created"})

    # -- a provider reached through the URL template: X-Api-Key, "OK" or "ERR ..."
    def custom(self, path: str, q: dict[str, str], basic: str | None, auth: str,
               body: Any) -> None:
        if self.headers.get("X-Api-Key") != SECRET:
            return self.reply(403, b"ERR forbidden\n")
        found = outcome(q.get("host", ""))
        if found in ("busy", "slow"):
            return self.reply(503 if found == "busy" else 429, b"ERR later\n")
        if found != "ok":
            return self.reply(200, b"ERR no such host\n")
        set_record(q["host"], q.get("ip", ""))
        return self.reply(200, b"OK updated\n")

    def json(self, status: int, value: Any) -> None:
        self.reply(status, json.dumps(value).encode(), "application/json")


ROUTES = [("/nic/update", Handler.dyndns2), ("/upd.php", Handler.dyndns2),
          ("/dyn/dyndns.php", Handler.dyndns2), ("/duckdns/update", Handler.duckdns),
          ("/u", Handler.freedns), ("/namecheap/update", Handler.namecheap),
          ("/api/json/v3", Handler.porkbun), ("/v5/livedns", Handler.gandi),
          ("/custom", Handler.custom)]

if __name__ == "__main__":
    serve(Handler)
