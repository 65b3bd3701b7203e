"""Namecheap's dynamic DNS: ``GET /update?host=SUB&domain=ZONE&password=P&ip=IP``.

The reply is a small XML document whose ``ErrCount`` says whether it worked and
``Err1`` why not (``Passwords do not match``, ``No Records updated. A record not
Found;``, ``Domain name not active``). It has no "no change" answer, and no IPv6.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    TEMPORARY,
    HostResult,
    call,
    good,
    http_refusal,
    per_host,
)

ERRORS = (("password", "badauth"), ("not found", "nohost"), ("not active", "nohost"),
          ("invalid domain", "nohost"))


def relative(host: str, zone: str) -> str:
    """The record's name in the zone: ``@`` for the zone itself."""
    return "@" if host == zone else host[:-len(zone) - 1]


def request_url(config: UpdateConfig, host: str, address: str) -> str:
    assert config.zone is not None
    return config.server + "?" + urlencode({"host": relative(host, config.zone),
                                            "domain": config.zone,
                                            "password": config.password, "ip": address})


def judge(host: str, status: int, body: bytes) -> HostResult:
    text = body.decode("utf-8", "replace")
    count = re.search(r"<ErrCount>(\d+)</ErrCount>", text)
    if count is None:
        if status != 200:
            raise http_refusal(status, "")
        return HostResult(host, "unexpected", TEMPORARY, "not a Namecheap reply")
    if count[1] == "0":
        return good(host)
    said = re.search(r"<Err1>([^<]*)</Err1>", text)
    reason = said[1].strip()[:80] if said else "an error without a message"
    code = next((c for words, c in ERRORS if words in reason.lower()), "error")
    return HostResult(host, code, PERMANENT if code != "error" else TEMPORARY,
                      f"Namecheap: {reason}")


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    @defer.inlineCallbacks
    def one(host: str) -> Any:
        status, body = yield call(reactor, config, timeout, request_url(config, host, address))
        return judge(host, status, body)

    return (yield per_host(hostnames, one))
