"""The manhole's Prometheus families, declared once for the snapshot that fills them."""

from __future__ import annotations

from netsentinel.metrics import gauge

SESSIONS = gauge("netsentinel_manhole_sessions", "Open manhole sessions (SSH and unix socket).")
ERROR = gauge("netsentinel_manhole_error",
              "1 while a configured listener could not be opened (the reason is in status).")
