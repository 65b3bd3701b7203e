"""The cloudflare update protocol: Cloudflare's API v4, as ddclient's ``protocol=cloudflare``.

With an API token (``Authorization: Bearer``): the zone's id by name (looked up
once, then remembered for the daemon's life; asked again after a ``nohost``), then
per host name its A (AAAA) record; an equal content is ``nochg``, else one PATCH
of the content is ``good``. Records are never created: a missing one is ``nohost``. Failures map
to the words the updater knows (``badauth`` and ``nohost`` permanent, the rest
temporary), decided here once from the API's documentation.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import quote, urlencode

from twisted.internet import defer

from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.dyndns2 import OK, PERMANENT, TEMPORARY, USER_AGENT, HostResult
from netsentinel.checks.providers.base import Refused
from netsentinel.checks.sources import error_reason, fetch

REPLY_LIMIT = 65536          # a zone object with its name servers and plan is a few KiB
# API error codes of a missing, invalid or under-privileged token (the HTTP status is
# usually 401/403 as well, but some come with 400)
AUTH_CODES = frozenset({6003, 6111, 9103, 9106, 9109, 10000, 10001})

# zone ids by (API base, zone name): they never change while the zone exists
_zone_ids: dict[tuple[str, str], str] = {}


def judge(status: int, raw: bytes) -> Any:
    """The ``result`` of an API reply, or Refused saying what went wrong."""
    if len(raw) > REPLY_LIMIT:
        raise Refused(f"http {status}", TEMPORARY, "the reply is too long for the API")
    try:
        reply = json.loads(raw)
        success, errors = reply["success"], reply.get("errors") or []
        said = [(e.get("code"), str(e.get("message", ""))[:80]) for e in errors]
    except (ValueError, KeyError, TypeError, AttributeError):
        if status in (401, 403):
            raise Refused("badauth", PERMANENT, f"the API refused the token (HTTP {status})"
                          ) from None
        text = raw[:60].decode("utf-8", "replace")
        raise Refused(f"http {status}", TEMPORARY,
                      f"not a Cloudflare API reply: {text!r}") from None
    message = "; ".join(f"{code}: {text}" for code, text in said) or f"HTTP {status}"
    if status in (401, 403) or any(code in AUTH_CODES for code, _ in said):
        raise Refused("badauth", PERMANENT, f"the API token is refused ({message})")
    if status == 200 and success is True:
        return reply.get("result")
    if status == 404:
        raise Refused("nohost", PERMANENT, f"not found ({message})")
    if 400 <= status < 500 and status not in (408, 429):
        raise Refused(f"http {status}", PERMANENT, f"the API refused the request ({message})")
    raise Refused(f"http {status}", TEMPORARY, f"the API failed ({message})")


@defer.inlineCallbacks
def call(reactor: Any, config: UpdateConfig, timeout: float, path: str,
         method: bytes = b"GET", body: Any = None) -> Any:
    """One API request; fires with the reply's ``result`` or fails with Refused."""
    headers = {b"Authorization": [b"Bearer " + config.password.encode()],
               b"User-Agent": [USER_AGENT]}
    data = None
    if body is not None:
        headers[b"Content-Type"] = [b"application/json"]
        data = json.dumps(body).encode()
    try:
        status, raw = yield fetch(reactor, config.server.rstrip("/") + path, None, config.ca,
                                  headers, REPLY_LIMIT, method, data
                                  ).addTimeout(timeout, reactor)
    except defer.TimeoutError:
        raise Refused("network", TEMPORARY, f"no reply in {timeout}s") from None
    except Exception as e:  # noqa: BLE001 - TLS, connection and DNS errors: try again later
        raise Refused("network", TEMPORARY, error_reason(e)) from None
    return judge(status, raw)


def _first(found: Any, what: str) -> dict[str, Any]:
    """The first object of a list ``result``; an empty list means ``what`` is missing."""
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        raise Refused("http 200", TEMPORARY, f"unexpected reply to the {what} lookup")
    if not found:
        raise Refused("nohost", PERMANENT, f"{what} does not exist (or the token cannot "
                      "see it); netsentinel does not create records")
    if not isinstance(found[0].get("id"), str):
        raise Refused("http 200", TEMPORARY, f"no id in the reply to the {what} lookup")
    first: dict[str, Any] = found[0]
    return first


@defer.inlineCallbacks
def zone_id(reactor: Any, config: UpdateConfig, timeout: float) -> Any:
    assert config.zone is not None
    key = (config.server, config.zone)
    if key not in _zone_ids:
        found = yield call(reactor, config, timeout, "/zones?" + urlencode({"name": config.zone}))
        _zone_ids[key] = _first(found, f"zone {config.zone}")["id"]
    return _zone_ids[key]


@defer.inlineCallbacks
def update_host(reactor: Any, config: UpdateConfig, timeout: float, zone: str, host: str,
                address: str) -> Any:
    kind = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    records = f"/zones/{quote(zone, safe='')}/dns_records"
    found = yield call(reactor, config, timeout,
                       f"{records}?" + urlencode({"type": kind, "name": host}))
    record = _first(found, f"{kind} record {host}")
    if record.get("content") == address:
        return HostResult(host, "nochg", OK, "the host name already pointed at the address")
    yield call(reactor, config, timeout, f"{records}/{quote(record['id'], safe='')}",
               b"PATCH", {"content": address})
    return HostResult(host, "good", OK, "the host name now points at the address")


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    """Update each host name; fires with a result per host name, never fails (an
    unreachable API is a temporary result)."""
    try:
        zone = yield zone_id(reactor, config, timeout)
    except Refused as e:
        return [e.result(h) for h in hostnames]
    results: list[HostResult] = []
    for i, host in enumerate(hostnames):
        try:
            results.append((yield update_host(reactor, config, timeout, zone, host, address)))
        except Refused as e:
            if e.code == "badauth":     # the same token for the rest: do not insist
                return results + [e.result(h) for h in hostnames[i:]]
            if e.code == "nohost":      # the zone may be gone with its id: ask again next time
                _zone_ids.pop((config.server, config.zone or ""), None)
            results.append(e.result(host))
    return results
