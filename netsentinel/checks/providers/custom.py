"""A URL template for providers without a module: one request per host name.

``server`` is the URL with ``{host}``, ``{ip}`` and (if the provider wants the secret
in the URL) ``{password}``, each URL-quoted; the secret may go instead in basic auth
(``login``) or a header (``header: X-Api-Key``). Success is ``success:``: a word
the reply contains, or an HTTP status; without it any 2xx. A 401/403 is badauth and
stops updates, 429 and 5xx are retried later, another failure is permanent.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    HostResult,
    call,
    good,
    http_refusal,
    per_host,
)


def request_url(config: UpdateConfig, host: str, address: str) -> str:
    return config.server.format(host=quote(host, safe=""), ip=quote(address, safe=""),
                                password=quote(config.password, safe=""))


def headers(config: UpdateConfig) -> dict[bytes, list[bytes]]:
    if config.header:
        return {config.header.encode(): [config.password.encode()]}
    if config.login:
        secret = base64.b64encode(f"{config.login}:{config.password}".encode())
        return {b"Authorization": [b"Basic " + secret]}
    return {}


def judge(config: UpdateConfig, host: str, status: int, body: bytes) -> HostResult:
    text = body.decode("utf-8", "replace").strip()
    first = f": {text.splitlines()[0][:60]!r}" if text else ""
    success = config.success
    if success is not None and success.isdigit():
        ok = status == int(success)
    else:
        ok = 200 <= status < 300 and (success is None or success in text)
    if ok:
        return good(host)
    if 200 <= status < 300:
        return HostResult(host, "unexpected", PERMANENT,
                          f"the reply lacks {success!r}{first}")
    refused = http_refusal(status, first)
    return HostResult(host, refused.code, refused.kind, refused.detail)


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    @defer.inlineCallbacks
    def one(host: str) -> Any:
        status, body = yield call(reactor, config, timeout,
                                  request_url(config, host, address), headers(config),
                                  config.method.encode())
        return judge(config, host, status, body)

    return (yield per_host(hostnames, one))

