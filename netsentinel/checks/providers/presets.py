"""The dyndns2 family: providers that speak DynDNS's remote access API at their own URL.

The request and the reply words are dyndns2.py's; a preset only fills in the server
and how the login is formed. Hurricane Electric's login is the host name itself
(each host has its own key), so it gets one request per host; deSEC's is the
domain, by default the first host name.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet import defer

from netsentinel.checks import dyndns2
from netsentinel.checks.config import UpdateConfig
from netsentinel.checks.providers import SPECS


@defer.inlineCallbacks
def update(reactor: Any, config: UpdateConfig, timeout: float, hostnames: tuple[str, ...],
           address: str) -> Any:
    spec = SPECS[config.protocol]
    if spec.login != "host" or config.login:
        return (yield dyndns2.update(reactor, config, timeout, hostnames, address))
    if not spec.one_host:
        login = attrs.evolve(config, login=hostnames[0])
        return (yield dyndns2.update(reactor, login, timeout, hostnames, address))
    results = []
    for host in hostnames:
        results += yield dyndns2.update(reactor, attrs.evolve(config, login=host), timeout,
                                        (host,), address)
    return results
