"""What the provider modules share: one HTTP call with failures as results, families,
and one result per host name however the provider answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.dyndns2 import OK, PERMANENT, TEMPORARY, USER_AGENT, HostResult
from netsentinel.checks.sources import error_reason, fetch

__all__ = ["OK", "PERMANENT", "TEMPORARY", "HostResult", "Refused", "call", "family_of",
           "good", "http_refusal", "nochg", "per_host", "split"]

REPLY_LIMIT = 65536
GOOD = "the host name now points at the address"
NOCHG = "the host name already pointed at the address"


class Refused(Exception):
    """A request gave no usable answer: the word, its kind and what it means."""

    def __init__(self, code: str, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.kind, self.detail = code, kind, detail

    def result(self, host: str) -> HostResult:
        return HostResult(host, self.code, self.kind, self.detail)


def good(host: str) -> HostResult:
    return HostResult(host, "good", OK, GOOD)


def nochg(host: str) -> HostResult:
    return HostResult(host, "nochg", OK, NOCHG)


def split(address: str) -> dict[int, str]:
    """``V4``, ``V6`` or ``V4,V6`` by family."""
    return {ipaddress.ip_address(a).version: a for a in address.split(",") if a}


def family_of(address: str) -> int:
    return ipaddress.ip_address(address).version


def http_refusal(status: int, said: str) -> Refused:
    """A reply that is not the provider's success, judged by its HTTP status alone:
    401/403 a bad secret, 404 no such host, 429 and 5xx later, other 4xx give up."""
    if status in (401, 403):
        return Refused("badauth", PERMANENT, f"the secret is refused (HTTP {status}{said})")
    if status == 404:
        return Refused("nohost", PERMANENT, f"not found (HTTP 404{said})")
    if status == 429:
        return Refused("http 429", TEMPORARY, f"rate limited: too many requests{said}")
    if 400 <= status < 500 and status != 408:
        return Refused(f"http {status}", PERMANENT, f"the request was refused{said}")
    return Refused(f"http {status}", TEMPORARY, f"the provider failed{said}")


@defer.inlineCallbacks
def call(reactor: Any, config: UpdateConfig, timeout: float, url: str,
         headers: dict[bytes, list[bytes]] | None = None, method: bytes = b"GET",
         body: bytes | None = None) -> Any:
    """One HTTPS request: fires with (status, body), or fails with Refused (network)."""
    sent = {b"User-Agent": [USER_AGENT], **(headers or {})}
    try:
        found = yield fetch(reactor, url, None, config.ca, sent, REPLY_LIMIT, method, body
                            ).addTimeout(timeout, reactor)
    except defer.TimeoutError:
        raise Refused("network", TEMPORARY, f"no reply in {timeout}s") from None
    except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors: try again later
        raise Refused("network", TEMPORARY, error_reason(e)) from None
    return found


One = Callable[[str], "defer.Deferred[HostResult]"]


@defer.inlineCallbacks
def per_host(hostnames: tuple[str, ...], one: One) -> Any:
    """``one(host)`` for each host name in turn; a refused secret is not tried again for
    the rest (the same secret would be refused, and providers block clients that insist)."""
    results: list[HostResult] = []
    for i, host in enumerate(hostnames):
        try:
            result = yield one(host)
        except Refused as e:
            result = e.result(host)
        results.append(result)
        if result.code == "badauth":
            return results + [attrs.evolve(result, host=h) for h in hostnames[i + 1:]]
    return results
