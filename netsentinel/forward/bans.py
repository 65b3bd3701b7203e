"""Who is banned from a service, and who is about to be: pure bookkeeping.

A client earns a strike each time it is refused for something it did (its rate, its
connection count, the blacklist); ``after`` strikes within ``window`` seconds ban it
for ``duration`` seconds.  An IPv6 client is banned with its whole ``/ipv6_prefix``
when that is configured, since one host owns a /64.  The strikes table is bounded: a
flood of addresses forgets its oldest ones, never the bans.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from netsentinel.forward.blacklist import client_address
from netsentinel.forward.config import BanConfig, Network

STRIKE_REASONS = frozenset({"blacklist", "per_ip_limit", "per_ip_rate"})
MAX_TRACKED = 65536         # clients with recent strikes remembered at once


class NeverBan(ValueError):
    """The address is loopback, the router's own, or on ``never_ban``."""


@attrs.frozen
class Ban:
    network: Network
    expires_at: float
    reason: str

    @property
    def element(self) -> str:
        """What the nft set holds: the address (a prefix's first one, the rule masks)."""
        return str(self.network.network_address)

    def left(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.999))


class BanBook:
    """The bans of one service and the strikes towards them; times are the caller's."""

    def __init__(self, config: BanConfig,
                 own: Callable[[Network], bool] = lambda network: False) -> None:
        self.config = config
        self.own = own                      # True when the network holds a local address
        self.bans: dict[Network, Ban] = {}
        self.strikes: dict[Network, deque[float]] = {}
        self.added = 0                      # bans made since the daemon started
        self.refused = 0                    # connections (datagrams) of banned clients seen

    def networks(self, ip: str) -> tuple[Network, ...]:
        """The bans that could cover ``ip``: its address, and its IPv6 prefix."""
        address = client_address(ip)
        if address.version == 4:
            return (ipaddress.ip_network(address),)
        return (ipaddress.ip_network(address),
                ipaddress.ip_network(f"{address}/{self.config.ipv6_prefix}", strict=False))

    def check(self, network: Network) -> None:
        if any(network.overlaps(n) for n in self.config.never_ban if n.version ==
               network.version) or self.own(network):
            raise NeverBan(f"{network} is on never_ban (loopback, the router's own "
                           f"addresses or the configured list)")

    def strike(self, ip: str, reason: str, now: float) -> Ban | None:
        """Count one refusal of ``ip``; the ban it earns, if this one crosses ``after``."""
        if reason not in STRIKE_REASONS:
            return None
        network = self.networks(ip)[-1]          # strikes count per prefix
        if any(n in self.bans for n in self.networks(ip)):
            return None
        times = self.strikes.pop(network, None) or deque(maxlen=self.config.after)
        self.strikes[network] = times           # re-inserted: the most recent is last
        times.append(now)
        if len(self.strikes) > MAX_TRACKED:
            del self.strikes[next(iter(self.strikes))]
        if len(times) < self.config.after or now - times[0] > self.config.window:
            return None
        del self.strikes[network]
        try:
            return self.ban(self.networks(ip)[0], now, self.config.duration,
                            f"{self.config.after} rejections ({reason}) in "
                            f"{self.config.window:g}s")
        except NeverBan:
            return None

    def ban(self, network: Network, now: float, seconds: float, reason: str) -> Ban:
        """Ban ``network`` for ``seconds``: an IPv6 one widened to the configured prefix,
        unless that prefix is protected (the router's LAN), then the address alone."""
        if network.version == 6 and network.prefixlen > self.config.ipv6_prefix:
            wide = network.supernet(new_prefix=self.config.ipv6_prefix)
            try:
                self.check(wide)
                network = wide
            except NeverBan:
                pass
        if network.prefixlen not in (network.max_prefixlen, self.config.ipv6_prefix) or \
                network.version == 4 and network.prefixlen != 32:
            raise ValueError(f"a ban is one address (or an IPv6 /{self.config.ipv6_prefix} "
                             f"with ipv6_prefix), not {network}")
        self.check(network)
        ban = Ban(network, now + seconds, reason)
        self.bans[network] = ban
        self.added += 1
        return ban

    def unban(self, ip: str) -> Ban | None:
        """Lift the ban covering ``ip`` (or the network given); the ban lifted, if any."""
        network = ipaddress.ip_network(ip, strict=False)
        for banned in list(self.bans):
            if banned.version == network.version and (
                    network.subnet_of(banned) or banned.subnet_of(network)):  # type: ignore[arg-type]
                return self.bans.pop(banned)
        return None

    def banned(self, ip: str, now: float) -> bool:
        return any((ban := self.bans.get(n)) is not None and ban.expires_at > now
                   for n in self.networks(ip))

    def active(self, now: float) -> list[Ban]:
        """The bans still running, the expired ones forgotten."""
        self.bans = {n: b for n, b in self.bans.items() if b.expires_at > now}
        return sorted(self.bans.values(), key=lambda b: (b.network.version, b.network))

    def adopt(self, found: Iterable[tuple[str, int, bool, str]], now: float) -> int:
        """Bans read back from the kernel after a restart: (element, seconds left,
        whether it stands for an IPv6 prefix, the reason its comment kept)."""
        count = 0
        for element, left, prefix, reason in found:
            bits = self.config.ipv6_prefix if prefix else ""
            network = ipaddress.ip_network(f"{element}/{bits}" if bits else element,
                                           strict=False)
            if network not in self.bans and left > 0:
                self.bans[network] = Ban(network, now + left, reason)
                count += 1
        return count

    def forget(self, now: float) -> None:
        """Drop strikes older than the window (the periodic sweep)."""
        window = self.config.window
        self.strikes = {n: t for n, t in self.strikes.items() if now - t[-1] <= window}


def local_networks() -> list[Network]:
    """This namespace's own addresses (/32 and /128), from /proc: never banned."""
    found: list[Network] = []
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                raw = line.split()[0]
                found.append(ipaddress.ip_network(
                    ":".join(raw[i:i + 4] for i in range(0, 32, 4)) + "/128"))
        with open("/proc/net/fib_trie") as f:
            previous = ""
            for line in f:
                if "/32 host LOCAL" in line:
                    found.append(ipaddress.ip_network(previous.split()[-1] + "/32"))
                previous = line
    except (OSError, ValueError, IndexError):
        pass
    return found


def holds_local(network: Network) -> bool:
    return any(network.overlaps(n) for n in local_networks() if n.version == network.version)
