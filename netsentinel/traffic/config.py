"""The ``traffic:`` section: named triggers, each with its sources and command.

A pcap filter is compiled here, at load, so a typo is a config error naming
its line rather than a trigger that silently never fires.  An interface that
does not exist yet is fine: it is picked up when it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.schema import (
    Section,
    boolean,
    command,
    integer,
    invalid,
    number,
    string,
    writable_path,
)
from netsentinel.traffic.packet import DLT_EN10MB, DLT_RAW

IFNAMSIZ = 16
SNAPLEN = 256            # headers only: enough to decode and to save what fired
_ARPHRD_NONE = 65534     # a tun interface: raw IP, no link layer
_NETMASK_UNKNOWN = 0xFFFFFFFF


@attrs.frozen
class SourceConfig:
    """One place packets come from: ``nflog:N`` or an interface with an optional filter."""

    device: str
    filter: str | None = None


@attrs.frozen
class TriggerConfig:
    name: str
    sources: tuple[SourceConfig, ...]
    command: tuple[str, ...]
    idle: float = 600.0
    ack_only: bool = False
    capture: str | None = None
    stop_on_exit: bool = False


@attrs.frozen
class TrafficConfig:
    triggers: tuple[TriggerConfig, ...]


def parse(section: Section, options: Mapping[str, Any]) -> TrafficConfig | None:
    if not section.keys():
        return None
    triggers = [t for t in (_parse_trigger(name, sub) for name, sub in section.sections()) if t]
    owners: dict[str, str] = {}
    for trigger in triggers:
        for source in trigger.sources:
            if source.device.startswith("nflog:") and source.device in owners:
                # the kernel lets one socket per namespace bind an NFLOG group
                section.problem(f"{source.device} is already used by trigger "
                                f"{owners[source.device]!r}", section.line_of(trigger.name),
                                trigger.name)
            owners.setdefault(source.device, trigger.name)
    section.done()
    return TrafficConfig(tuple(triggers))


def _parse_trigger(name: str, section: Section) -> TriggerConfig | None:
    group = section.get("nflog", integer(0, 65535), None)
    interface = section.get("interface", interface_name, None)
    pcap_filter = section.get("filter", string, None)
    config = TriggerConfig(
        name=name,
        sources=(),
        command=section.get("command", command),
        idle=section.get("idle", number(1, 30 * 86400), 600.0),
        ack_only=section.get("ack_only", boolean, False),
        capture=section.get("capture", writable_path, None),
        stop_on_exit=section.get("stop_on_exit", boolean, False),
    )
    sources: list[SourceConfig] = []
    if group is not None:
        sources.append(SourceConfig(f"nflog:{group}"))
    if interface is not None:
        if pcap_filter is not None:
            try:
                check_filter(interface, pcap_filter)
            except ValueError as e:
                section.problem(str(e), section.line_of("filter"), "filter")
        sources.append(SourceConfig(interface, pcap_filter))
    elif pcap_filter is not None:
        section.problem("a filter applies to an interface; an NFLOG group is filtered "
                        "by its nft rule", section.line_of("filter"), "filter")
    if not sources and not (section.has("nflog") or section.has("interface")):
        section.problem("a trigger needs a source: nflog, interface or both")
    section.done()
    if not sources or config.command is None:
        return None
    return attrs.evolve(config, sources=tuple(sources))


def interface_name(value: Any) -> str:
    name = string(value)
    if len(name) >= IFNAMSIZ or "/" in name or name.startswith("nflog"):
        raise invalid(f"not an interface name: {name!r}")
    return name


def check_filter(interface: str, expression: str) -> None:
    """Compile ``expression`` for the interface's link type (both kinds if it is absent)."""
    import pcapy  # only a config with a filter pays for libpcap
    errors = []
    for linktype in link_types(interface):
        try:
            pcapy.compile(linktype, SNAPLEN, expression, 1, _NETMASK_UNKNOWN)
            return
        except pcapy.PcapError as e:
            errors.append(str(e))
    raise ValueError(f"bad pcap filter {expression!r}: {errors[0]}")


def link_types(interface: str) -> tuple[int, ...]:
    """The pcap link type of an existing interface, or the two a tun/tap may have."""
    try:
        with open(f"/sys/class/net/{interface}/type", encoding="ascii") as f:
            kind = int(f.read())
    except (OSError, ValueError):
        return (DLT_EN10MB, DLT_RAW)
    return (DLT_RAW,) if kind == _ARPHRD_NONE else (DLT_EN10MB,)
