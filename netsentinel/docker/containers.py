"""Containers as the Engine API lists them, and the sets and events derived from them (pure)."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from netsentinel.docker.config import ZoneRule
from netsentinel.nft.sets import SetSpec, address_sets

COMPOSE_PROJECT = "com.docker.compose.project"


@attrs.frozen
class Container:
    id: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()   # network name → its addresses

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(sorted({ip for _, ips in self.networks for ip in ips}))

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id[:12], "labels": dict(self.labels),
                "networks": {name: list(ips) for name, ips in self.networks}}


def from_api(item: Mapping[str, Any]) -> Container:
    """One entry of ``GET /containers/json``: it already holds names, labels and each
    network's addresses, so no per-container inspect is needed."""
    names = item.get("Names") or [item["Id"][:12]]
    networks = []
    for network, settings in sorted(((item.get("NetworkSettings") or {}).get("Networks")
                                     or {}).items()):
        ips = tuple(_address(settings.get(key)) for key in ("IPAddress", "GlobalIPv6Address"))
        networks.append((network, tuple(ip for ip in ips if ip)))
    return Container(item["Id"], names[0].lstrip("/"),
                     tuple(sorted((item.get("Labels") or {}).items())), tuple(networks))


def _address(value: Any) -> str:
    if not value:
        return ""
    return str(ipaddress.ip_address(value))


def matches(rule: ZoneRule, container: Container) -> bool:
    """Every kind of selector the rule gives must match; within a kind, any entry."""
    if rule.names and not any(fnmatch.fnmatchcase(container.name, n) for n in rule.names):
        return False
    if rule.labels and not any(_has_label(container, label) for label in rule.labels):
        return False
    if rule.projects and container.label(COMPOSE_PROJECT) not in rule.projects:
        return False
    return True


def _has_label(container: Container, selector: str) -> bool:
    key, equals, value = selector.partition("=")
    found = container.label(key)
    return found is not None and (not equals or found == value)


def zone_addresses(rule: ZoneRule, containers: Iterable[Container]) -> set[str]:
    chosen: set[str] = set()
    for container in containers:
        if matches(rule, container):
            for network, ips in container.networks:
                if not rule.networks or network in rule.networks:
                    chosen.update(ips)
    return chosen


def zone_specs(rules: Iterable[ZoneRule]) -> list[SetSpec]:
    return [spec for rule in rules for spec in address_sets(rule.zone)]


def desired_sets(rules: Iterable[ZoneRule],
                 containers: Iterable[Container]) -> dict[SetSpec, frozenset[str]]:
    listed = list(containers)
    desired: dict[SetSpec, frozenset[str]] = {}
    for rule in rules:
        addresses = [ipaddress.ip_address(a) for a in zone_addresses(rule, listed)]
        for spec in address_sets(rule.zone):
            desired[spec] = frozenset(str(a) for a in addresses if a.version == spec.version)
    return desired


NetworkKey = tuple[str, str]   # (container id, network name)


def network_change(event: Mapping[str, Any]) -> tuple[NetworkKey, bool] | None:
    """A network ``connect``/``disconnect`` event as ((container id, network), connected)."""
    if event.get("Type") != "network" or event.get("Action") not in ("connect", "disconnect"):
        return None
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    container, network = attributes.get("container"), attributes.get("name")
    if not container or not network:
        return None
    return (str(container), str(network)), event["Action"] == "connect"


def lagging(expected: Mapping[NetworkKey, bool],
            containers: Mapping[str, Container]) -> dict[NetworkKey, bool]:
    """The network (dis)connects a listing does not show yet.

    Docker sends the event before the listing it serves reflects the change, so a
    listing taken on the event can be the old one.  A container that is not listed
    (not running) has no addresses to wait for.
    """
    return {key: connected for key, connected in expected.items()
            if key[0] in containers
            and connected != any(name == key[1] for name, _ in containers[key[0]].networks)}


@attrs.frozen
class ContainerChange:
    kind: str                 # "up", "down", "changed" (addresses differ)
    container: Container


def changes(old: Mapping[str, Container], new: Mapping[str, Container]) -> list[ContainerChange]:
    """What happened between two listings, keyed by container id; a rename alone is no change."""
    found = [ContainerChange("down", old[cid]) for cid in sorted(old) if cid not in new]
    for cid in sorted(new):
        before = old.get(cid)
        if before is None:
            found.append(ContainerChange("up", new[cid]))
        elif before.ips != new[cid].ips:
            found.append(ContainerChange("changed", new[cid]))
    return found
