"""A log observer for systemd: ``twistd --logger netsentinel.logs.journald``.

journald stamps every line itself, so we leave twistd's timestamp out, and we
prefix each line with its syslog priority (``<3>`` error ... ``<7>`` debug),
which journald reads as the line's level: ``journalctl -p warning`` works.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.logger import FileLogObserver, LogLevel, formatEvent

PRIORITY = {LogLevel.critical: 2, LogLevel.error: 3, LogLevel.warn: 4, LogLevel.info: 6,
            LogLevel.debug: 7}


def format_for_journal(event: dict[str, Any]) -> str | None:
    text = formatEvent(event)
    if "log_failure" in event:
        text = f"{text}\n{event['log_failure'].getTraceback()}"
    if not text:
        return None
    priority = PRIORITY.get(event.get("log_level", LogLevel.info), 6)
    namespace = event.get("log_namespace", "-")
    prefix = f"<{priority}>[{namespace}] "
    return "".join(prefix + line + "\n" for line in text.splitlines())


def journald() -> FileLogObserver:
    return FileLogObserver(sys.stdout, format_for_journal)
