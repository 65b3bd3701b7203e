"""What building the service tree checks beyond each section's schema.

check-config, ``twistd netsentinel`` and a reload build the same tree (the
:class:`~netsentinel.service.Daemon`); the conflicts here are the ones only a
bind would otherwise find, after the daemon had started: two sections listening
on one port, or on one unix socket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from netsentinel.config import Config
from netsentinel.schema import Endpoint


class TreeError(Exception):
    """The service tree cannot be built from this config: start-up would fail.

    The message is one line, shown as ``FILE: reason``."""


def error_line(e: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def listeners(config: Config) -> Iterator[tuple[str, Endpoint]]:
    """Every TCP address the tree binds, with the key that asks for it."""
    if config.control.metrics is not None:
        yield "control.metrics", config.control.metrics
    forward: Any = config.features.get("forward")
    for service in forward.services if forward is not None else ():
        yield f"forward.{service.name}.listen", service.listen
    manhole: Any = config.features.get("manhole")
    if manhole is not None and manhole.listen is not None:
        yield "manhole.listen", manhole.listen


def overlap(a: Endpoint, b: Endpoint) -> bool:
    """True when binding both fails: one port, and one address or a wildcard covering the
    other (``::`` is dual stack, as every listener here opens it)."""
    if a.port != b.port or a.port == 0:
        return False
    if a.host == b.host or "::" in (a.host, b.host):
        return True
    one, other = ipaddress.ip_address(a.host), ipaddress.ip_address(b.host)
    return one.version == other.version and (one.is_unspecified or other.is_unspecified)


def conflicts(config: Config, control_socket: str | None = None) -> list[str]:
    """One line per pair of sections that cannot both bind."""
    problems: list[str] = []
    seen: list[tuple[str, Endpoint]] = []
    for key, where in listeners(config):
        for first_key, first in seen:
            if overlap(first, where):
                problems.append(f"{key} {where} overlaps {first_key} {first}: "
                                f"both cannot listen")
        seen.append((key, where))
    manhole: Any = config.features.get("manhole")
    socket = control_socket or config.control.socket
    if manhole is not None and manhole.socket is not None and manhole.socket == socket:
        problems.append(f"manhole.socket {socket} is the control socket")
    return problems
