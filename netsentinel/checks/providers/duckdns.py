"""DuckDNS: ``GET /update?domains=a,b&token=T&ip=V4&ipv6=V6&verbose=true``.

The documented reply is ``OK`` or ``KO`` (a wrong token or domain, told apart by
nothing); with ``verbose=true`` an OK is followed by the addresses and ``UPDATED``
or ``NOCHANGE``. Host names are the sub-domain, with or without ``.duckdns.org``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers.base import (
    PERMANENT,
    TEMPORARY,
    HostResult,
    Refused,
    call,
    good,
    http_refusal,
    nochg,
    split,
)

SUFFIX = ".duckdns.org"


def subdomain(host: str) -> str:
    return host[:-len(SUFFIX)] if host.endswith(SUFFIX) else host


def request_url(config: UpdateConfig, hostnames: tuple[str, ...], address: str) -> str:
    families = split(address)
    query = {"domains": ",".join(subdomain(h) for h in hostnames), "token": config.password,
             "ip": families.get(4, ""), "verbose": "true"}
    if 6 in families:
        query["ipv6"] = families[6]
    return f"{config.server}?{urlencode(query, safe=',:')}"


def parse_reply(status: int, body: bytes, hostnames: tuple[str, ...]) -> list[HostResult]:
    lines = body.decode("utf-8", "replace").split("\n")
    if status != 200:
        said = f": {lines[0][:60]!r}" if lines[0] else ""
        return [http_refusal(status, said).result(h) for h in hostnames]
    if lines[0].strip() == "KO":
        return [HostResult(h, "badauth", PERMANENT, "DuckDNS answered KO: the token or a "
                           "domain is wrong") for h in hostnames]
    if lines[0].strip() != "OK":
        return [Refused("unexpected", TEMPORARY, f"not a DuckDNS reply: {lines[0][:60]!r}"
                        ).result(h) for h in hostnames]
    changed = "NOCHANGE" not in (line.strip() for line in lines[1:])
    return [good(h) if changed else nochg(h) for h in hostnames]


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    try:
        status, body = yield call(reactor, config, timeout,
                                  request_url(config, hostnames, address))
    except Refused as e:
        return [e.result(h) for h in hostnames]
    return parse_reply(status, body, hostnames)
