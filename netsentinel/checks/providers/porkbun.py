"""Porkbun's JSON API v3: the record read by name and type, then edited if it differs.

``POST /dns/retrieveByNameType/ZONE/TYPE/SUB`` and ``POST /dns/editByNameType/ZONE/TYPE/SUB``
with the API key (``login``) and secret key (the password) in the JSON body. A
reply is ``{"status": "SUCCESS", ...}`` or ``{"status": "ERROR", "message": ...}``
(a bad key is HTTP 400 ``Invalid API key. (002)``). Records are never created.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    TEMPORARY,
    Refused,
    call,
    family_of,
    good,
    http_refusal,
    nochg,
    per_host,
)
from netsentinel.checks.providers.namecheap import relative


def judge(status: int, raw: bytes) -> dict[str, Any]:
    try:
        reply = json.loads(raw)
        ok, message = reply["status"], str(reply.get("message", ""))[:80]
    except (ValueError, KeyError, TypeError):
        raise http_refusal(status, "") from None
    if ok == "SUCCESS" and status == 200:
        found: dict[str, Any] = reply
        return found
    if "api key" in message.lower() or status in (401, 403):
        raise Refused("badauth", PERMANENT, f"Porkbun: {message}")
    if status == 429 or status >= 500:
        raise Refused(f"http {status}", TEMPORARY, f"Porkbun: {message}")
    raise Refused("error", PERMANENT, f"Porkbun: {message}")


@defer.inlineCallbacks
def api(reactor: Any, config: UpdateConfig, timeout: float, path: str, **extra: Any) -> Any:
    body = json.dumps({"apikey": config.login, "secretapikey": config.password, **extra})
    status, raw = yield call(reactor, config, timeout, config.server.rstrip("/") + path,
                             {b"Content-Type": [b"application/json"]}, b"POST", body.encode())
    return judge(status, raw)


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    assert config.zone is not None
    kind = "A" if family_of(address) == 4 else "AAAA"

    @defer.inlineCallbacks
    def one(host: str) -> Any:
        name = relative(host, config.zone or "")
        where = f"{quote(config.zone or '')}/{kind}/{'' if name == '@' else quote(name)}"
        found = yield api(reactor, config, timeout, f"/dns/retrieveByNameType/{where}")
        records = found.get("records") or []
        if not records:
            raise Refused("nohost", PERMANENT, f"no {kind} record {host} (netsentinel does "
                          "not create records)")
        if all(r.get("content") == address for r in records):
            return nochg(host)
        extra = {"ttl": str(config.ttl)} if config.ttl else {}
        yield api(reactor, config, timeout, f"/dns/editByNameType/{where}", content=address,
                  **extra)
        return good(host)

    return (yield per_host(hostnames, one))
