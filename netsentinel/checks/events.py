"""What the monitors publish: one event per imon action, plus the new ones imon lacks."""

from __future__ import annotations

import attrs

from netsentinel.events import Event


@attrs.frozen
class CheckEvent(Event):
    """An event of a monitor instance, named and argued exactly as imon calls its script.

    ``notes`` carries what imon only logs (addping results, reasons), so the bus
    and the log see it while the script keeps imon's argv.
    """

    kind = "check"
    monitor: str              # ping, updown, ddns, failover
    instance: str
    name: str                 # imon's event: updown-online, ddns-ip-update, ...
    args: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    logged: bool = True       # False: a ping instance set ``log: false`` (thousands of targets)


@attrs.frozen
class ImonCall:
    """imon's call of its action script: ``INSTANCE SYSLOGFLAG EVENT ARGS...``.

    The flag is imon's "log yourself" switch: "0" when netsentinel logs to syslog
    (the script need not), "1" otherwise.
    """

    event: CheckEvent
    syslog: bool

    def script_args(self) -> tuple[str, ...]:
        e = self.event
        return e.instance, "0" if self.syslog else "1", e.name, *e.args
