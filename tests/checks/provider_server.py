"""A small DNS provider for the lab, over HTTPS: dyndns2 and Cloudflare's API v4.

Run as ``python provider_server.py ADDRESS CERT KEY DIRECTORY``. Every request is
appended to DIRECTORY/requests.jsonl (method, path, query, decoded basic-auth
credentials, bearer token, user agent, JSON body).

dyndns2 (``GET /nic/update``): DIRECTORY/reply holds the word to answer: ``auto``
(good for a host whose address changes, nochg otherwise, as a real provider), or
any dyndns2 word (badauth, 911, ...) answered once for the whole request.

Cloudflare (paths under ``/client/v4``): zone ``example.com`` (id ``zone-1``)
with the A records of cloudflare_records.json (host: [id, content]) if present;
a bearer token other than DIRECTORY/token's first line gets 403 with error 9109,
as the real API answers a revoked token.

DIRECTORY/ready appears once the socket listens.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))    # run as a script

from tests.checks.https_standin import Request, StandinHandler, serve  # noqa: E402

DIRECTORY = Path(sys.argv[4])
API = "/client/v4"
ZONES = {"example.com": "zone-1"}
records: dict[str, str] = {}
cloudflare: dict[str, list[str]] = {}    # host: [record id, content]
if (DIRECTORY / "cloudflare_records.json").exists():
    cloudflare = json.loads((DIRECTORY / "cloudflare_records.json").read_text())


class Handler(StandinHandler):
    do_GET = do_PATCH = StandinHandler.answer

    def log_fields(self, request: Request) -> dict[str, Any]:
        return {"method": request.method, "path": request.path, "query": request.query,
                "credentials": request.basic, "token": request.bearer, "body": request.body,
                "user_agent": self.headers.get("User-Agent")}

    def respond(self, request: Request) -> None:
        if request.path.startswith(API):
            self.cloudflare(request.path[len(API):], request.query, request.bearer, request.body)
        else:
            self.dyndns2(request.query)

    def dyndns2(self, query: dict[str, str]) -> None:
        word = (DIRECTORY / "reply").read_text().strip()
        hosts = query.get("hostname", "").split(",")
        address = query.get("myip", "")
        if word != "auto":
            lines = [word]
        else:
            lines = [f"{'nochg' if records.get(h) == address else 'good'} {address}"
                     for h in hosts]
            records.update(dict.fromkeys(hosts, address))
        self.reply(200, "".join(f"{line}\n" for line in lines).encode(), "text/plain")

    def cloudflare(self, path: str, query: dict[str, str], token: str | None,
                   body: Any) -> None:
        if token != (DIRECTORY / "token").read_text().splitlines()[0]:
            return self.api(403, None, [{"code": 9109, "message": "Invalid access token"}])
        if path == "/zones":
            name = query.get("name", "")
            found = [{"id": ZONES[name], "name": name}] if name in ZONES else []
            return self.api(200, found)
        match = re.fullmatch(r"/zones/zone-1/dns_records(?:/([^/]+))?", path)
        if match is None:
            return self.api(404, None, [{"code": 7003, "message": "Could not route"}])
        if match[1] is None:
            found = [{"id": rid, "type": "A", "name": host, "content": content}
                     for host, (rid, content) in cloudflare.items()
                     if host == query.get("name") and query.get("type") == "A"]
            return self.api(200, found)
        for host, record in cloudflare.items():
            if record[0] == match[1] and self.command == "PATCH":
                record[1] = body["content"]
                return self.api(200, {"id": record[0], "name": host, "content": record[1]})
        return self.api(404, None, [{"code": 81044, "message": "Record does not exist."}])

    def api(self, status: int, result: Any, errors: list[dict[str, Any]] | None = None) -> None:
        reply = {"success": not errors, "errors": errors or [], "messages": [],
                 "result": result}
        self.reply(status, json.dumps(reply).encode(), "application/json")


serve(Handler)
