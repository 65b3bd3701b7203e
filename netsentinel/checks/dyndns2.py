"""The dyndns2 update protocol: DynDNS's remote access API, as ddclient speaks it.

One ``GET server?hostname=h1,h2&myip=IP`` with basic auth; the reply has one
line per host name, in order, starting with the provider's word. What each word
means and whether to try again is decided here, once, from the API's
documentation; the updater only sees ok, permanent and temporary results.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from twisted.internet import defer

from netsentinel import __version__
from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.sources import error_reason, fetch

OK, PERMANENT, TEMPORARY = "ok", "permanent", "temporary"
USER_AGENT = f"netsentinel/{__version__}".encode()
REPLY_LIMIT = 4096

MEANINGS = {
    "good": (OK, "the host name now points at the address"),
    "nochg": (OK, "the host name already pointed at the address"),
    "badauth": (PERMANENT, "the login or password is wrong"),
    "!donator": (PERMANENT, "the account lacks the feature this update asks for"),
    "notfqdn": (PERMANENT, "the host name is not a fully qualified domain name"),
    "nohost": (PERMANENT, "the host name does not exist in this account"),
    "numhost": (PERMANENT, "too many host names in one update"),
    "abuse": (PERMANENT, "the provider blocked the host name for abuse"),
    "badagent": (PERMANENT, "the provider refuses this client"),
    "dnserr": (TEMPORARY, "the provider's DNS servers failed"),
    "911": (TEMPORARY, "the provider has a problem or is in maintenance"),
}


@attrs.frozen
class HostResult:
    """What became of one host name: the provider's word (or ``http NNN``, ``network``),
    its kind (ok, permanent, temporary) and what it means."""

    host: str
    code: str
    kind: str
    detail: str


def request_url(server: str, hostnames: tuple[str, ...], address: str) -> str:
    """``server`` with hostname and myip added to any query it already has."""
    parts = urlsplit(server)
    query = [*parse_qsl(parts.query), ("hostname", ",".join(hostnames)), ("myip", address)]
    return urlunsplit(parts._replace(query=urlencode(query, safe=",:")))


def parse_reply(status: int, body: bytes, hostnames: tuple[str, ...]) -> list[HostResult]:
    """One result per host name; one line answers for all (providers do that for badauth)."""
    lines = [line.strip() for line in body.decode("utf-8", "replace").splitlines()
             if line.strip()]
    if not any(line.split()[0] in MEANINGS for line in lines):
        return [_http_result(host, status, lines) for host in hostnames]
    results = []
    for i, host in enumerate(hostnames):
        line = lines[i] if i < len(lines) else lines[0] if len(lines) == 1 else None
        if line is None:
            results.append(HostResult(host, "missing", TEMPORARY, "the reply has no line for it"))
            continue
        word = line.split()[0]
        kind, meaning = MEANINGS.get(word, (TEMPORARY, f"unexpected reply {line[:60]!r}"))
        results.append(HostResult(host, word, kind, meaning))
    return results


def _http_result(host: str, status: int, lines: list[str]) -> HostResult:
    """A reply without a dyndns2 word: the HTTP status decides (4xx but 408/429: give up)."""
    if 400 <= status < 500 and status not in (408, 429):
        return HostResult(host, f"http {status}", PERMANENT,
                          "the server refused the request (check server and login)")
    said = f": {lines[0][:60]!r}" if lines else ""
    return HostResult(host, f"http {status}", TEMPORARY, f"no dyndns2 reply{said}")


def authorization(config: UpdateConfig) -> bytes:
    return b"Basic " + base64.b64encode(f"{config.login}:{config.password}".encode())


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    """Send one update; fires with a result per host name, never fails (an unreachable
    provider is a temporary result)."""
    headers = {b"Authorization": [authorization(config)], b"User-Agent": [USER_AGENT]}
    try:
        status, body = yield fetch(reactor, request_url(config.server, hostnames, address),
                                   None, config.ca, headers, REPLY_LIMIT
                                   ).addTimeout(timeout, reactor)
    except defer.TimeoutError:
        return [HostResult(h, "network", TEMPORARY, f"no reply in {timeout}s") for h in hostnames]
    except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors: try again later
        return [HostResult(h, "network", TEMPORARY, error_reason(e)) for h in hostnames]
    return parse_reply(status, body, hostnames)
