"""Admission arithmetic: who may connect now, and the counts that decide it.

Pure and exact: ``admit`` checks and counts in one step on the reactor thread,
so no connection can slip between a check and its count, and every limit
compares with ``>=`` against the count before this connection.
"""

from __future__ import annotations

import attrs

from netsentinel.fdbudget import BUDGET, default_conn_limit
from netsentinel.forward.config import Limits


def with_default_cap(limits: Limits, processes: int = 1) -> Limits:
    """The configured limits; without ``conn_limit``, the one the descriptors of the
    ``processes`` that hold the connections can carry (``fdbudget.default_conn_limit``
    each: worker processes have a descriptor limit of their own), waiting at it."""
    if limits.conn_limit:
        return limits
    BUDGET.estimate()
    return attrs.evolve(limits, conn_limit=default_conn_limit(BUDGET.limit) * processes,
                        conn_limit_action="wait")


@attrs.define
class Limiter:
    limits: Limits
    total: int = 0
    per_ip: dict[str, int] = attrs.Factory(dict)
    buckets: dict[str, tuple[float, float]] = attrs.Factory(dict)   # ip → (tokens, at)

    def admit(self, ip: str, now: float, cap: bool = True) -> str | None:
        """Count a new connection from ``ip``, or return the reason it is refused;
        ``cap`` False: every limit but ``conn_limit`` (the caller makes room)."""
        limits = self.limits
        count = self.per_ip.get(ip, 0)
        if cap and limits.conn_limit and self.total >= limits.conn_limit:
            return "conn_limit"
        if limits.ip_limit and not count and len(self.per_ip) >= limits.ip_limit:
            return "ip_limit"
        if limits.per_ip_limit and count >= limits.per_ip_limit:
            return "per_ip_limit"
        if limits.per_ip_rate and not self._take_token(ip, now):
            return "per_ip_rate"
        self.total += 1
        self.per_ip[ip] = count + 1
        return None

    def _take_token(self, ip: str, now: float) -> bool:
        rate = self.limits.per_ip_rate
        burst = max(rate, 1.0)
        tokens, at = self.buckets.get(ip, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1.0:
            self.buckets[ip] = (tokens, now)
            return False
        self.buckets[ip] = (tokens - 1.0, now)
        return True

    def release(self, ip: str) -> None:
        self.total -= 1
        count = self.per_ip[ip] - 1
        if count:
            self.per_ip[ip] = count
        else:
            del self.per_ip[ip]

    def room(self) -> int | None:
        """Connections that may still be accepted before ``conn_limit``; None: no limit."""
        if not self.limits.conn_limit:
            return None
        return max(0, self.limits.conn_limit - self.total)

    def forget_full_buckets(self, now: float) -> None:
        """Drop rate buckets that have refilled: they hold nothing a new one would not."""
        rate = self.limits.per_ip_rate
        if not rate:
            self.buckets.clear()
            return
        burst = max(rate, 1.0)
        self.buckets = {ip: (tokens, at) for ip, (tokens, at) in self.buckets.items()
                        if tokens + (now - at) * rate < burst}
