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

import base64
import json
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADDRESS, CERT, KEY, DIRECTORY = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
API = "/client/v4"
ZONES = {"example.com": "zone-1"}
records: dict[str, str] = {}
cloudflare: dict[str, list[str]] = {}    # host: [record id, content]
if (DIRECTORY / "cloudflare_records.json").exists():
    cloudflare = json.loads((DIRECTORY / "cloudflare_records.json").read_text())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.handle_request()

    def do_PATCH(self) -> None:
        self.handle_request()

    def handle_request(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = self.headers.get("Authorization", "")
        credentials = (base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ")
                       else None)
        token = auth[7:] if auth.startswith("Bearer ") else None
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        with open(DIRECTORY / "requests.jsonl", "a") as f:
            f.write(json.dumps({"method": self.command, "path": url.path, "query": query,
                                "credentials": credentials, "token": token, "body": body,
                                "user_agent": self.headers.get("User-Agent")}) + "\n")
        if url.path.startswith(API):
            self.cloudflare(url.path[len(API):], query, token, body)
        else:
            self.dyndns2(query)

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

    def reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


server = HTTPServer((ADDRESS, 443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
(DIRECTORY / "ready").touch()
server.serve_forever()
