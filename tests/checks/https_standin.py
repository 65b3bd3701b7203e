"""What the HTTPS provider stand-ins share: the request read and logged, replies, serving.

A stand-in is run as ``python STANDIN.py ADDRESS CERT KEY DIRECTORY``; its handler
subclasses ``StandinHandler``, names the HTTP methods it answers (``do_X = answer``),
says which fields of a ``Request`` it logs (``log_fields``) and answers in ``respond``.
Every request is appended to DIRECTORY/requests.jsonl before it is answered;
DIRECTORY/ready appears once the socket listens.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str                 # the header as sent ("" when absent)
    body: Any                          # the JSON body, or None

    @property
    def basic(self) -> str | None:
        """``login:password`` of basic auth."""
        auth = self.authorization
        return base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else None

    @property
    def bearer(self) -> str | None:
        auth = self.authorization
        return auth[7:] if auth.startswith("Bearer ") else None


class StandinHandler(BaseHTTPRequestHandler):
    directory = Path(".")              # set by serve()

    def answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Request(self.command, url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                          self.headers.get("Authorization", ""), json.loads(raw) if raw else None)
        with open(self.directory / "requests.jsonl", "a") as f:
            f.write(json.dumps(self.log_fields(request)) + "\n")
        self.respond(request)

    def log_fields(self, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    def respond(self, request: Request) -> None:
        raise NotImplementedError

    def reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(handler: type[StandinHandler], argv: list[str] = sys.argv) -> None:
    """``ADDRESS CERT KEY DIRECTORY`` from the command line: listen on ADDRESS:443."""
    address, cert, key, directory = argv[1], argv[2], argv[3], Path(argv[4])
    handler.directory = directory
    server = HTTPServer((address, 443), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    (directory / "ready").touch()
    server.serve_forever()
