"""The log's periodic summaries of a service's refusals and backend failures: one line
per interval under a flood, not one per client."""

from __future__ import annotations

from collections import Counter

from twisted.logger import Logger

SUMMARY_INTERVAL = 10.0     # s between rejection and backend-failure summaries in the log


def summarize(log: Logger, name: str, backend: str, unreported: Counter[str],
              failures: Counter[str] | None, what: str = "connections") -> Counter[str] | None:
    """Log (in the caller's namespace) and clear ``unreported`` refusals and ``failures``; the failures counter for the
    next interval (None after a quiet one: the next failure is logged in full)."""
    if unreported:
        log.warn("forward {name}: refused {total} {what} in the last {interval}s ({detail})",
                 name=name, total=sum(unreported.values()), what=what,
                 interval=SUMMARY_INTERVAL,
                 detail=", ".join(f"{k} {v}" for k, v in sorted(unreported.items())))
        unreported.clear()
    if failures:
        log.warn("forward {name}: backend {backend} failed {total} more times in the last "
                 "{interval}s ({detail})", name=name, backend=backend,
                 total=sum(failures.values()), interval=SUMMARY_INTERVAL,
                 detail=", ".join(f"{k}: {v}" for k, v in sorted(failures.items())))
        return Counter()
    return None
