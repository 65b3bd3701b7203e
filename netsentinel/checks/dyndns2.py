"""The dyndns2 update protocol: DynDNS's remote access API, as ddclient speaks it.

One ``GET server?hostname=h1,h2&myip=IP`` with basic auth (none without a login, as
ddclient); a host with both families gets both in one request, ``myip=V4,V6``, as
ddclient sends them.  The reply has one line per host name, in order, starting with
the provider's word. What each word
means and whether to try again is decided here, once, from the API's
documentation; the updater only sees ok, permanent and temporary results.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from netsentinel import __version__
from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.sources import error_reason, fetch

log = Logger()

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
    "badsys": (PERMANENT, "the provider does not know the system= of the update URL"),
    "!yours": (PERMANENT, "the host name belongs to another account"),
    "!active": (PERMANENT, "the host name's custom domain is not activated yet"),
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


def myip(*addresses: str) -> str:
    """The ``myip`` of one request: an address, or IPv4 and IPv6 of a dual-stack host as
    ``V4,V6`` (IPv4 first, as ddclient sends them)."""
    found = sorted((ipaddress.ip_address(a) for a in addresses), key=lambda a: a.version)
    if not found or len({a.version for a in found}) != len(found):
        raise ValueError(f"one address per family, got {addresses!r}")
    return ",".join(str(a) for a in found)


def request_url(server: str, hostnames: tuple[str, ...], address: str) -> str:
    """``server`` with hostname and myip added to any query it already has; ``address``
    is one address or ``V4,V6`` (see :func:`myip`)."""
    parts = urlsplit(server)
    query = [*parse_qsl(parts.query), ("hostname", ",".join(hostnames)), ("myip", address)]
    return urlunsplit(parts._replace(query=urlencode(query, safe=",:")))


def reply_lines(body: bytes) -> list[str]:
    return [line.strip() for line in body.decode("utf-8", "replace").splitlines()
            if line.strip()]


def parse_reply(status: int, body: bytes, hostnames: tuple[str, ...]) -> list[HostResult]:
    """One result per host name; one line answers for all (providers do that for badauth).
    A 2xx reply's lines are read even without a known word (each is an unexpected one)."""
    lines = reply_lines(body)
    if not any(line.split()[0] in MEANINGS for line in lines) and not (
            200 <= status < 300 and lines):
        return [_http_result(host, status, lines) for host in hostnames]
    results = []
    for i, host in enumerate(hostnames):
        line = lines[i] if i < len(lines) else lines[0] if len(lines) == 1 else None
        if line is None:
            results.append(HostResult(host, "missing", TEMPORARY, "no result line for it in "
                                      "the reply: assuming failure"))
            continue
        word = line.split()[0]
        kind, meaning = MEANINGS.get(word, (TEMPORARY, f"unexpected reply {line[:60]!r}"))
        results.append(HostResult(host, word, kind, meaning))
    return results


def reply_warnings(body: bytes, hostnames: tuple[str, ...]) -> list[str]:
    """What is odd in a reply that is still used: lines beyond one per host, or one
    success standing for several hosts."""
    lines = reply_lines(body)
    warnings = []
    if len(lines) > len(hostnames) > 0:
        extra = " | ".join(line[:60] for line in lines[len(hostnames):])
        warnings.append(f"unexpected extra lines after the per-host results: {extra}")
    if len(lines) == 1 and len(hostnames) > 1 and lines[0].split()[0] in ("good", "nochg"):
        warnings.append("one successful result for several host names: taken for all of them")
    return warnings


def _http_result(host: str, status: int, lines: list[str]) -> HostResult:
    """A reply without a dyndns2 word: the HTTP status decides (4xx but 408/429: give up)."""
    if 400 <= status < 500 and status not in (408, 429):
        return HostResult(host, f"http {status}", PERMANENT,
                          "the server refused the request (check server and login)")
    said = f": {lines[0][:60]!r}" if lines else ""
    return HostResult(host, f"http {status}", TEMPORARY, f"no dyndns2 reply{said}")


def headers(config: UpdateConfig) -> dict[bytes, list[bytes]]:
    """Basic auth only with a login: without one ddclient sends no credentials (a provider
    whose update URL carries its token)."""
    found = {b"User-Agent": [USER_AGENT]}
    if config.login:
        secret = base64.b64encode(f"{config.login}:{config.password}".encode())
        found[b"Authorization"] = [b"Basic " + secret]
    return found


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    """Send one update (``address``: one address or ``V4,V6``); fires with a result per
    host name, never fails (an unreachable provider is a temporary result)."""
    try:
        status, body = yield fetch(reactor, request_url(config.server, hostnames, address),
                                   None, config.ca, headers(config), REPLY_LIMIT
                                   ).addTimeout(timeout, reactor)
    except defer.TimeoutError:
        return [HostResult(h, "network", TEMPORARY, f"no reply in {timeout}s") for h in hostnames]
    except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors: try again later
        return [HostResult(h, "network", TEMPORARY, error_reason(e)) for h in hostnames]
    for warning in reply_warnings(body, hostnames):
        log.warn("dyndns2 {hosts}: {warning}", hosts=",".join(hostnames), warning=warning)
    return parse_reply(status, body, hostnames)
