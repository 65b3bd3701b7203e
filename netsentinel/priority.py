"""The daemon's own scheduling priority (``control.priority``: a nice value, -20 to 19).

The main process answers the control socket and, with ``forward.workers``, only accepts
and admits: light work that should run first when the box is busy.  A nice value below
the workers' (``forward.worker_priority``) gives it the CPU when it wakes: on a 2-vCPU VM
flooded with short connections the control socket's p99 fell from 13–18 ms to 6–8 ms
(docs/BENCHMARKS.md).  keepalived's ``vrrp_priority`` and nginx's ``worker_priority`` are
the same knob.

Linux keeps a nice value per thread, so every thread of the process is set; threads
started later inherit it.  What the daemon starts keeps the value it was started with:
workers take ``worker_priority``, scripts (actions, triggers) the daemon's starting value.
"""

from __future__ import annotations

import os

import attrs
from twisted.logger import Logger

from netsentinel.snapshot import omitted

log = Logger()


def renice(pid: int, value: int) -> str | None:
    """Set process (or thread) ``pid``'s nice value; the reason when it cannot be."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, value)
    except OSError as e:
        return e.strerror or str(e)
    return None


@attrs.frozen
class PriorityStatus:
    wanted: int             # control.priority
    nice: int               # what the process runs at
    error: str | None = omitted()


class Priority:
    """``control.priority`` applied to this process, and undone when the key goes."""

    def __init__(self) -> None:
        self.initial = os.getpriority(os.PRIO_PROCESS, 0)   # what the daemon was started at
        self.wanted: int | None = None
        self.error: str | None = None

    def apply(self, wanted: int | None) -> None:
        """Every thread at ``wanted`` (None: back to the starting value)."""
        if wanted == self.wanted and self.error is None:
            return
        value = self.initial if wanted is None else wanted
        errors = {why for tid in os.listdir("/proc/self/task")
                  if (why := renice(int(tid), value)) is not None}
        self.wanted = wanted
        self.error = f"cannot set nice {value}: {', '.join(sorted(errors))}" if errors else None
        if self.error:
            log.warn("control.priority: {error}", error=self.error)
        elif wanted is not None:
            log.info("control.priority: the main process runs at nice {value}", value=value)

    def started(self, pid: int | None) -> None:
        """A process the daemon started (a script): back to the daemon's starting value."""
        if pid is not None and self.wanted is not None and self.wanted != self.initial:
            renice(pid, self.initial)

    def status(self) -> PriorityStatus | None:
        if self.wanted is None:
            return None
        return PriorityStatus(self.wanted, os.getpriority(os.PRIO_PROCESS, 0), self.error)
