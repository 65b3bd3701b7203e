"""FreeDNS (afraid.org), the v2 sync URL: ``GET /u/TOKEN/?address=IP``.

The token is the host's own (one host per instance). Replies, as documented:
``Updated 1 host(s) NAME to IP in 0.1 seconds``, ``No IP change detected for NAME
with IP IP, skipping update`` and ``ERROR: ...`` (an unknown token is ``Unable to
locate this record``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    TEMPORARY,
    HostResult,
    call,
    good,
    http_refusal,
    nochg,
    per_host,
)


def request_url(config: UpdateConfig, address: str) -> str:
    return (f"{config.server.rstrip('/')}/{quote(config.password, safe='')}/?"
            + urlencode({"address": address}, safe=":"))


def judge(host: str, status: int, body: bytes) -> HostResult:
    text = body.decode("utf-8", "replace").strip()
    first = text.splitlines()[0][:80] if text else ""
    if text.startswith("Updated"):
        return good(host)
    if text.startswith("No IP change"):
        return nochg(host)
    if "Unable to locate" in text or "Invalid update URL" in text:
        return HostResult(host, "badauth", PERMANENT, f"FreeDNS: {first}")
    if text.startswith("ERROR"):
        return HostResult(host, "error", TEMPORARY if status >= 500 else PERMANENT,
                          f"FreeDNS: {first}")
    if status != 200:
        raise http_refusal(status, f": {first!r}" if first else "")
    return HostResult(host, "unexpected", TEMPORARY, f"not a FreeDNS reply: {first!r}")


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    """One family's address (the registry splits ``V4,V6``)."""
    @defer.inlineCallbacks
    def one(host: str) -> Any:
        status, body = yield call(reactor, config, timeout, request_url(config, address))
        return judge(host, status, body)

    return (yield per_host(hostnames, one))
