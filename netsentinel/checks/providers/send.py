"""The ``send(hostnames, address)`` of an instance's protocol, with the families split
for protocols that take one address a request."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from netsentinel.checks.dyndns2 import HostResult
from netsentinel.checks.provider_config import UpdateConfig
from netsentinel.checks.providers import SPECS

Send = Callable[[tuple[str, ...], str], "defer.Deferred[list[HostResult]]"]


RANK = {"permanent": 3, "temporary": 2, "ok": 1}


def sender(reactor: Any, config: UpdateConfig, timeout: float) -> Send:
    """The ``send(hostnames, address)`` of ``config``'s protocol. ``V4,V6`` goes in one
    request where the protocol carries both, else one request per family, and each host
    gets the worse of its results (a refusal over a failure over nochg)."""
    spec = SPECS[config.protocol]
    update = importlib.import_module(spec.module).update

    @defer.inlineCallbacks
    def send(hostnames: tuple[str, ...], address: str) -> Any:
        if spec.dual_stack or "," not in address:
            return (yield update(reactor, config, timeout, hostnames, address))
        found: dict[str, HostResult] = {}
        for each in address.split(","):
            for result in (yield update(reactor, config, timeout, hostnames, each)):
                before = found.get(result.host)
                if before is None or _worse(result, before):
                    found[result.host] = result
        return [found[h] for h in hostnames]

    return send


def _worse(a: HostResult, b: HostResult) -> bool:
    if a.kind != b.kind:
        return RANK[a.kind] > RANK[b.kind]
    return a.code == "good" and b.code == "nochg"
