"""Where a service's connections go: the backend's address, names resolved off the reactor.

A backend given by name is looked up at start, after a reload that changes it,
and again every ``REFRESH`` seconds, never per connection: a connection costs
no lookup, the reactor never waits on DNS, and a renumbered backend is followed
within a minute.  A failed lookup keeps the last address it had.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from netsentinel.forward.config import Endpoint
from netsentinel.forward.status import BackendAddress
from netsentinel.resolve import resolve

log = Logger()

REFRESH = 60.0      # s between lookups of a backend name
RETRY = 5.0         # s before another try after a failed lookup


class Backend:
    def __init__(self, reactor: Any, endpoint: Endpoint, service: str) -> None:
        self.reactor = reactor
        self.endpoint = endpoint
        self.service = service
        self.address: tuple[str, int] | None = None     # what connections dial now
        self.error: str | None = None
        self._timer: Any = None
        self._generation = 0        # answers to a lookup from before stop() are dropped
        self.named = not _is_address(endpoint.host)    # an IP needs no lookup, ever again

    def start(self) -> None:
        self._generation += 1
        self._lookup(self._generation)

    def stop(self) -> None:
        self._generation += 1
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _lookup(self, generation: int) -> None:
        found = resolve(self.reactor, self.endpoint.host)
        found.addCallbacks(self._found, self._failed, callbackArgs=(generation,),
                           errbackArgs=(generation,))

    def _found(self, addresses: list[str], generation: int) -> None:
        if generation != self._generation:
            return
        if not addresses:
            self._failed(Failure(LookupError("no address")), generation)
            return
        address = (addresses[0], self.endpoint.port)
        if self.named:
            if address != self.address:
                log.info("forward {name}: backend {host} is {address}", name=self.service,
                         host=self.endpoint.host, address=address[0])
            self._again(REFRESH, generation)
        self.address = address
        self.error = None

    def _failed(self, reason: Failure, generation: int) -> None:
        if generation != self._generation:
            return
        error = f"cannot resolve {self.endpoint.host}: {reason.getErrorMessage()}"
        if error != self.error:
            log.error("forward {name}: {error}", name=self.service, error=error)
        self.error = error
        self._again(RETRY, generation)

    def _again(self, delay: float, generation: int) -> None:
        self._timer = self.reactor.callLater(delay, self._lookup, generation)

    def snapshot(self) -> BackendAddress:
        return BackendAddress(self.address[0] if self.address else None, self.error)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
