"""The ``docker:`` section: which containers' addresses go into which sets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from netsentinel.addresses.config import ZONE_NAME, NftConfig, parse_nft
from netsentinel.debounce import parse_delays
from netsentinel.schema import Section, command, invalid, list_of, number, string

DEFAULT_SOCKET = "/var/run/docker.sock"
LABEL = re.compile(r"^[^=\s]+(=.*)?$")


@attrs.frozen
class ZoneRule:
    """Containers that match every kind of selector given (any entry of a kind).

    ``networks`` chooses which of a matching container's addresses are taken;
    without it, the addresses on every network are.
    """

    zone: str
    names: tuple[str, ...] = ()       # globs on the container name, e.g. web-*
    labels: tuple[str, ...] = ()      # "key" (present) or "key=value"
    projects: tuple[str, ...] = ()    # compose project (label com.docker.compose.project)
    networks: tuple[str, ...] = ()


@attrs.frozen
class DockerConfig:
    socket: str = DEFAULT_SOCKET
    delay: float = 0.2
    max_delay: float = 1.0
    retry_max: float = 30.0           # reconnect backoff ceiling, seconds
    zones: tuple[ZoneRule, ...] = ()
    nftables: NftConfig = NftConfig()
    action: tuple[str, ...] | None = None


def _label(value: Any) -> str:
    text = string(value)
    if not LABEL.match(text):
        raise invalid(f"expected KEY or KEY=VALUE, got {value!r}")
    return text


def parse(section: Section, options: Mapping[str, Any]) -> DockerConfig | None:
    if not section.keys():
        return None
    delay, max_delay = parse_delays(section)
    rules = []
    for zone, entry in section.section("zones").sections():
        if not ZONE_NAME.match(zone):
            entry.problem(f"zone must be a letter then letters, digits or _, got {zone!r}")
        rules.append(ZoneRule(
            zone,
            names=entry.get("names", list_of(string), ()),
            labels=entry.get("labels", list_of(_label), ()),
            projects=entry.get("projects", list_of(string), ()),
            networks=entry.get("networks", list_of(string), ())))
        entry.done()
    nftables = section.section("nftables")
    config = DockerConfig(
        socket=section.get("socket", string, DEFAULT_SOCKET),
        delay=delay, max_delay=max_delay,
        retry_max=section.get("retry_max", number(0.1, 3600), 30.0),
        zones=tuple(rules),
        nftables=parse_nft(nftables, networks=False),
        action=section.get("action", command, None),
    )
    section.done()
    return config
