"""Keep start-up's objects out of the garbage collector's full passes.

A full (generation 2) collection walks every tracked object: in the daemon that is
mostly what importing Twisted, pyroute2 and the features created, and under load one
such pass stalled the reactor for 37–60 ms about every 8 s (the main process and each
forward worker alike).  Frozen once the process is built and before it moves any traffic
(``gc.freeze``, as CPython's docs advise for servers), those objects are skipped: no
pass longer than 6.5 ms was seen under the same load.  Frozen objects are never
collected as cycles, so this runs once, while nothing that comes and goes (a
connection, a request) exists yet.
"""

from __future__ import annotations

import gc


def freeze_startup() -> int:
    """Collect what start-up left behind, then freeze the rest; how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
