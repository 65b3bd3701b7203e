"""A log observer for systemd: ``twistd --logger netsentinel.logs.journald``.

journald stamps every line itself, so we leave twistd's timestamp out, and we
prefix each line with its syslog priority (``<3>`` error ... ``<7>`` debug),
which journald reads as the line's level: ``journalctl -p warning`` works.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
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


def logs_to_system_log(argv: list[str], environ: Mapping[str, str], stream: Any) -> bool:
    """Whether our lines reach syslog or journald: imon's SYSLOGFLAG is then 0, and
    imon-action.sample logs through ``logger`` as it did under imon's own unit.

    ``JOURNAL_STREAM`` counts only when it names the stream we write to (systemd's
    documented check: a child whose output was redirected inherits the variable)."""
    if "--syslog" in argv or any(a.endswith("netsentinel.logs.journald") for a in argv):
        return True
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not inode:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{info.st_dev}:{info.st_ino}" == f"{device}:{inode}"
