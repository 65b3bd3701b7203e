"""What the forward services report: a frozen snapshot per service, taken at once.

``status`` shows the services by name; each one's JSON (:mod:`netsentinel.forward.status`)
keeps the keys of monconn's ``Stats()``, which ``forward stats`` prints too, with the
per-IP and per-connection tables added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.forward import section
from netsentinel.forward.metrics import (
    ACCEPTED,
    BACKEND_FAILURES,
    BANNED_SEEN,
    BANS_ACTIVE,
    BANS_ADDED,
    BLACKLIST,
    BYTES,
    CLIENT_IPS,
    CLOSED,
    DATAGRAMS,
    EVICTED,
    OPEN,
    REJECTED,
    UP,
)
from netsentinel.forward.section import OPEN_ROWS as OPEN_ROWS  # the page's bound, for tests
from netsentinel.forward.status import ServiceStatus
from netsentinel.metrics import Family
from netsentinel.page import PageView
from netsentinel.snapshot import from_json


@attrs.frozen
class ForwardStatus:
    """The ``forward`` section of ``status``: the services by name, in config order.

    Its JSON is the mapping itself (no ``services`` key), so it reads itself back."""

    services: dict[str, ServiceStatus]

    def to_json(self) -> dict[str, Any]:
        return {name: service.to_json() for name, service in self.services.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ForwardStatus:
        return cls({name: from_json(ServiceStatus, service) for name, service in data.items()})

    def problems(self) -> list[str]:
        return [line for service in self.services.values() for line in service.problems()]

    def metrics(self) -> list[Family]:
        s = self.services
        return [
            UP.with_samples(((n,), v.state == "running") for n, v in s.items()),
            OPEN.with_samples(((n,), v.connections) for n, v in s.items()),
            CLIENT_IPS.with_samples(((n,), v.ip_count) for n, v in s.items()),
            ACCEPTED.with_samples(((n,), v.total_connections) for n, v in s.items()),
            CLOSED.with_samples(((n, reason), count) for n, v in s.items()
                                for reason, count in v.closes.items()),
            REJECTED.with_samples(((n, reason), count) for n, v in s.items()
                                  for reason, count in v.rejected.items()),
            BACKEND_FAILURES.with_samples(((n,), v.backend_failures) for n, v in s.items()),
            BYTES.with_samples(item for n, v in s.items()
                               for item in (((n, "up"), v.up), ((n, "down"), v.down))),
            BLACKLIST.with_samples(((n,), len(v.blacklist)) for n, v in s.items()),
            *self._bans_and_udp(),
        ]

    def _bans_and_udp(self) -> list[Family]:
        """Only with a ``ban:`` or a UDP service: TCP-only output stays as it was."""
        bans = {n: v.ban for n, v in self.services.items() if v.ban is not None}
        udp = {n: v.udp for n, v in self.services.items() if v.udp is not None}
        return [family for family, present in (
            (BANS_ACTIVE.with_samples(((n,), b.active) for n, b in bans.items()), bans),
            (BANS_ADDED.with_samples(((n,), b.added) for n, b in bans.items()), bans),
            (BANNED_SEEN.with_samples(((n,), b.refused) for n, b in bans.items()), bans),
            (DATAGRAMS.with_samples(item for n, u in udp.items() for item in (
                ((n, "up"), u.datagrams_up), ((n, "down"), u.datagrams_down))), udp),
            (EVICTED.with_samples(((n,), u.evicted) for n, u in udp.items()), udp),
        ) if present]

    def section(self, view: PageView) -> Tag:
        return tags.section(tags.h2("forward"), [
            section.service(name, self.services[name], view) for name in sorted(self.services)])
