"""The ``checks:`` section: named instances of ping, updown, ddns and failover,
one module per kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.checks.config.common import INSTANCE, Probe, instances
from netsentinel.checks.config.ddns import (
    DdnsConfig,
    DnsSource,
    InterfaceSource,
    Source,
    UrlSource,
    check_follow,
    parse_ddns,
)
from netsentinel.checks.config.failover import (
    FailoverConfig,
    Quality,
    Uplink,
    parse_failover,
)
from netsentinel.checks.config.ping import Alarm, PingConfig, parse_ping
from netsentinel.checks.config.updown import UpdownConfig, parse_updown
from netsentinel.checks.provider_config import UpdateConfig
from netsentinel.schema import Section, command

__all__ = ["INSTANCE", "Alarm", "ChecksConfig", "DdnsConfig", "DnsSource", "FailoverConfig",
           "InterfaceSource", "PingConfig", "Probe", "Quality", "Source", "UpdateConfig",
           "UpdownConfig", "Uplink", "UrlSource", "parse"]


@attrs.frozen
class ChecksConfig:
    action: tuple[str, ...] | None = None
    ping: tuple[PingConfig, ...] = ()
    updown: tuple[UpdownConfig, ...] = ()
    ddns: tuple[DdnsConfig, ...] = ()
    failover: tuple[FailoverConfig, ...] = ()


def parse(section: Section, options: Mapping[str, Any]) -> ChecksConfig | None:
    if not section.keys():
        return None
    config = ChecksConfig(
        action=section.get("action", command, None),
        ping=tuple(parse_ping(n, s) for n, s in instances(section, "ping")),
        updown=tuple(parse_updown(n, s) for n, s in instances(section, "updown")),
        ddns=tuple(parse_ddns(n, s) for n, s in instances(section, "ddns")),
        failover=tuple(parse_failover(n, s) for n, s in instances(section, "failover")),
    )
    check_follow(section.section("ddns"), config.ddns, {f.name for f in config.failover})
    section.done()
    return config
