"""Gandi LiveDNS (API v5): ``GET`` then, if it differs, ``PUT`` of one record set.

``/domains/ZONE/records/NAME/TYPE`` with ``Authorization: Bearer TOKEN`` (a personal
access token); the PUT body is ``{"rrset_values": [IP], "rrset_ttl": TTL}`` and
answers 201 ``DNS Record Created``. 401/403 is a refused token, 404 a zone the
token cannot see.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    call,
    family_of,
    good,
    http_refusal,
    nochg,
    per_host,
)
from netsentinel.checks.providers.namecheap import relative


def said(raw: bytes) -> str:
    try:
        message = json.loads(raw).get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:80]}" if message else ""


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    kind = "A" if family_of(address) == 4 else "AAAA"
    auth = {b"Authorization": [b"Bearer " + config.password.encode()]}

    @defer.inlineCallbacks
    def one(host: str) -> Any:
        name = quote(relative(host, config.zone or ""), safe="@")
        url = f"{config.server.rstrip('/')}/domains/{quote(config.zone or '')}/records/{name}/{kind}"
        status, raw = yield call(reactor, config, timeout, url, auth)
        if status == 200:
            try:
                values = json.loads(raw).get("rrset_values")
            except (ValueError, AttributeError):
                values = None
            if values == [address]:
                return nochg(host)
        elif status != 404:          # 404: no such record yet, the PUT makes it
            raise http_refusal(status, said(raw))
        ttl = config.ttl or 300
        body = json.dumps({"rrset_values": [address], "rrset_ttl": ttl}).encode()
        status, raw = yield call(reactor, config, timeout, url,
                                 {**auth, b"Content-Type": [b"application/json"]}, b"PUT", body)
        if status in (200, 201):
            return good(host)
        raise http_refusal(status, said(raw))

    return (yield per_host(hostnames, one))
