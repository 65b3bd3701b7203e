"""The manhole at one moment: where it listens, who may log in, and what is wrong."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.web.template import Tag, tags

from netsentinel.manhole.metrics import ERROR, SESSIONS
from netsentinel.metrics import Family
from netsentinel.page import PageView, pairs
from netsentinel.snapshot import to_json


@attrs.frozen
class ManholeStatus:
    """Its listeners (None when not configured or not open), the SSH host key's
    fingerprint, the authorized keys, open sessions, and why a listener did not open."""

    ssh: str | None
    socket: str | None
    host_key: str | None
    authorized_keys: int
    sessions: int
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        return [f"manhole: {self.error}"] if self.error else []

    def metrics(self) -> list[Family]:
        return [SESSIONS.of(self.sessions), ERROR.of(self.error is not None)]

    def section(self, view: PageView) -> Tag:
        return tags.section(tags.h2("manhole"), pairs(
            [("ssh", self.ssh or "not listening"), ("socket", self.socket),
             ("sessions", self.sessions), ("error", self.error)],
            ["error"] if self.error else [], id="manhole"))
