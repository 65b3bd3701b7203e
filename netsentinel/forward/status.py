"""One forwarded service's status, and the pieces it is made of: frozen values whose
field names are the JSON keys (monconn's ``Stats()`` ones first, with their types)."""

from __future__ import annotations

from typing import Any

import attrs

from netsentinel.snapshot import omitted, to_json


@attrs.frozen
class BackendAddress:
    """Where the service's connections go now, and why the last lookup failed."""

    address: str | None
    error: str | None


@attrs.frozen
class BlacklistSet:
    """The nft sets mirroring the blacklist: ``set`` names the IPv4 one in full."""

    set: str
    set6: str
    synced: int
    error: str | None


@attrs.frozen
class BanStatus:
    """The service's kernel bans: ``set`` names the IPv4 set in full."""

    set: str
    set6: str
    active: int
    added: int              # since the daemon started
    refused: int            # connections (datagrams) of banned clients that still came
    error: str | None


@attrs.frozen
class UdpStatus:
    """What a UDP service adds: datagrams both ways, and sessions ended by the cap."""

    datagrams_up: int
    datagrams_down: int
    evicted: int
    dropped: int            # datagrams refused (limits, blacklist, bans) or undeliverable
    session_idle: float


@attrs.frozen
class KernelRules:
    """A ``mode: kernel`` service: why its rules could not be written, why its
    refusals or its flows cannot be read (None: they are fine)."""

    error: str | None
    refusals: str | None
    flows: str | None = None


@attrs.frozen(kw_only=True)
class ServiceStatus:
    """One forwarded service; the first seven fields are monconn's, with its types."""

    sid: str
    uptime: int
    ips: str                    # the connected client IPs, comma-joined
    connections: int
    accessed: int               # Unix time; the boot time until a client comes
    up: int
    down: int
    state: str
    listen: str
    backend: str
    ip_count: int
    boot_at: str
    accessed_at: float | None
    total_connections: int
    closed_connections: int
    rejected: dict[str, int]
    backend_failures: int
    closes: dict[str, int]
    blacklist: tuple[str, ...]
    blacklist_set: BlacklistSet | None = omitted()     # only with a blacklist_set
    backend_address: BackendAddress
    conn_limit: int             # the default one too
    protocol: str | None = omitted()    # "udp" only: a TCP service's JSON is monconn's
    ban: BanStatus | None = omitted()   # only with ban:
    udp: UdpStatus | None = omitted()
    kernel: KernelRules | None = omitted()     # only with mode: kernel

    def to_json(self) -> dict[str, Any]:
        return dict(to_json(self))

    def problems(self) -> list[str]:
        # a service stopped on purpose (`forward stop`) is no problem: haproxy's MAINT
        found: list[str] = []
        if self.backend_failures:
            found.append(f"forward {self.sid}: {self.backend_failures} backend failure(s)")
        if self.backend_address.error:
            found.append(f"forward {self.sid}: backend {self.backend}: "
                         f"{self.backend_address.error}")
        if self.blacklist_set is not None and self.blacklist_set.error:
            found.append(f"forward {self.sid}: blacklist set: {self.blacklist_set.error}")
        if self.ban is not None and self.ban.error:
            found.append(f"forward {self.sid}: ban set: {self.ban.error}")
        if self.kernel is not None:
            found += [f"forward {self.sid}: {what}: {error}" for what, error in
                      (("kernel rules", self.kernel.error), ("refusals", self.kernel.refusals),
                       ("reading flows", self.kernel.flows))
                      if error]
        return found
