"""A small dyndns2 provider for the lab: HTTPS, basic auth, one reply line per host name.

Run as ``python dyndns2_server.py ADDRESS CERT KEY DIRECTORY``. Every request is
appended to DIRECTORY/requests.jsonl (path, query, decoded credentials, user
agent); DIRECTORY/reply holds the word to answer: ``auto`` (good for a host
whose address changes, nochg otherwise, as a real provider), or any dyndns2
word (badauth, 911, ...) answered once for the whole request. DIRECTORY/ready
appears once the socket listens.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ADDRESS, CERT, KEY, DIRECTORY = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
records: dict[str, str] = {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = self.headers.get("Authorization", "")
        credentials = (base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ")
                       else None)
        with open(DIRECTORY / "requests.jsonl", "a") as f:
            f.write(json.dumps({"path": url.path, "query": query, "credentials": credentials,
                                "user_agent": self.headers.get("User-Agent")}) + "\n")
        word = (DIRECTORY / "reply").read_text().strip()
        hosts = query.get("hostname", "").split(",")
        address = query.get("myip", "")
        if word != "auto":
            lines = [word]
        else:
            lines = [f"{'nochg' if records.get(h) == address else 'good'} {address}"
                     for h in hosts]
            records.update(dict.fromkeys(hosts, address))
        body = "".join(f"{line}\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
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
